//! The Anthropic Messages API (`POST {base_url}/v1/messages`, streamed as SSE with named
//! events): text, tool use, extended thinking with signatures, prompt caching, and
//! Anthropic's error bodies and `error` events.
//!
//! The base URL is the API's root without `/v1`, as `ANTHROPIC_BASE_URL` is for Anthropic's
//! own SDKs (`https://api.anthropic.com`); a trailing `/v1` is tolerated. Requests carry
//! `x-api-key` and `anthropic-version: 2023-06-01`.

mod decode;
mod error;
mod request;

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use code_mesh_core::{
    ModelRequest, Provider, ProviderError, ProviderErrorKind, ProviderStream, StreamEvent,
};
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::openai_chat::DEFAULT_IDLE_TIMEOUT;
use crate::registry::ProviderSettings;
use crate::sse::SseDecoder;
use decode::{EventDecoder, decode_message};
pub use request::DEFAULT_MAX_TOKENS;

/// The API version sent in `anthropic-version`; the stream shapes decoded here are its.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Most bytes read from an error body.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Most bytes read from a non-streamed message.
const MAX_MESSAGE_BODY: usize = 64 * 1024 * 1024;

/// A provider speaking the Anthropic Messages API.
pub struct AnthropicProvider {
    settings: ProviderSettings,
    endpoint: reqwest::Url,
    headers: HeaderMap,
    client: reqwest::Client,
    idle_timeout: Duration,
    thinking_budget: Option<u32>,
}

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("settings", &self.settings)
            .field("endpoint", &self.endpoint.as_str())
            .field("idle_timeout", &self.idle_timeout)
            .field("thinking_budget", &self.thinking_budget)
            .finish_non_exhaustive()
    }
}

impl AnthropicProvider {
    /// Checks the settings (a http(s) base URL, valid header names and values) and prepares
    /// the requests. Nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        let name = settings.name.clone();
        let config_error = |message: String, hint: String| {
            ProviderError::new(ProviderErrorKind::Config, &name, message).with_hint(hint)
        };
        let base_url = settings.base_url.trim().trim_end_matches('/');
        let root = base_url.strip_suffix("/v1").unwrap_or(base_url);
        let endpoint = reqwest::Url::parse(&format!("{root}/v1/messages"))
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                config_error(
                    format!("the base URL of `{name}` is not an http(s) URL: `{base_url}`"),
                    format!(
                        "set `providers.{name}.base_url` to the API's root, e.g. \"https://api.anthropic.com\""
                    ),
                )
            })?;

        let mut headers =
            crate::http::request_headers(&settings, crate::http::KeyHeader::Named("x-api-key"))?;
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        Ok(AnthropicProvider {
            client: crate::http::shared_client().map_err(|error| ProviderError {
                provider: name.clone(),
                ..error
            })?,
            settings,
            endpoint,
            headers,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            thinking_budget: None,
        })
    }

    /// Sets how long the server may stay silent before the request fails with
    /// [`ProviderErrorKind::Timeout`].
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Turns on extended thinking with this budget of tokens (at least 1024, per the API).
    /// A request without `max_tokens` then gets the default plus the budget, and its
    /// `temperature` is not sent (the API refuses one with thinking).
    pub fn with_thinking_budget(mut self, budget_tokens: u32) -> Self {
        self.thinking_budget = Some(budget_tokens);
        self
    }

    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// The URL requests are posted to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    fn sse_stream(&self, response: reqwest::Response) -> ProviderStream {
        let state = StreamState {
            settings: self.settings.clone(),
            idle_timeout: self.idle_timeout,
            body: response.bytes_stream().boxed(),
            decoder: AnthropicStreamDecoder::new(self.settings.clone()),
            scratch: Vec::new(),
            pending: VecDeque::new(),
            ended: false,
        };
        stream::unfold(state, |mut state| async move {
            loop {
                if let Some(item) = state.pending.pop_front() {
                    return Some((item, state));
                }
                if state.ended {
                    return None;
                }
                state.read_next().await;
            }
        })
        .boxed()
    }
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        let options = request::BodyOptions {
            provider: &self.settings.name,
            thinking_budget: self.thinking_budget,
        };
        let body = request::body(&request, options).map_err(|error| {
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
            "sending messages request"
        );
        let send = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .body(body)
            .send();
        let response = tokio::time::timeout(self.idle_timeout, send)
            .await
            .map_err(|_| crate::error::idle_timeout(&self.settings, self.idle_timeout))?
            .map_err(|e| crate::error::unreachable(&self.settings, &e))?;

        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE.as_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let request_id = header("request-id");
        tracing::debug!(
            provider = %self.settings.name,
            status,
            content_type,
            request_id = request_id.as_deref().unwrap_or(""),
            "response headers"
        );

        if !response.status().is_success() {
            crate::retry::note_retry_headers(response.headers());
            let retry_after = header(reqwest::header::RETRY_AFTER.as_str());
            // A body that cannot be read still leaves the status to report.
            let body = crate::body_stream::read_body(
                &self.settings,
                self.idle_timeout,
                response,
                MAX_ERROR_BODY,
            )
            .await
            .unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            return Err(error::http_status(
                &self.settings,
                status,
                &content_type,
                &body,
                retry_after.as_deref(),
                request_id.as_deref(),
            ));
        }
        if content_type.contains("event-stream") {
            return Ok(self.sse_stream(response));
        }
        if content_type.contains("html") {
            return Err(error::not_the_api(&self.settings, status, &content_type));
        }
        // JSON, or no content type: a whole message or an error body, else an SSE body
        // whose content type a proxy dropped.
        let body = crate::body_stream::read_body(
            &self.settings,
            self.idle_timeout,
            response,
            MAX_MESSAGE_BODY,
        )
        .await?;
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {
                let body = String::from_utf8_lossy(&body);
                let events =
                    decode_message(&body).map_err(|e| error::decode_error(&self.settings, e))?;
                Ok(stream::iter(events.into_iter().map(Ok)).boxed())
            }
            Some(b'e' | b'd' | b':') => {
                let mut decoder = AnthropicStreamDecoder::new(self.settings.clone());
                let mut events = Vec::new();
                let result = decoder
                    .push(&body, &mut events)
                    .and_then(|()| decoder.finish(&mut events));
                let items = events.into_iter().map(Ok).chain(result.err().map(Err));
                Ok(stream::iter(items.collect::<Vec<_>>()).boxed())
            }
            Some(_) => Err(error::not_the_api(&self.settings, status, &content_type)),
            None => Err(crate::error::stream_cut(&self.settings)),
        }
    }
}

/// Decodes a Messages API event stream from bytes, in chunks of any size.
///
/// Used by [`AnthropicProvider`]; public for benchmarks and tools that replay recorded
/// streams. Errors are the ones the provider's stream ends with.
#[derive(Debug)]
pub struct AnthropicStreamDecoder {
    settings: ProviderSettings,
    sse: SseDecoder,
    events: EventDecoder,
}

impl AnthropicStreamDecoder {
    /// A decoder whose errors name the provider of `settings`.
    pub fn new(settings: ProviderSettings) -> Self {
        AnthropicStreamDecoder {
            settings,
            sse: SseDecoder::new(),
            events: EventDecoder::new(),
        }
    }

    /// Feeds the next chunk of the body, appending what it completes to `out`. After an
    /// error, or once [`Self::is_done`], further input is ignored.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if self.events.is_done() {
            return Ok(());
        }
        for event in self.sse.push(chunk) {
            self.events
                .decode_event(&event, out)
                .map_err(|e| error::decode_error(&self.settings, e))?;
            if self.events.is_done() {
                break;
            }
        }
        Ok(())
    }

    /// The body ended: flushes a last event without its blank line; fails with
    /// [`ProviderErrorKind::StreamCut`] when `message_stop` never came.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if self.events.is_done() {
            return Ok(());
        }
        let last = self.sse.finish();
        self.events
            .end_of_body(last, out)
            .map_err(|e| error::decode_error(&self.settings, e))
    }

    /// Whether `message_stop` arrived.
    pub fn is_done(&self) -> bool {
        self.events.is_done()
    }
}

/// A Messages stream being read.
struct StreamState {
    settings: ProviderSettings,
    idle_timeout: Duration,
    body: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    decoder: AnthropicStreamDecoder,
    scratch: Vec<StreamEvent>,
    pending: VecDeque<Result<StreamEvent, ProviderError>>,
    /// Nothing more will be read; `pending` is all that is left.
    ended: bool,
}

impl StreamState {
    /// Reads the next chunk and queues what it completes.
    async fn read_next(&mut self) {
        let result = match tokio::time::timeout(self.idle_timeout, self.body.next()).await {
            Ok(Some(Ok(bytes))) => self.decoder.push(&bytes, &mut self.scratch),
            Ok(None) => {
                self.ended = true;
                self.decoder.finish(&mut self.scratch)
            }
            Ok(Some(Err(error))) => {
                self.ended = true;
                Err(crate::error::stream_broken(&self.settings, &error))
            }
            Err(_elapsed) => {
                self.ended = true;
                Err(crate::error::idle_timeout(
                    &self.settings,
                    self.idle_timeout,
                ))
            }
        };
        self.pending.extend(self.scratch.drain(..).map(Ok));
        if let Err(error) = result {
            tracing::debug!(provider = %self.settings.name, kind = ?error.kind, %error, "stream failed");
            self.pending.push_back(Err(error));
            self.ended = true;
        }
        if self.decoder.is_done() {
            if let Some(id) = self.decoder.events.message_id() {
                tracing::debug!(provider = %self.settings.name, message_id = id, "message finished");
            }
            // The server closes the connection after `message_stop`; nothing is left to read.
            self.ended = true;
        }
    }
}
