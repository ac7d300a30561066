//! Choosing the model and building its provider from config, environment and stored keys
//! (`code-mesh auth`): the chosen model and then `providers.fallback`, each wire behind
//! retries and pricing, all behind the failover and (with `providers.cache`) the response
//! cache.

use std::path::PathBuf;
use std::sync::Arc;

use code_mesh_config::Origin;
use code_mesh_core::{ContextSettings, Provider, ResponseCache, TokenCounter};
use code_mesh_providers::{
    Candidate, Catalogue, ChainOptions, ProviderRegistry, RetryPolicy, build_provider,
    ollama_base_url, ollama_first_model, reliable_provider, tokenizer_for,
};

use crate::exit::{CliError, Exit};
use crate::setup::Context;

pub struct ResolvedModel {
    pub provider: Arc<dyn Provider>,
    /// `provider/model`.
    pub full_name: String,
    /// The model's name as the provider knows it.
    pub provider_model: String,
    /// The model's context window from the catalogue (with config overrides), if listed.
    pub window_tokens: Option<u64>,
    /// Counts tokens for this model: tiktoken for OpenAI models, else the estimate.
    pub tokenizer: Arc<dyn TokenCounter>,
}

/// The context manager's settings: `[memory] max_context_size` and `auto_summarize`, the
/// model's window and tokenizer, and `providers.max_tokens` kept free for the answer.
pub fn context_settings(
    context: &Context,
    window_tokens: Option<u64>,
    tokenizer: Arc<dyn TokenCounter>,
) -> ContextSettings {
    let config = &context.loaded.config;
    ContextSettings {
        window_tokens,
        max_context_size: config.memory.max_context_size.get(),
        auto_summarize: config.memory.auto_summarize,
        reserve_output_tokens: config.providers.max_tokens.map(u64::from),
        tokenizer,
    }
}

/// Resolves `choice` (or the configured default, or a local Ollama's first model) to a
/// provider that can be called, with the configured fallbacks behind it. `cache` is where
/// answers are kept when `providers.cache` is on.
pub async fn resolve(
    context: &Context,
    choice: Option<String>,
    cache: Option<Arc<dyn ResponseCache>>,
) -> Result<ResolvedModel, CliError> {
    let config = &context.loaded.config.providers;
    let env = |name: &str| context.env_var(name);
    let mut registry = ProviderRegistry::new(env, config);
    crate::auth::fill_stored_keys(context, &mut registry);
    let spec = match choice.or_else(|| registry.default_model()) {
        Some(spec) => spec,
        None => local_ollama_model(context).await?,
    };
    let (settings, model) = registry.resolve_model(&spec)?;
    let full_name = format!("{}/{model}", settings.name);
    let tokenizer = tokenizer_for(&settings.name, &model);
    let provider_name = settings.name.clone();
    let mut candidates = vec![Candidate::new(build_provider(settings)?, model.clone())];
    for entry in &config.fallback {
        match fallback(&registry, entry) {
            Ok(candidate) => {
                let name = candidate.full_name();
                if !candidates.iter().any(|c| c.full_name() == name) {
                    candidates.push(candidate);
                }
            }
            Err(error) => eprintln!(
                "warning: skipping `{entry}` in providers.fallback: {}",
                error.message
            ),
        }
    }
    let cache = match cache {
        Some(cache) if config.cache => {
            if config.temperature != Some(0.0) {
                eprintln!(
                    "warning: `providers.cache` only answers requests made at temperature 0; set `providers.temperature = 0` to use it"
                );
            }
            Some(cache)
        }
        _ => None,
    };
    let catalogue = Arc::new(load_catalogue(context)?);
    let window_tokens = catalogue
        .get(&provider_name, &model)
        .and_then(|info| info.context);
    let options = ChainOptions {
        retry: RetryPolicy::with_max_retries(config.max_retries),
        catalogue: Some(catalogue),
        cache,
    };
    Ok(ResolvedModel {
        provider: reliable_provider(candidates, options)?,
        full_name,
        provider_model: model,
        window_tokens,
        tokenizer,
    })
}

/// One entry of `providers.fallback`: `provider/model`, or a provider's name for its default
/// model.
fn fallback(
    registry: &ProviderRegistry,
    entry: &str,
) -> Result<Candidate, code_mesh_core::ProviderError> {
    let spec = if entry.contains('/') {
        entry.to_owned()
    } else {
        let settings = registry.get(entry).ok_or_else(|| {
            code_mesh_core::ProviderError::new(
                code_mesh_core::ProviderErrorKind::Config,
                entry,
                format!("`{entry}` names no provider"),
            )
        })?;
        let model = settings.models.first().ok_or_else(|| {
            code_mesh_core::ProviderError::new(
                code_mesh_core::ProviderErrorKind::Config,
                entry,
                format!("`{entry}` has no default model; write it as `{entry}/MODEL`"),
            )
        })?;
        format!("{entry}/{model}")
    };
    let (settings, model) = registry.resolve_model(&spec)?;
    Ok(Candidate::new(build_provider(settings)?, model))
}

/// The built-in catalogue with `providers.catalogue` (a file, relative to the config file
/// that names it) and the `model_info` tables of config over it.
pub fn load_catalogue(context: &Context) -> Result<Catalogue, CliError> {
    let providers = &context.loaded.config.providers;
    let Some(name) = &providers.catalogue else {
        return Catalogue::configured(providers, None).map_err(|error| {
            CliError::new(Exit::Failure, format!("the model catalogue: {error}"))
        });
    };
    let path = catalogue_path(context, name);
    let setting = match context.loaded.origin("providers.catalogue") {
        Some(Origin::File { path, line }) => {
            format!("`providers.catalogue` ({}:{line})", path.display())
        }
        Some(Origin::Env { var }) => format!("`providers.catalogue` ({var})"),
        _ => "`providers.catalogue`".to_owned(),
    };
    let text = std::fs::read_to_string(&path).map_err(|error| {
        CliError::usage(
            format!(
                "cannot read the model catalogue `{}`: {error}",
                path.display()
            ),
            format!("fix or remove {setting}"),
        )
    })?;
    Catalogue::configured(providers, Some(&text)).map_err(|error| {
        CliError::usage(
            format!("the model catalogue `{}` is not valid: {error}", path.display()),
            format!(
                "it must be a JSON object keyed \"provider/model\" with fields like \"max_input_tokens\" and \"input_cost_per_token\"; fix or remove {setting}"
            ),
        )
    })
}

fn catalogue_path(context: &Context, name: &str) -> PathBuf {
    let path = PathBuf::from(name);
    if path.is_absolute() {
        return path;
    }
    match context.loaded.origin("providers.catalogue") {
        Some(Origin::File { path: file, .. }) => file
            .parent()
            .map_or_else(|| path.clone(), |dir| dir.join(&path)),
        _ => context.cwd.join(path),
    }
}

/// With nothing configured, a running local Ollama is the last resort.
async fn local_ollama_model(context: &Context) -> Result<String, CliError> {
    let base = ollama_base_url(|name: &str| context.env_var(name));
    match ollama_first_model(&base).await {
        Ok(Some(model)) => Ok(format!("ollama/{model}")),
        Ok(None) => Err(CliError::new(
            Exit::Usage,
            format!("the Ollama server at {base} has no models"),
        )
        .with_hint("pull one (e.g. `ollama pull qwen3-coder`) or pick a model with -m provider/model")),
        Err(_) => Err(CliError::new(
            Exit::Usage,
            "no model provider is configured and no Ollama answers at ".to_owned() + &base,
        )
        .with_hint(format!(
            "set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY; or OPENAI_BASE_URL for an OpenAI-compatible server; \
             or start Ollama (OLLAMA_HOST); or add a [providers.NAME] table with `base_url` to {}; \
             then pick a model with -m provider/model or `providers.model`",
            context.paths.global_config_file().display()
        ))),
    }
}
