//! Ollama's native wire: `POST {host}/api/chat`, streamed as NDJSON, with tools.
//!
//! The base URL is Ollama's root (`http://127.0.0.1:11434`, or `OLLAMA_HOST`); a trailing
//! `/v1` or `/api` is tolerated and dropped. Ollama takes no key; one configured anyway (a
//! proxy, a hosted Ollama) is sent as `Authorization: Bearer`.

mod decode;
mod request;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::{ModelRequest, Provider, ProviderError, ProviderErrorKind, ProviderStream};
use reqwest::header::HeaderMap;

use crate::body_stream::{self, BodyDecoder, DecodeError, read_body};
use crate::error::{self, ErrorDetail};
use crate::openai_chat::DEFAULT_IDLE_TIMEOUT;
use crate::registry::ProviderSettings;

pub(crate) use decode::OllamaDecoder;

/// Most bytes read from an error body.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A provider speaking Ollama's `/api/chat` wire.
pub struct OllamaProvider {
    settings: ProviderSettings,
    endpoint: reqwest::Url,
    headers: HeaderMap,
    client: reqwest::Client,
    idle_timeout: Duration,
}

impl fmt::Debug for OllamaProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OllamaProvider")
            .field("settings", &self.settings)
            .field("endpoint", &self.endpoint.as_str())
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// Ollama's root for a configured base URL: without a trailing slash, `/v1` or `/api`.
pub(crate) fn ollama_root(base_url: &str) -> &str {
    let trimmed = base_url.trim().trim_end_matches('/');
    ["/v1", "/api"]
        .iter()
        .find_map(|suffix| trimmed.strip_suffix(suffix))
        .unwrap_or(trimmed)
}

impl OllamaProvider {
    /// Checks the settings (an http(s) base URL, valid header names and values) and prepares
    /// the requests. Nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        let name = settings.name.clone();
        let config_error = |message: String, hint: String| {
            ProviderError::new(ProviderErrorKind::Config, &name, message).with_hint(hint)
        };
        let root = ollama_root(&settings.base_url);
        let endpoint = reqwest::Url::parse(&format!("{root}/api/chat"))
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                config_error(
                    format!("the base URL of `{name}` is not an http(s) URL: `{root}`"),
                    format!(
                        "set `OLLAMA_HOST` or `providers.{name}.base_url` to Ollama's address, e.g. \"http://127.0.0.1:11434\""
                    ),
                )
            })?;
        let headers = crate::http::request_headers(&settings, crate::http::KeyHeader::Bearer)?;
        Ok(OllamaProvider {
            client: crate::http::shared_client().map_err(|error| ProviderError {
                provider: name.clone(),
                ..error
            })?,
            settings,
            endpoint,
            headers,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        })
    }

    /// Sets how long the server may stay silent (Ollama may be loading the model) before
    /// the request fails with [`ProviderErrorKind::Timeout`].
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// The URL requests are posted to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }
}

/// Decodes a Ollama `/api/chat` body (NDJSON) into [`StreamEvent`](code_mesh_core::StreamEvent)s
/// without a connection: what the provider runs on every chunk it reads, for tools and
/// benchmarks that hold a body already.
#[derive(Debug)]
pub struct OllamaStreamDecoder {
    settings: ProviderSettings,
    decoder: OllamaDecoder,
}

impl OllamaStreamDecoder {
    /// A decoder whose errors name the provider of `settings`.
    pub fn new(settings: ProviderSettings) -> Self {
        OllamaStreamDecoder {
            settings,
            decoder: OllamaDecoder::new(),
        }
    }

    /// Feeds the next chunk of the body (any size; a UTF-8 character may be split),
    /// appending the events it completes to `out`, those before an error included.
    pub fn push(
        &mut self,
        chunk: &[u8],
        out: &mut Vec<code_mesh_core::StreamEvent>,
    ) -> Result<(), ProviderError> {
        self.decoder
            .push(chunk, out)
            .map_err(|error| decode_error(&self.settings, error))
    }

    /// The body ended: appends what was still buffered (the final usage); an error of kind
    /// `StreamCut` when the model had not finished.
    pub fn finish(
        &mut self,
        out: &mut Vec<code_mesh_core::StreamEvent>,
    ) -> Result<(), ProviderError> {
        self.decoder
            .finish(out)
            .map_err(|error| decode_error(&self.settings, error))
    }

    /// Whether the stream said it was over: nothing more needs to be read.
    pub fn is_done(&self) -> bool {
        self.decoder.is_done()
    }
}

#[async_trait]
impl Provider for OllamaProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        let body = request::body(&request).map_err(|error| {
            ProviderError::new(
                ProviderErrorKind::Config,
                &self.settings.name,
                format!("cannot encode the request: {error}"),
            )
        })?;
        tracing::debug!(
            provider = %self.settings.name,
            model = %request.model,
            url = %self.endpoint,
            bytes = body.len(),
            "sending ollama chat request"
        );
        let send = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .body(body)
            .send();
        let response = tokio::time::timeout(self.idle_timeout, send)
            .await
            .map_err(|_| error::idle_timeout(&self.settings, self.idle_timeout))?
            .map_err(|e| error::unreachable(&self.settings, &e))?;
        let status = response.status().as_u16();
        let content_type = body_stream::content_type(&response);
        tracing::debug!(provider = %self.settings.name, status, content_type, "response headers");
        if !response.status().is_success() {
            crate::retry::note_retry_headers(response.headers());
            let body = read_body(&self.settings, self.idle_timeout, response, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            return Err(http_error(
                &self.settings,
                status,
                &content_type,
                &body,
                &request.model,
            ));
        }
        if content_type.contains("html") {
            return Err(not_the_api(&self.settings, status, &content_type));
        }
        Ok(body_stream::drive(
            self.settings.clone(),
            self.idle_timeout,
            response,
            OllamaDecoder::new(),
            decode_error,
        ))
    }
}

fn not_the_api(settings: &ProviderSettings, status: u16, content_type: &str) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::Protocol,
        &settings.name,
        format!(
            "`{}` answered with HTML instead of Ollama's API (HTTP {status}, {content_type})",
            settings.name
        ),
    )
    .with_status(status)
    .with_hint(settings.base_url_hint())
}

pub(crate) fn decode_error(settings: &ProviderSettings, error: DecodeError) -> ProviderError {
    match error {
        DecodeError::Malformed(what) => ProviderError::new(
            ProviderErrorKind::Protocol,
            &settings.name,
            format!(
                "`{}` sent a response this client cannot read: {what}",
                settings.name
            ),
        )
        .with_hint(format!(
            "`{}` may not be Ollama; {}",
            settings.name,
            settings.base_url_hint()
        )),
        DecodeError::Remote(detail) => error::in_band(settings, &detail),
        DecodeError::Cut => error::stream_cut(settings),
    }
}

/// A non-2xx answer; Ollama's body is `{"error": "..."}`.
pub(crate) fn http_error(
    settings: &ProviderSettings,
    status: u16,
    content_type: &str,
    body: &str,
    model: &str,
) -> ProviderError {
    let is_html = content_type.contains("html") || body.trim_start().starts_with('<');
    if is_html && !matches!(status, 401 | 403 | 429 | 500..=599) {
        return not_the_api(settings, status, content_type);
    }
    let detail = ErrorDetail::from_body(body);
    let error = error::http_status(settings, status, content_type, body, None);
    let lower = detail.message.to_ascii_lowercase();
    if status == 404 && lower.contains("not found") {
        return error.with_hint(format!(
            "download it with `ollama pull {model}`, or pick one `ollama list` shows"
        ));
    }
    if status == 404 {
        return error.with_hint(settings.base_url_hint());
    }
    if lower.contains("does not support tools") {
        return error.with_hint(format!(
            "`{model}` cannot call tools; pick a model that can (e.g. `ollama/qwen3-coder`, `ollama/llama3.1`)"
        ));
    }
    error
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn root_drops_v1_and_api() {
        for base in [
            "http://127.0.0.1:11434",
            "http://127.0.0.1:11434/",
            "http://127.0.0.1:11434/v1",
            "http://127.0.0.1:11434/api/",
        ] {
            let provider = OllamaProvider::new(ProviderSettings::new("ollama", base)).unwrap();
            assert_eq!(provider.endpoint(), "http://127.0.0.1:11434/api/chat");
        }
    }

    #[test]
    fn missing_model_hints_at_ollama_pull() {
        let settings = ProviderSettings::new("ollama", "http://127.0.0.1:11434");
        let body = r#"{"error":"model \"qwen3-coder\" not found, try pulling it first"}"#;
        let error = http_error(&settings, 404, "application/json", body, "qwen3-coder");
        assert_eq!(error.kind, ProviderErrorKind::BadRequest);
        assert_eq!(error.status, Some(404));
        assert!(
            error.message.contains("model \"qwen3-coder\" not found"),
            "{}",
            error.message
        );
        assert_eq!(
            error.hint.as_deref(),
            Some("download it with `ollama pull qwen3-coder`, or pick one `ollama list` shows")
        );
    }

    #[test]
    fn error_body_fixture_is_a_server_error() {
        let settings = ProviderSettings::new("ollama", "http://127.0.0.1:11434");
        let body = include_str!("../../tests/fixtures/ollama/error_body_doc.json");
        let error = http_error(&settings, 500, "application/json", body, "m");
        assert_eq!(error.kind, ProviderErrorKind::Server);
        assert_eq!(
            error.message,
            "`ollama` failed with a server error (HTTP 500): the model failed to generate a response"
        );
        let tools = r#"{"error":"registry.ollama.ai/library/gemma:2b does not support tools"}"#;
        let error = http_error(&settings, 400, "application/json", tools, "gemma:2b");
        assert_eq!(error.kind, ProviderErrorKind::BadRequest);
        assert!(error.hint.unwrap().contains("cannot call tools"));
    }
}
