//! Provider settings and the built-in providers.
//!
//! Every provider this crate knows is reached through the OpenAI Chat Completions wire: the
//! built-ins use their vendors' OpenAI-compatible endpoints, and user-named providers
//! (`[providers.<name>]` in config) are any compatible server.

use std::collections::BTreeMap;
use std::fmt;

use code_mesh_protocol::config::Wire;

/// Everything needed to call one provider.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ProviderSettings {
    /// The provider's name in config and in `provider/model`, e.g. `openai`.
    pub name: String,
    /// The API root, e.g. `https://api.openai.com/v1`; requests go to
    /// `{base_url}/chat/completions`.
    pub base_url: String,
    /// The API key, sent as `Authorization: Bearer`; `None` sends no key.
    pub api_key: Option<String>,
    /// The environment variable the key is (or should be) read from, for messages.
    pub api_key_env: Option<String>,
    /// Extra HTTP headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// Models offered by this provider; the first is its default model.
    pub models: Vec<String>,
    /// The wire this provider speaks.
    pub wire: Wire,
    /// Extended-thinking budget in tokens, for wires that support it (Anthropic).
    pub thinking_budget: Option<u32>,
}

impl ProviderSettings {
    /// Settings for a keyless server at `base_url` (a local model server, a test server).
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        ProviderSettings {
            name: name.into(),
            base_url: base_url.into(),
            ..ProviderSettings::default()
        }
    }

    /// The settings with `key` as the API key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// What to tell a user whose server could not be reached or answered something else than
    /// the API: where the base URL is set.
    pub(crate) fn base_url_hint(&self) -> String {
        let setting = match builtin(&self.name).and_then(|b| b.base_url_env) {
            Some(env) => format!("`{env}` or `providers.{}.base_url`", self.name),
            None => format!("`providers.{}.base_url`", self.name),
        };
        if self.name == "ollama" {
            format!(
                "is Ollama running (`ollama serve`)? Otherwise set {setting} to where it listens (now {})",
                self.base_url
            )
        } else {
            format!(
                "check that the server is running, or set {setting} to the right address (now {})",
                self.base_url
            )
        }
    }

    /// What to tell a user whose key was refused or missing: where the key comes from.
    pub(crate) fn key_hint(&self) -> String {
        match &self.api_key_env {
            Some(env) if self.api_key.is_some() => format!(
                "check the key in `{env}` (or name another variable in `providers.{}.api_key_env`)",
                self.name
            ),
            Some(env) => format!(
                "set `{env}` to your API key (or name another variable in `providers.{}.api_key_env`)",
                self.name
            ),
            None => format!(
                "set `providers.{}.api_key_env` to the environment variable that holds the API key",
                self.name
            ),
        }
    }
}

/// Keeps the key and secret-looking header values out of logs.
impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, &str> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if is_secret_header(name) {
                    "<redacted>"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("ProviderSettings")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_env", &self.api_key_env)
            .field("headers", &headers)
            .field("models", &self.models)
            .field("wire", &self.wire)
            .finish()
    }
}

/// Whether a header's value is probably a credential.
pub(crate) fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["auth", "key", "token", "secret", "cookie", "session"]
        .iter()
        .any(|word| name.contains(word))
}

/// A provider Code Mesh knows without configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinProvider {
    pub name: &'static str,
    /// The environment variable that overrides the base URL.
    pub base_url_env: Option<&'static str>,
    pub default_base_url: &'static str,
    /// Environment variables that may hold the key, in order; empty when none is needed.
    pub key_envs: &'static [&'static str],
    /// The model used when this provider is picked because its key is set.
    pub default_model: Option<&'static str>,
    /// The wire it speaks unless `providers.<name>.wire` says otherwise.
    pub wire: Wire,
}

/// The built-in providers, in the order [`crate::ProviderRegistry::default_model`] tries them.
pub const BUILTIN_PROVIDERS: [BuiltinProvider; 4] = [
    BuiltinProvider {
        name: "openai",
        base_url_env: Some(env::OPENAI_BASE_URL),
        default_base_url: "https://api.openai.com/v1",
        key_envs: &[env::OPENAI_API_KEY],
        default_model: Some("gpt-5-mini"),
        wire: Wire::Chat,
    },
    BuiltinProvider {
        name: "anthropic",
        base_url_env: Some(env::ANTHROPIC_BASE_URL),
        // The Messages API's root without /v1, like `ANTHROPIC_BASE_URL` in Anthropic's SDKs.
        default_base_url: "https://api.anthropic.com",
        key_envs: &[env::ANTHROPIC_API_KEY],
        default_model: Some("claude-sonnet-4-5"),
        wire: Wire::Anthropic,
    },
    BuiltinProvider {
        name: "google",
        base_url_env: Some(env::GOOGLE_GEMINI_BASE_URL),
        // The API root without /v1beta, like `GOOGLE_GEMINI_BASE_URL` in Google's SDKs.
        default_base_url: "https://generativelanguage.googleapis.com",
        key_envs: &[env::GEMINI_API_KEY, env::GOOGLE_API_KEY],
        default_model: Some("gemini-2.5-flash"),
        wire: Wire::Gemini,
    },
    BuiltinProvider {
        name: "ollama",
        base_url_env: Some(env::OLLAMA_HOST),
        // Ollama's root: the native wire posts to /api/chat, the OpenAI-compatible one
        // (`wire = "chat"`) to /v1.
        default_base_url: "http://127.0.0.1:11434",
        key_envs: &[],
        default_model: None,
        wire: Wire::Ollama,
    },
];

/// The built-in provider called `name`.
pub fn builtin(name: &str) -> Option<&'static BuiltinProvider> {
    BUILTIN_PROVIDERS.iter().find(|b| b.name == name)
}

/// The environment variables this crate reads (through the caller's lookup function).
pub mod env {
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
    pub const ANTHROPIC_API_KEY: &str = "ANTHROPIC_API_KEY";
    pub const ANTHROPIC_BASE_URL: &str = "ANTHROPIC_BASE_URL";
    pub const GEMINI_API_KEY: &str = "GEMINI_API_KEY";
    pub const GOOGLE_API_KEY: &str = "GOOGLE_API_KEY";
    pub const GOOGLE_GEMINI_BASE_URL: &str = "GOOGLE_GEMINI_BASE_URL";
    /// Ollama's address, with or without scheme and port (`0.0.0.0:11434`, `http://box`).
    pub const OLLAMA_HOST: &str = "OLLAMA_HOST";
}

/// Turns an `OLLAMA_HOST` value into a URL root the way Ollama's own client does: `http://`
/// when no scheme is given, port 11434 when neither scheme nor port is given.
pub fn ollama_host_url(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.is_empty() {
        return "http://127.0.0.1:11434".to_owned();
    }
    if host.contains("://") {
        return host.to_owned();
    }
    let (authority, path) = match host.find('/') {
        Some(slash) => host.split_at(slash),
        None => (host, ""),
    };
    // `[::1]:11434` has a port after the bracket; `::1` alone is a bare IPv6 address.
    let has_port = match authority.rfind(']') {
        Some(bracket) => authority[bracket..].contains(':'),
        None => authority.matches(':').count() == 1,
    };
    let authority = if authority.matches(':').count() > 1 && !authority.starts_with('[') {
        format!("[{authority}]")
    } else {
        authority.to_owned()
    };
    if has_port {
        format!("http://{authority}{path}")
    } else {
        format!("http://{authority}:11434{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn ollama_host_gets_scheme_and_port_like_ollama_does() {
        assert_eq!(ollama_host_url("0.0.0.0:11434"), "http://0.0.0.0:11434");
        assert_eq!(ollama_host_url("gpu-box"), "http://gpu-box:11434");
        assert_eq!(ollama_host_url("http://gpu-box/"), "http://gpu-box");
        assert_eq!(
            ollama_host_url("https://ollama.example"),
            "https://ollama.example"
        );
        assert_eq!(ollama_host_url("[::1]:8080"), "http://[::1]:8080");
        assert_eq!(ollama_host_url("::1"), "http://[::1]:11434");
        assert_eq!(ollama_host_url(""), "http://127.0.0.1:11434");
    }

    #[test]
    fn debug_output_hides_the_key_and_secret_headers() {
        let mut settings = ProviderSettings::new("openai", "https://api.openai.com/v1")
            .with_api_key("sk-secret-value");
        settings
            .headers
            .insert("X-Api-Key".into(), "hidden-value".into());
        settings
            .headers
            .insert("X-Title".into(), "Code Mesh".into());
        let shown = format!("{settings:?}");
        assert!(!shown.contains("sk-secret-value"), "{shown}");
        assert!(!shown.contains("hidden-value"), "{shown}");
        assert!(shown.contains("Code Mesh"), "{shown}");
    }
}
