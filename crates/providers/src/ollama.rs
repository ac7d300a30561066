//! Asking a local Ollama which models it has: the first one, for when nothing else is
//! configured, and the whole list with sizes and context lengths, for `code-mesh models`.

use std::time::Duration;

use code_mesh_core::ProviderError;
use serde::Deserialize;
use serde_json::Value;

use crate::error;
use crate::ollama_native::ollama_root;
use crate::registry::ProviderSettings;

/// How long asking Ollama may take: it answers at once when it runs at all.
const TAGS_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    models: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(default)]
    name: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    modified_at: Option<String>,
    #[serde(default)]
    details: Option<TagDetails>,
}

#[derive(Deserialize)]
struct TagDetails {
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    parameter_size: Option<String>,
    #[serde(default)]
    quantization_level: Option<String>,
}

impl Tag {
    fn name(&self) -> &str {
        if self.name.is_empty() {
            &self.model
        } else {
            &self.name
        }
    }
}

/// A model a local Ollama has (`/api/tags`, with `/api/show` for the context length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OllamaModel {
    /// The name to use in `ollama/NAME`, e.g. `qwen3-coder:30b`.
    pub name: String,
    /// Bytes on disk.
    pub size: u64,
    /// E.g. `30.5B`.
    pub parameter_size: Option<String>,
    /// E.g. `Q4_K_M`.
    pub quantization: Option<String>,
    /// E.g. `qwen3moe`.
    pub family: Option<String>,
    /// The context window the model was trained for, in tokens, when Ollama says.
    pub context_length: Option<u64>,
    /// When the model was pulled or changed (RFC 3339).
    pub modified_at: Option<String>,
}

/// Settings used for the error messages of these calls.
fn settings_for(root: &str) -> ProviderSettings {
    ProviderSettings::new("ollama", root)
}

/// `GET {root}/api/tags`.
async fn tags(root: &str) -> Result<Tags, ProviderError> {
    let settings = settings_for(root);
    let client = crate::http::shared_client()?;
    let response = client
        .get(format!("{root}/api/tags"))
        .timeout(TAGS_TIMEOUT)
        .send()
        .await
        .map_err(|e| error::unreachable(&settings, &e))?;
    let status = response.status().as_u16();
    let content_type = crate::body_stream::content_type(&response);
    let body = response
        .text()
        .await
        .map_err(|e| error::unreachable(&settings, &e))?;
    if !(200..300).contains(&status) {
        return Err(error::http_status(
            &settings,
            status,
            &content_type,
            &body,
            None,
        ));
    }
    serde_json::from_str(&body).map_err(|_| error::not_the_api(&settings, status, &content_type))
}

/// The first model a local Ollama lists (`GET {base_url}/api/tags`), or `None` when it has
/// none. `base_url` is Ollama's root (see [`crate::ollama_base_url`]); a trailing `/v1` is
/// ignored. Fails quickly, with kind `Unreachable`, when Ollama is not running.
pub async fn ollama_first_model(base_url: &str) -> Result<Option<String>, ProviderError> {
    let tags = tags(ollama_root(base_url)).await?;
    Ok(tags
        .models
        .iter()
        .map(Tag::name)
        .find(|name| !name.is_empty())
        .map(str::to_owned))
}

/// Every model a local Ollama has, in its order (`GET {base_url}/api/tags`), each with its
/// context length from `POST /api/show` when Ollama gives it (a model whose details cannot
/// be read is still listed, without it). Fails quickly, with kind `Unreachable`, when
/// Ollama is not running.
pub async fn ollama_models(base_url: &str) -> Result<Vec<OllamaModel>, ProviderError> {
    let root = ollama_root(base_url);
    let tags = tags(root).await?;
    let models: Vec<OllamaModel> = tags
        .models
        .into_iter()
        .filter(|tag| !tag.name().is_empty())
        .map(|tag| {
            let details = tag.details.as_ref();
            OllamaModel {
                name: tag.name().to_owned(),
                size: tag.size,
                parameter_size: details
                    .and_then(|d| d.parameter_size.clone())
                    .filter(|s| !s.is_empty()),
                quantization: details
                    .and_then(|d| d.quantization_level.clone())
                    .filter(|s| !s.is_empty()),
                family: details
                    .and_then(|d| d.family.clone())
                    .filter(|s| !s.is_empty()),
                context_length: None,
                modified_at: tag.modified_at.filter(|s| !s.is_empty()),
            }
        })
        .collect();
    let lengths =
        futures::future::join_all(models.iter().map(|model| context_length(root, &model.name)))
            .await;
    Ok(models
        .into_iter()
        .zip(lengths)
        .map(|(model, context_length)| OllamaModel {
            context_length,
            ..model
        })
        .collect())
}

/// `model_info["<architecture>.context_length"]` from `POST {root}/api/show`.
async fn context_length(root: &str, model: &str) -> Option<u64> {
    let client = crate::http::shared_client().ok()?;
    let response = client
        .post(format!("{root}/api/show"))
        .timeout(TAGS_TIMEOUT)
        .json(&serde_json::json!({ "model": model }))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        tracing::debug!(model, status = %response.status(), "ollama show failed");
        return None;
    }
    let show: Value = response.json().await.ok()?;
    let info = show.get("model_info")?.as_object()?;
    let architecture = info.get("general.architecture").and_then(Value::as_str);
    let preferred = architecture.and_then(|arch| info.get(&format!("{arch}.context_length")));
    preferred
        .or_else(|| {
            info.iter()
                .find(|(key, _)| key.ends_with(".context_length"))
                .map(|(_, value)| value)
        })
        .and_then(Value::as_u64)
}
