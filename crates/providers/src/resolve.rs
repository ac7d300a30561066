//! Which providers exist and which model `provider/model` names.
//!
//! The front end hands over an environment lookup and the parsed `[providers]` config; this
//! module merges them with the built-ins. For a built-in provider the base URL comes from
//! `providers.<name>.base_url`, else from its ecosystem variable (`OPENAI_BASE_URL`, ...),
//! else from its default: Code Mesh's own config is the more specific statement of intent.

use code_mesh_core::{ProviderError, ProviderErrorKind};
use code_mesh_protocol::config::{ProvidersConfig, Wire};

use crate::registry::{BUILTIN_PROVIDERS, ProviderSettings, builtin, env, ollama_host_url};

/// All providers known to this run: the built-ins, then the named ones from config.
#[derive(Clone, Debug, Default)]
pub struct ProviderRegistry {
    providers: Vec<ProviderSettings>,
    /// `providers.default`.
    default_provider: Option<String>,
    /// `providers.model`.
    default_model: Option<String>,
}

impl ProviderRegistry {
    /// Builds the registry from the environment (`env` returns a variable's value; empty
    /// values count as unset) and the `[providers]` config.
    pub fn new(env: impl Fn(&str) -> Option<String>, config: &ProvidersConfig) -> Self {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let mut providers = Vec::with_capacity(BUILTIN_PROVIDERS.len() + config.named.len());
        for builtin in &BUILTIN_PROVIDERS {
            let from_env = builtin.base_url_env.and_then(&env);
            let base_url = match (builtin.name, from_env) {
                ("ollama", Some(host)) => ollama_host_url(&host),
                (_, Some(url)) => url,
                (_, None) => builtin.default_base_url.to_owned(),
            };
            let api_key_env = builtin
                .key_envs
                .iter()
                .find(|name| env(name).is_some())
                .or(builtin.key_envs.first())
                .map(|name| (*name).to_owned());
            let api_key = api_key_env.as_deref().and_then(&env);
            // A self-hosted OpenAI-compatible server (LM Studio, vLLM, llama.cpp) usually
            // takes no key: only the vendor's own address requires one.
            let api_key_env = if api_key.is_none() && !is_vendor_address(builtin, &base_url) {
                None
            } else {
                api_key_env
            };
            providers.push(ProviderSettings {
                name: builtin.name.to_owned(),
                base_url,
                api_key,
                api_key_env,
                headers: Default::default(),
                models: builtin
                    .default_model
                    .map(|model| vec![model.to_owned()])
                    .unwrap_or_default(),
                wire: builtin.wire,
                thinking_budget: None,
            });
        }
        for (name, named) in &config.named {
            let index = match providers.iter().position(|p| &p.name == name) {
                Some(index) => index,
                None => {
                    providers.push(ProviderSettings::new(name.clone(), String::new()));
                    providers.len() - 1
                }
            };
            let Some(settings) = providers.get_mut(index) else {
                continue;
            };
            if let Some(base_url) = &named.base_url {
                settings.base_url = base_url.trim().to_owned();
            }
            if let Some(key_env) = &named.api_key_env {
                settings.api_key = env(key_env);
                settings.api_key_env = Some(key_env.clone());
            }
            if !named.models.is_empty() {
                settings.models = named.models.clone();
            }
            if let Some(wire) = named.wire {
                if named.base_url.is_none() {
                    settings.base_url = base_url_for_wire(name, &settings.base_url, wire);
                }
                settings.wire = wire;
            }
            if named.thinking_budget.is_some() {
                settings.thinking_budget = named.thinking_budget;
            }
            settings
                .headers
                .extend(named.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        ProviderRegistry {
            providers,
            default_provider: config.default.clone(),
            default_model: config.model.clone(),
        }
    }

    /// The providers, built-ins first.
    pub fn providers(&self) -> &[ProviderSettings] {
        &self.providers
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<&ProviderSettings> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The providers' names, built-ins first.
    pub fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name.as_str()).collect()
    }

    /// Gives each provider without a key from the environment the key `stored` returns for
    /// its name (`code-mesh auth login`). Keys from the environment win: they are never
    /// replaced. Call it before [`Self::default_model`], which picks providers by key.
    pub fn fill_missing_keys(&mut self, mut stored: impl FnMut(&str) -> Option<String>) {
        for settings in self.providers.iter_mut().filter(|p| p.api_key.is_none()) {
            if let Some(key) = stored(&settings.name).filter(|key| !key.trim().is_empty()) {
                settings.api_key = Some(key);
            }
        }
    }

    /// Splits `provider/model` (the model may itself contain `/`, as OpenRouter's do) and
    /// checks the provider can be called. A name without `provider/` goes to
    /// `providers.default`, or to the one provider that lists the model.
    pub fn resolve_model(&self, spec: &str) -> Result<(ProviderSettings, String), ProviderError> {
        let spec = spec.trim();
        let (settings, model) = match spec.split_once('/') {
            Some((provider, model)) => match self.get(provider) {
                Some(settings) => (settings, model),
                None => return Err(self.unknown_provider(provider, spec)),
            },
            None => (self.provider_for_bare_model(spec)?, spec),
        };
        if model.is_empty() {
            return Err(config_error(
                &settings.name,
                format!("`{spec}` names no model of `{}`", settings.name),
                format!(
                    "write the model as `{}/MODEL`{}",
                    settings.name,
                    match settings.models.first() {
                        Some(first) => format!(", e.g. `{}/{first}`", settings.name),
                        None => String::new(),
                    }
                ),
            ));
        }
        self.check_callable(settings)?;
        Ok((settings.clone(), model.to_owned()))
    }

    /// The model to use when the user gave none, as `provider/model`: `providers.model`; else
    /// the first model of `providers.default`; else the default model of the first provider
    /// whose key is set (built-ins in the order openai, anthropic, google, then named
    /// providers that list models). `None` means no model is known: `providers.default`
    /// names a provider without models, or nothing is configured at all; the caller may then
    /// ask a local Ollama ([`crate::ollama_first_model`]).
    pub fn default_model(&self) -> Option<String> {
        if let Some(model) = &self.default_model {
            return Some(model.clone());
        }
        if let Some(name) = &self.default_provider {
            // A default provider without models (Ollama, usually) is still the user's choice:
            // the caller asks it for its models rather than picking another provider.
            let provider = self.get(name)?;
            return provider
                .models
                .first()
                .map(|model| format!("{}/{model}", provider.name));
        }
        self.providers
            .iter()
            .filter(|p| p.api_key.is_some())
            .find_map(|p| p.models.first().map(|model| format!("{}/{model}", p.name)))
    }

    fn provider_for_bare_model(&self, model: &str) -> Result<&ProviderSettings, ProviderError> {
        if let Some(name) = &self.default_provider {
            return self
                .get(name)
                .ok_or_else(|| self.unknown_provider(name, "providers.default"));
        }
        let mut listing = self
            .providers
            .iter()
            .filter(|p| p.models.iter().any(|m| m == model));
        match (listing.next(), listing.next()) {
            (Some(only), None) => Ok(only),
            _ => Err(config_error(
                "",
                format!("`{model}` names no provider"),
                format!(
                    "write it as `provider/{model}` (providers: {}), or set `providers.default`",
                    self.names().join(", ")
                ),
            )),
        }
    }

    fn unknown_provider(&self, provider: &str, asked: &str) -> ProviderError {
        config_error(
            provider,
            format!("unknown provider `{provider}` in `{asked}`"),
            format!(
                "known providers are {}; add others as `[providers.{provider}]` with a `base_url`",
                self.names()
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }

    fn check_callable(&self, settings: &ProviderSettings) -> Result<(), ProviderError> {
        let name = &settings.name;
        if settings.base_url.is_empty() {
            return Err(config_error(
                name,
                format!("provider `{name}` has no base URL"),
                format!(
                    "set `providers.{name}.base_url` to the API's address, e.g. \"http://localhost:1234/v1\""
                ),
            ));
        }
        if settings.api_key.is_some() {
            return Ok(());
        }
        let Some(key_env) = &settings.api_key_env else {
            return Ok(());
        };
        let builtin_envs = builtin(name).map(|b| b.key_envs).unwrap_or_default();
        let unset = if builtin_envs.len() > 1 && builtin_envs.contains(&key_env.as_str()) {
            format!(
                "neither {} is set",
                builtin_envs
                    .iter()
                    .map(|env| format!("`{env}`"))
                    .collect::<Vec<_>>()
                    .join(" nor ")
            )
        } else {
            format!("`{key_env}` is not set")
        };
        Err(config_error(
            name,
            format!("`{name}` needs an API key, and {unset}"),
            format!(
                "export {key_env}=<your key>, store one with `code-mesh auth login {name}`, or name the variable that holds it in `providers.{name}.api_key_env`"
            ),
        ))
    }
}

/// Whether `base_url` is the vendor's own address, trailing slashes aside, and for the
/// Anthropic wire a trailing `/v1` too (its provider accepts the root with or without it).
fn is_vendor_address(builtin: &crate::BuiltinProvider, base_url: &str) -> bool {
    let normalize = |url: &str| {
        let url = url.trim().trim_end_matches('/');
        match builtin.wire {
            code_mesh_protocol::config::Wire::Anthropic => {
                url.strip_suffix("/v1").unwrap_or(url).to_owned()
            }
            code_mesh_protocol::config::Wire::Gemini => ["/v1beta/openai", "/v1beta"]
                .iter()
                .find_map(|suffix| url.strip_suffix(suffix))
                .unwrap_or(url)
                .to_owned(),
            _ => url.to_owned(),
        }
    };
    normalize(base_url) == normalize(builtin.default_base_url)
}

/// The base URL of a built-in reached through another wire than its own (`wire = "chat"`):
/// Ollama and Gemini serve the OpenAI-compatible wire under paths of their own. Only used
/// when `base_url` was not configured along with the wire.
fn base_url_for_wire(provider: &str, base_url: &str, wire: Wire) -> String {
    let Some(builtin) = builtin(provider).filter(|builtin| builtin.wire != wire) else {
        return base_url.to_owned();
    };
    let root = base_url.trim().trim_end_matches('/');
    match (builtin.wire, wire) {
        (Wire::Ollama, Wire::Chat | Wire::Responses) => format!("{root}/v1"),
        (Wire::Gemini, Wire::Chat) => format!("{root}/v1beta/openai"),
        _ => base_url.to_owned(),
    }
}

fn config_error(provider: &str, message: String, hint: String) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Config, provider, message).with_hint(hint)
}

/// The default Ollama address from `OLLAMA_HOST` (for [`crate::ollama_first_model`]).
pub fn ollama_base_url(env: impl Fn(&str) -> Option<String>) -> String {
    match env(env::OLLAMA_HOST).filter(|host| !host.trim().is_empty()) {
        Some(host) => ollama_host_url(&host),
        None => "http://127.0.0.1:11434".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use code_mesh_protocol::config::ProviderConfig;
    use pretty_assertions::assert_eq;

    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn registry(vars: &[(&str, &str)], config: &ProvidersConfig) -> ProviderRegistry {
        ProviderRegistry::new(env_of(vars), config)
    }

    #[test]
    fn builtins_take_their_defaults_and_environment() {
        let reg = registry(
            &[
                ("OPENAI_API_KEY", "sk-1"),
                ("OPENAI_BASE_URL", "http://localhost:1234/v1"),
                ("GOOGLE_API_KEY", "g-1"),
                ("OLLAMA_HOST", "0.0.0.0:11434"),
            ],
            &ProvidersConfig::default(),
        );
        assert_eq!(reg.names(), ["openai", "anthropic", "google", "ollama"]);
        let openai = reg.get("openai").unwrap();
        assert_eq!(openai.base_url, "http://localhost:1234/v1");
        assert_eq!(openai.api_key.as_deref(), Some("sk-1"));
        let anthropic = reg.get("anthropic").unwrap();
        assert_eq!(anthropic.base_url, "https://api.anthropic.com");
        assert_eq!(anthropic.wire, code_mesh_protocol::config::Wire::Anthropic);
        assert_eq!(anthropic.api_key, None);
        let google = reg.get("google").unwrap();
        assert_eq!(google.base_url, "https://generativelanguage.googleapis.com");
        assert_eq!(google.wire, Wire::Gemini);
        assert_eq!(google.api_key_env.as_deref(), Some("GOOGLE_API_KEY"));
        assert_eq!(google.api_key.as_deref(), Some("g-1"));
        let ollama = reg.get("ollama").unwrap();
        assert_eq!(ollama.base_url, "http://0.0.0.0:11434");
        assert_eq!(ollama.wire, Wire::Ollama);
        assert_eq!(ollama.api_key_env, None);
    }

    #[test]
    fn gemini_key_is_preferred_to_google_key() {
        let reg = registry(
            &[("GEMINI_API_KEY", "gem"), ("GOOGLE_API_KEY", "goo")],
            &ProvidersConfig::default(),
        );
        let google = reg.get("google").unwrap();
        assert_eq!(google.api_key_env.as_deref(), Some("GEMINI_API_KEY"));
        assert_eq!(google.api_key.as_deref(), Some("gem"));
    }

    #[test]
    fn config_adds_named_providers_and_overrides_builtins() {
        let mut config = ProvidersConfig::default();
        config.named.insert(
            "local".into(),
            ProviderConfig {
                base_url: Some("http://localhost:1234/v1".into()),
                models: vec!["qwen3-coder".into()],
                ..ProviderConfig::default()
            },
        );
        config.named.insert(
            "openai".into(),
            ProviderConfig {
                base_url: Some("https://proxy.example/v1".into()),
                api_key_env: Some("WORK_OPENAI_KEY".into()),
                headers: BTreeMap::from([("X-Team".into(), "core".into())]),
                ..ProviderConfig::default()
            },
        );
        let reg = registry(
            &[
                ("OPENAI_API_KEY", "ignored"),
                ("OPENAI_BASE_URL", "http://ignored/v1"),
                ("WORK_OPENAI_KEY", "sk-work"),
            ],
            &config,
        );
        assert_eq!(
            reg.names(),
            ["openai", "anthropic", "google", "ollama", "local"]
        );
        let openai = reg.get("openai").unwrap();
        assert_eq!(openai.base_url, "https://proxy.example/v1");
        assert_eq!(openai.api_key.as_deref(), Some("sk-work"));
        assert_eq!(openai.models, ["gpt-5-mini"]);
        assert_eq!(
            openai.headers.get("X-Team").map(String::as_str),
            Some("core")
        );

        let (local, model) = reg.resolve_model("local/qwen3-coder").unwrap();
        assert_eq!(local.base_url, "http://localhost:1234/v1");
        assert_eq!(local.api_key, None);
        assert_eq!(model, "qwen3-coder");
    }

    #[test]
    fn resolve_splits_at_the_first_slash() {
        let mut config = ProvidersConfig::default();
        config.named.insert(
            "openrouter".into(),
            ProviderConfig {
                base_url: Some("https://openrouter.ai/api/v1".into()),
                api_key_env: Some("OPENROUTER_API_KEY".into()),
                ..ProviderConfig::default()
            },
        );
        let reg = registry(&[("OPENROUTER_API_KEY", "or-1")], &config);
        let (settings, model) = reg
            .resolve_model("openrouter/anthropic/claude-sonnet-4.5")
            .unwrap();
        assert_eq!(settings.name, "openrouter");
        assert_eq!(model, "anthropic/claude-sonnet-4.5");
    }

    #[test]
    fn unknown_provider_lists_the_known_ones() {
        let reg = registry(&[], &ProvidersConfig::default());
        let err = reg.resolve_model("opnai/gpt-5-mini").unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::Config);
        assert_eq!(
            err.message,
            "unknown provider `opnai` in `opnai/gpt-5-mini`"
        );
        let hint = err.hint.unwrap();
        assert!(
            hint.contains("`openai`, `anthropic`, `google`, `ollama`"),
            "{hint}"
        );
    }

    #[test]
    fn missing_key_names_the_variable_and_the_config_key() {
        let reg = registry(&[], &ProvidersConfig::default());
        let err = reg.resolve_model("openai/gpt-5-mini").unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::Config);
        assert_eq!(
            err.message,
            "`openai` needs an API key, and `OPENAI_API_KEY` is not set"
        );
        let hint = err.hint.unwrap();
        assert!(hint.contains("providers.openai.api_key_env"), "{hint}");
        assert!(hint.contains("`code-mesh auth login openai`"), "{hint}");

        let err = reg.resolve_model("google/gemini-2.5-flash").unwrap_err();
        assert_eq!(
            err.message,
            "`google` needs an API key, and neither `GEMINI_API_KEY` nor `GOOGLE_API_KEY` is set"
        );
    }

    #[test]
    fn stored_keys_fill_in_only_where_the_environment_has_none() {
        let mut config = ProvidersConfig::default();
        config.named.insert(
            "lab".into(),
            ProviderConfig {
                base_url: Some("http://localhost:8080/v1".into()),
                api_key_env: Some("LAB_KEY".into()),
                ..ProviderConfig::default()
            },
        );
        let mut reg = registry(&[("ANTHROPIC_API_KEY", "sk-ant-env")], &config);
        let mut asked = Vec::new();
        reg.fill_missing_keys(|name| {
            asked.push(name.to_owned());
            match name {
                "openai" => Some("sk-stored".to_owned()),
                "anthropic" => Some("sk-ant-stored".to_owned()),
                "lab" => Some("lab-stored".to_owned()),
                _ => Some(" ".to_owned()),
            }
        });
        assert_eq!(
            asked,
            ["openai", "google", "ollama", "lab"],
            "not anthropic"
        );
        let key = |name: &str| reg.get(name).unwrap().api_key.clone();
        assert_eq!(key("openai").as_deref(), Some("sk-stored"));
        assert_eq!(key("anthropic").as_deref(), Some("sk-ant-env"), "env wins");
        assert_eq!(key("lab").as_deref(), Some("lab-stored"));
        assert_eq!(key("google"), None, "a blank stored key is no key");
        let (settings, _) = reg.resolve_model("openai/gpt-5-mini").unwrap();
        assert_eq!(settings.api_key.as_deref(), Some("sk-stored"));
        assert_eq!(reg.default_model().as_deref(), Some("openai/gpt-5-mini"));
    }

    #[test]
    fn a_self_hosted_compatible_server_needs_no_key() {
        let reg = registry(
            &[("OPENAI_BASE_URL", "http://localhost:1234/v1")],
            &ProvidersConfig::default(),
        );
        let (settings, model) = reg.resolve_model("openai/qwen3-coder").unwrap();
        assert_eq!(settings.base_url, "http://localhost:1234/v1");
        assert_eq!(settings.api_key, None);
        assert_eq!(model, "qwen3-coder");
    }

    #[test]
    fn anthropic_base_url_is_the_root_and_its_own_address_still_needs_a_key() {
        for own in [
            "https://api.anthropic.com",
            "https://api.anthropic.com/",
            "https://api.anthropic.com/v1",
        ] {
            let reg = registry(&[("ANTHROPIC_BASE_URL", own)], &ProvidersConfig::default());
            let err = reg
                .resolve_model("anthropic/claude-sonnet-4-5")
                .unwrap_err();
            assert_eq!(
                err.message, "`anthropic` needs an API key, and `ANTHROPIC_API_KEY` is not set",
                "{own}"
            );
        }
        let reg = registry(
            &[
                ("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000"),
                ("ANTHROPIC_API_KEY", "sk-ant-test"),
            ],
            &ProvidersConfig::default(),
        );
        let (settings, model) = reg.resolve_model("anthropic/claude-sonnet-4-5").unwrap();
        assert_eq!(settings.base_url, "http://127.0.0.1:4000");
        assert_eq!(settings.api_key.as_deref(), Some("sk-ant-test"));
        assert_eq!(settings.wire, code_mesh_protocol::config::Wire::Anthropic);
        assert_eq!(model, "claude-sonnet-4-5");
        // A keyless proxy speaking the Messages API.
        let reg = registry(
            &[("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000")],
            &ProvidersConfig::default(),
        );
        let (settings, _) = reg.resolve_model("anthropic/claude-sonnet-4-5").unwrap();
        assert_eq!(settings.api_key, None);
    }

    #[test]
    fn ollama_needs_no_key() {
        let reg = registry(&[], &ProvidersConfig::default());
        let (settings, model) = reg.resolve_model("ollama/llama3.2:3b").unwrap();
        assert_eq!(settings.base_url, "http://127.0.0.1:11434");
        assert_eq!(settings.wire, Wire::Ollama);
        assert_eq!(settings.api_key, None);
        assert_eq!(model, "llama3.2:3b");
    }

    #[test]
    fn ollama_through_its_openai_compatible_wire_gets_v1() {
        let mut config = ProvidersConfig::default();
        config.named.insert(
            "ollama".into(),
            ProviderConfig {
                wire: Some(Wire::Chat),
                ..ProviderConfig::default()
            },
        );
        let reg = registry(&[("OLLAMA_HOST", "box:8080")], &config);
        let (settings, _) = reg.resolve_model("ollama/qwen3-coder").unwrap();
        assert_eq!(settings.base_url, "http://box:8080/v1");
        assert_eq!(settings.wire, Wire::Chat);
        // A base URL given with the wire is taken as it is.
        config.named.insert(
            "ollama".into(),
            ProviderConfig {
                wire: Some(Wire::Chat),
                base_url: Some("http://gpu:11434/v1".into()),
                ..ProviderConfig::default()
            },
        );
        let reg = registry(&[], &config);
        assert_eq!(reg.get("ollama").unwrap().base_url, "http://gpu:11434/v1");
    }

    #[test]
    fn gemini_native_wire_and_its_keyless_test_servers() {
        for own in [
            "https://generativelanguage.googleapis.com/",
            "https://generativelanguage.googleapis.com/v1beta",
        ] {
            let reg = registry(
                &[("GOOGLE_GEMINI_BASE_URL", own)],
                &ProvidersConfig::default(),
            );
            let err = reg.resolve_model("google/gemini-2.5-flash").unwrap_err();
            assert_eq!(err.kind, ProviderErrorKind::Config, "{own}");
        }
        let reg = registry(
            &[("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:4000")],
            &ProvidersConfig::default(),
        );
        let (settings, model) = reg.resolve_model("google/gemini-2.5-flash").unwrap();
        assert_eq!(settings.base_url, "http://127.0.0.1:4000");
        assert_eq!(settings.api_key, None);
        assert_eq!(settings.wire, Wire::Gemini);
        assert_eq!(model, "gemini-2.5-flash");

        let mut config = ProvidersConfig::default();
        config.named.insert(
            "google".into(),
            ProviderConfig {
                wire: Some(Wire::Chat),
                ..ProviderConfig::default()
            },
        );
        let reg = registry(&[("GEMINI_API_KEY", "g")], &config);
        let (settings, _) = reg.resolve_model("google/gemini-2.5-flash").unwrap();
        assert_eq!(
            settings.base_url,
            "https://generativelanguage.googleapis.com/v1beta/openai"
        );
        assert_eq!(settings.api_key.as_deref(), Some("g"));
    }

    #[test]
    fn missing_model_name_is_an_error() {
        let reg = registry(&[("OPENAI_API_KEY", "sk")], &ProvidersConfig::default());
        let err = reg.resolve_model("openai/").unwrap_err();
        assert_eq!(err.message, "`openai/` names no model of `openai`");
        assert_eq!(
            err.hint.as_deref(),
            Some("write the model as `openai/MODEL`, e.g. `openai/gpt-5-mini`")
        );
    }

    #[test]
    fn bare_model_goes_to_the_default_provider() {
        let config = ProvidersConfig {
            default: Some("ollama".into()),
            ..ProvidersConfig::default()
        };
        let reg = registry(&[], &config);
        let (settings, model) = reg.resolve_model("qwen3:8b").unwrap();
        assert_eq!(
            (settings.name.as_str(), model.as_str()),
            ("ollama", "qwen3:8b")
        );

        let reg = registry(&[("ANTHROPIC_API_KEY", "k")], &ProvidersConfig::default());
        let (settings, _) = reg.resolve_model("claude-sonnet-4-5").unwrap();
        assert_eq!(settings.name, "anthropic");
        let err = reg.resolve_model("mystery").unwrap_err();
        assert_eq!(err.message, "`mystery` names no provider");
    }

    #[test]
    fn named_provider_without_base_url_is_refused() {
        let mut config = ProvidersConfig::default();
        config.named.insert("lab".into(), ProviderConfig::default());
        let reg = registry(&[], &config);
        let err = reg.resolve_model("lab/m").unwrap_err();
        assert_eq!(err.message, "provider `lab` has no base URL");
    }

    #[test]
    fn default_model_prefers_config_then_default_provider_then_keys() {
        let none = registry(&[], &ProvidersConfig::default());
        assert_eq!(none.default_model(), None);

        let keyed = registry(
            &[("GEMINI_API_KEY", "g"), ("ANTHROPIC_API_KEY", "a")],
            &ProvidersConfig::default(),
        );
        assert_eq!(
            keyed.default_model().as_deref(),
            Some("anthropic/claude-sonnet-4-5")
        );
        let openai = registry(&[("OPENAI_API_KEY", "o")], &ProvidersConfig::default());
        assert_eq!(openai.default_model().as_deref(), Some("openai/gpt-5-mini"));
        let google = registry(&[("GOOGLE_API_KEY", "g")], &ProvidersConfig::default());
        assert_eq!(
            google.default_model().as_deref(),
            Some("google/gemini-2.5-flash")
        );

        let mut config = ProvidersConfig {
            default: Some("local".into()),
            ..ProvidersConfig::default()
        };
        config.named.insert(
            "local".into(),
            ProviderConfig {
                base_url: Some("http://localhost:8080/v1".into()),
                models: vec!["qwen".into(), "other".into()],
                ..ProviderConfig::default()
            },
        );
        let reg = registry(&[("OPENAI_API_KEY", "o")], &config);
        assert_eq!(reg.default_model().as_deref(), Some("local/qwen"));

        let ollama_default = ProvidersConfig {
            default: Some("ollama".into()),
            ..ProvidersConfig::default()
        };
        let reg = registry(&[("OPENAI_API_KEY", "o")], &ollama_default);
        assert_eq!(
            reg.default_model(),
            None,
            "ask Ollama rather than pick OpenAI"
        );

        config.model = Some("openai/gpt-5".into());
        let reg = registry(&[], &config);
        assert_eq!(reg.default_model().as_deref(), Some("openai/gpt-5"));
    }

    #[test]
    fn ollama_base_url_defaults_to_loopback() {
        assert_eq!(ollama_base_url(env_of(&[])), "http://127.0.0.1:11434");
        assert_eq!(
            ollama_base_url(env_of(&[("OLLAMA_HOST", "box:1")])),
            "http://box:1"
        );
    }
}
