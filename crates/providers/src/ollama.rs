//! Asking a local Ollama which models it has, for when nothing else is configured.

use std::time::Duration;

use code_mesh_core::ProviderError;
use serde::Deserialize;

use crate::error;
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
}

/// The first model a local Ollama lists (`GET {base_url}/api/tags`), or `None` when it has
/// none. `base_url` is Ollama's root (see [`crate::ollama_base_url`]); a trailing `/v1` is
/// ignored. Fails quickly, with kind `Unreachable`, when Ollama is not running.
pub async fn ollama_first_model(base_url: &str) -> Result<Option<String>, ProviderError> {
    let root = base_url.trim().trim_end_matches('/');
    let root = root.strip_suffix("/v1").unwrap_or(root);
    let settings = ProviderSettings::new("ollama", format!("{root}/v1"));
    let client = crate::http::shared_client()?;
    let response = client
        .get(format!("{root}/api/tags"))
        .timeout(TAGS_TIMEOUT)
        .send()
        .await
        .map_err(|e| error::unreachable(&settings, &e))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
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
    let tags: Tags = serde_json::from_str(&body)
        .map_err(|_| error::not_the_api(&settings, status, &content_type))?;
    Ok(tags
        .models
        .into_iter()
        .map(|tag| {
            if tag.name.is_empty() {
                tag.model
            } else {
                tag.name
            }
        })
        .find(|name| !name.is_empty()))
}
