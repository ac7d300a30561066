//! Google Gemini's native wire: `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`
//! with the key in `x-goog-api-key`.
//!
//! The base URL is the SDK's (`GOOGLE_GEMINI_BASE_URL`, default
//! `https://generativelanguage.googleapis.com`), without `/v1beta`; a trailing `/v1beta` (or
//! the OpenAI-compatible `/v1beta/openai`) is tolerated and dropped.

mod decode;
mod request;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::{
    ModelRequest, Provider, ProviderError, ProviderErrorKind, ProviderStream, StreamEvent,
};
use futures::StreamExt;
use futures::stream;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::body_stream::{self, BodyDecoder, DecodeError, read_body};
use crate::error::{self, ErrorDetail};
use crate::openai_chat::DEFAULT_IDLE_TIMEOUT;
use crate::registry::ProviderSettings;

pub(crate) use decode::GeminiDecoder;

/// Most bytes read from an error body or a non-streamed answer.
const MAX_ERROR_BODY: usize = 64 * 1024;
const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

/// The header carrying the API key.
const API_KEY_HEADER: &str = "x-goog-api-key";

/// A provider speaking Gemini's `streamGenerateContent` wire.
pub struct GeminiProvider {
    settings: ProviderSettings,
    /// The API root without `/v1beta` and without a trailing slash.
    root: String,
    headers: HeaderMap,
    client: reqwest::Client,
    idle_timeout: Duration,
}

impl fmt::Debug for GeminiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiProvider")
            .field("settings", &self.settings)
            .field("root", &self.root)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl GeminiProvider {
    /// Checks the settings (an http(s) base URL, valid header names and values) and prepares
    /// the requests. Nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        let name = settings.name.clone();
        let config_error = |message: String, hint: String| {
            ProviderError::new(ProviderErrorKind::Config, &name, message).with_hint(hint)
        };
        let trimmed = settings.base_url.trim().trim_end_matches('/');
        let root = ["/v1beta/openai", "/v1beta"]
            .iter()
            .find_map(|suffix| trimmed.strip_suffix(suffix))
            .unwrap_or(trimmed)
            .to_owned();
        let valid = reqwest::Url::parse(&root)
            .ok()
            .is_some_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
        if !valid {
            return Err(config_error(
                format!("the base URL of `{name}` is not an http(s) URL: `{trimmed}`"),
                format!(
                    "set `providers.{name}.base_url` (or `GOOGLE_GEMINI_BASE_URL`) to the API's root, e.g. \"https://generativelanguage.googleapis.com\""
                ),
            ));
        }
        let headers =
            crate::http::request_headers(&settings, crate::http::KeyHeader::Named(API_KEY_HEADER))?;
        Ok(GeminiProvider {
            client: crate::http::shared_client().map_err(|error| ProviderError {
                provider: name.clone(),
                ..error
            })?,
            settings,
            root,
            headers,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        })
    }

    /// Sets how long the server may stay silent before the request fails with
    /// [`ProviderErrorKind::Timeout`].
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// The URL a request for `model` is posted to (`models/` in front of the name is
    /// accepted and not doubled).
    pub fn endpoint(&self, model: &str) -> Result<reqwest::Url, ProviderError> {
        let model = model.trim();
        let model = model.strip_prefix("models/").unwrap_or(model);
        let plain = !model.is_empty()
            && model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        let url = plain
            .then(|| {
                reqwest::Url::parse(&format!(
                    "{}/v1beta/models/{model}:streamGenerateContent?alt=sse",
                    self.root
                ))
                .ok()
            })
            .flatten();
        url.ok_or_else(|| {
            ProviderError::new(
                ProviderErrorKind::Config,
                &self.settings.name,
                format!("`{model}` is not a Gemini model name"),
            )
            .with_hint(format!(
                "write it as `{}/gemini-2.5-flash`: letters, digits, `-`, `.` and `_`",
                self.settings.name
            ))
        })
    }

    fn error_for_status(
        &self,
        status: u16,
        content_type: &str,
        body: &str,
        model: &str,
    ) -> ProviderError {
        http_error(&self.settings, status, content_type, body, model)
    }

    /// A whole JSON answer where a stream was asked for (a proxy dropping `alt=sse`): a
    /// `GenerateContentResponse` or an array of them.
    async fn decode_json_body(
        &self,
        response: reqwest::Response,
    ) -> Result<ProviderStream, ProviderError> {
        let body = read_body(&self.settings, self.idle_timeout, response, MAX_JSON_BODY).await?;
        let value: Value = serde_json::from_slice(&body).map_err(|_| {
            decode_error(
                &self.settings,
                DecodeError::Malformed(format!(
                    "the body is not JSON: {}",
                    body_stream::snippet(&String::from_utf8_lossy(&body))
                )),
            )
        })?;
        let chunks = match value {
            Value::Array(chunks) => chunks,
            other => vec![other],
        };
        let mut decoder = GeminiDecoder::new();
        let mut events = Vec::new();
        for chunk in &chunks {
            let decoded = decoder
                .decode_value(chunk)
                .map_err(|e| decode_error(&self.settings, e))?;
            events.extend(decoded);
        }
        decoder
            .finish(&mut events)
            .map_err(|e| decode_error(&self.settings, e))?;
        Ok(stream::iter(events.into_iter().map(Ok::<StreamEvent, ProviderError>)).boxed())
    }
}

/// Decodes a Gemini `streamGenerateContent?alt=sse` body (SSE, CRLF framing) into [`StreamEvent`](code_mesh_core::StreamEvent)s
/// without a connection: what the provider runs on every chunk it reads, for tools and
/// benchmarks that hold a body already.
#[derive(Debug)]
pub struct GeminiStreamDecoder {
    settings: ProviderSettings,
    decoder: GeminiDecoder,
}

impl GeminiStreamDecoder {
    /// A decoder whose errors name the provider of `settings`.
    pub fn new(settings: ProviderSettings) -> Self {
        GeminiStreamDecoder {
            settings,
            decoder: GeminiDecoder::new(),
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
impl Provider for GeminiProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        let endpoint = self.endpoint(&request.model)?;
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
            url = %endpoint,
            bytes = body.len(),
            "sending gemini streamGenerateContent request"
        );
        let send = self
            .client
            .post(endpoint)
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
            // A body that cannot be read still leaves the status to report.
            let body = read_body(&self.settings, self.idle_timeout, response, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            return Err(self.error_for_status(status, &content_type, &body, &request.model));
        }
        if content_type.contains("html") {
            return Err(not_the_api(&self.settings, status, &content_type));
        }
        if content_type.contains("json") {
            return self.decode_json_body(response).await;
        }
        Ok(body_stream::drive(
            self.settings.clone(),
            self.idle_timeout,
            response,
            GeminiDecoder::new(),
            decode_error,
        ))
    }
}

/// The hint for a base URL that does not lead to the Gemini API.
fn base_url_hint(settings: &ProviderSettings) -> String {
    format!(
        "set `GOOGLE_GEMINI_BASE_URL` or `providers.{}.base_url` to the Gemini API root without /v1beta (now {})",
        settings.name, settings.base_url
    )
}

fn not_the_api(settings: &ProviderSettings, status: u16, content_type: &str) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::Protocol,
        &settings.name,
        format!(
            "`{}` answered with HTML instead of the Gemini API (HTTP {status}, {content_type})",
            settings.name
        ),
    )
    .with_status(status)
    .with_hint(base_url_hint(settings))
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
            "`{}` may not speak the Gemini API; {}",
            settings.name,
            base_url_hint(settings)
        )),
        DecodeError::Remote(detail) => error::in_band(settings, &detail),
        DecodeError::Cut => error::stream_cut(settings),
    }
}

/// A non-2xx answer in Google's `{"error": {"code", "message", "status"}}` shape. Gemini
/// refuses a bad key with 400 `INVALID_ARGUMENT` ("API key not valid"), which is an
/// authentication failure, not a bad request.
pub(crate) fn http_error(
    settings: &ProviderSettings,
    status: u16,
    content_type: &str,
    body: &str,
    model: &str,
) -> ProviderError {
    let detail = ErrorDetail::from_body(body);
    let about_key = detail.message.contains("API key")
        || detail.message.contains("API_KEY")
        || body.contains("API_KEY_INVALID");
    if status == 400 && about_key {
        let name = &settings.name;
        let message = if settings.api_key.is_some() {
            format!("`{name}` rejected the API key (HTTP 400)")
        } else {
            format!("`{name}` needs an API key (HTTP 400)")
        };
        return ProviderError::new(
            ProviderErrorKind::Auth,
            name,
            format!("{message}: {}", detail.message),
        )
        .with_status(status)
        .with_hint(settings.key_hint());
    }
    let retry_after = retry_delay_seconds(body).map(|seconds| seconds.to_string());
    let error = error::http_status(settings, status, content_type, body, retry_after.as_deref());
    match (status, error.kind) {
        (404, _) => error.with_hint(format!(
            "check the model name (e.g. `{}/gemini-2.5-flash`; asked for `{model}`) and {}",
            settings.name,
            base_url_hint(settings)
        )),
        (_, ProviderErrorKind::Protocol) => error.with_hint(base_url_hint(settings)),
        _ => error,
    }
}

/// `RetryInfo.retryDelay` (`"20s"`, `"1.5s"`) from a Google error's `details`, in whole
/// seconds rounded up.
fn retry_delay_seconds(body: &str) -> Option<u64> {
    let value: Value = serde_json::from_str(body).ok()?;
    let error = match &value {
        Value::Array(items) => items.first()?.get("error")?,
        other => other.get("error")?,
    };
    error
        .get("details")?
        .as_array()?
        .iter()
        .filter_map(|detail| detail.get("retryDelay")?.as_str())
        .find_map(|delay| delay.strip_suffix('s')?.parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map(|seconds| seconds.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn google(key: Option<&str>) -> ProviderSettings {
        let mut settings =
            ProviderSettings::new("google", "https://generativelanguage.googleapis.com");
        settings.api_key = key.map(str::to_owned);
        settings.api_key_env = Some("GEMINI_API_KEY".into());
        settings
    }

    #[test]
    fn endpoint_is_the_streaming_method_of_the_model() {
        let provider = GeminiProvider::new(google(Some("k"))).unwrap();
        assert_eq!(
            provider.endpoint("gemini-2.5-flash").unwrap().as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            provider
                .endpoint("models/gemini-2.0-flash")
                .unwrap()
                .as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            provider.endpoint("../x").unwrap_err().kind,
            ProviderErrorKind::Config
        );
        for base in [
            "http://127.0.0.1:9/v1beta/",
            "http://127.0.0.1:9/v1beta/openai",
            "http://127.0.0.1:9",
        ] {
            let provider = GeminiProvider::new(ProviderSettings::new("google", base)).unwrap();
            assert_eq!(
                provider.endpoint("m").unwrap().as_str(),
                "http://127.0.0.1:9/v1beta/models/m:streamGenerateContent?alt=sse"
            );
        }
        let error = GeminiProvider::new(ProviderSettings::new("google", "localhost")).unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Config);
    }

    #[test]
    fn rate_limit_body_is_rate_limited_and_honours_retry_delay() {
        let body = include_str!("../../tests/fixtures/gemini/error_429_resource_exhausted.json");
        let error = http_error(&google(Some("k")), 429, "application/json", body, "m");
        assert_eq!(error.kind, ProviderErrorKind::RateLimited);
        assert_eq!(
            error.message,
            "`google` is rate limiting requests (HTTP 429): Resource has been exhausted (e.g. check quota)."
        );
        let with_retry = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"19.2s"}]}}"#;
        let error = http_error(&google(Some("k")), 429, "application/json", with_retry, "m");
        assert_eq!(
            error.hint.as_deref(),
            Some("wait 20 s and try again, or run fewer agents at once")
        );
    }

    #[test]
    fn invalid_key_400_is_an_auth_error() {
        let body = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
        let error = http_error(&google(Some("k")), 400, "application/json", body, "m");
        assert_eq!(error.kind, ProviderErrorKind::Auth);
        assert_eq!(error.status, Some(400));
        assert!(error.hint.unwrap().contains("GEMINI_API_KEY"));
        let other = r#"{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}"#;
        let error = http_error(&google(Some("k")), 400, "application/json", other, "m");
        assert_eq!(error.kind, ProviderErrorKind::BadRequest);
        for (status, kind) in [
            (403, ProviderErrorKind::Auth),
            (500, ProviderErrorKind::Server),
            (503, ProviderErrorKind::Server),
        ] {
            let body = r#"{"error":{"code":0,"message":"x","status":"X"}}"#;
            assert_eq!(
                http_error(&google(None), status, "application/json", body, "m").kind,
                kind
            );
        }
        let missing = http_error(&google(None), 404, "application/json", "{}", "gemini-9");
        assert!(missing.hint.unwrap().contains("asked for `gemini-9`"));
    }
}
