//! Choosing the model and building its provider from config and environment.

use std::sync::Arc;

use code_mesh_core::Provider;
use code_mesh_providers::{ProviderRegistry, build_provider, ollama_base_url, ollama_first_model};

use crate::exit::{CliError, Exit};
use crate::setup::Context;

pub struct ResolvedModel {
    pub provider: Arc<dyn Provider>,
    /// `provider/model`.
    pub full_name: String,
    /// The model's name as the provider knows it.
    pub provider_model: String,
}

/// Resolves `choice` (or the configured default, or a local Ollama's first model) to a
/// provider that can be called.
pub async fn resolve(context: &Context, choice: Option<String>) -> Result<ResolvedModel, CliError> {
    let env = |name: &str| context.env_var(name);
    let registry = ProviderRegistry::new(env, &context.loaded.config.providers);
    let spec = match choice.or_else(|| registry.default_model()) {
        Some(spec) => spec,
        None => local_ollama_model(context).await?,
    };
    let (settings, model) = registry.resolve_model(&spec)?;
    let full_name = format!("{}/{model}", settings.name);
    let provider = build_provider(settings)?;
    Ok(ResolvedModel {
        provider,
        full_name,
        provider_model: model,
    })
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
