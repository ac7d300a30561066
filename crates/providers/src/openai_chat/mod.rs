//! The OpenAI Chat Completions wire (`POST {base_url}/chat/completions`, streamed as SSE),
//! which also serves every OpenAI-compatible server: LM Studio, vLLM, llama.cpp, Ollama's
//! `/v1`, OpenRouter, and the OpenAI-compatible endpoints of Anthropic and Gemini.

mod decode;
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
use reqwest::header::{CONTENT_TYPE, HeaderMap};

use crate::error;
use crate::registry::ProviderSettings;
use crate::sse::{SseDecoder, SseEvent};
use decode::{ChatStreamDecoder, DecodeError, decode_completion};
use request::MaxTokensField;

/// How long a stream may stay silent (before the answer starts, or between two chunks)
/// before it counts as dead.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long to wait for the rest of a stream (usage, `[DONE]`) once the model finished:
/// the answer is whole by then, so a server that keeps the connection open must not hold
/// the turn for the full idle timeout.
const TAIL_TIMEOUT: Duration = Duration::from_secs(15);

/// Most bytes read from an error body.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Most bytes read from a non-streamed completion.
const MAX_COMPLETION_BODY: usize = 64 * 1024 * 1024;

/// A provider speaking the OpenAI Chat Completions wire.
pub struct OpenAiChatProvider {
    settings: ProviderSettings,
    endpoint: reqwest::Url,
    headers: HeaderMap,
    client: reqwest::Client,
    idle_timeout: Duration,
    max_tokens_field: MaxTokensField,
}

impl fmt::Debug for OpenAiChatProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiChatProvider")
            .field("settings", &self.settings)
            .field("endpoint", &self.endpoint.as_str())
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl OpenAiChatProvider {
    /// Checks the settings (a http(s) base URL, valid header names and values) and prepares
    /// the requests. Nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        let name = settings.name.clone();
        let config_error = |message: String, hint: String| {
            ProviderError::new(ProviderErrorKind::Config, &name, message).with_hint(hint)
        };
        let base_url = settings.base_url.trim().trim_end_matches('/');
        let endpoint = reqwest::Url::parse(&format!("{base_url}/chat/completions"))
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                config_error(
                    format!("the base URL of `{name}` is not an http(s) URL: `{base_url}`"),
                    format!(
                        "set `providers.{name}.base_url` to the API's root, e.g. \"http://localhost:1234/v1\""
                    ),
                )
            })?;

        let headers = crate::http::request_headers(&settings, crate::http::KeyHeader::Bearer)?;

        let max_tokens_field = if endpoint.host_str() == Some("api.openai.com") {
            MaxTokensField::MaxCompletionTokens
        } else {
            MaxTokensField::MaxTokens
        };
        Ok(OpenAiChatProvider {
            client: crate::http::shared_client().map_err(|error| ProviderError {
                provider: name.clone(),
                ..error
            })?,
            settings,
            endpoint,
            headers,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_tokens_field,
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

    /// The URL requests are posted to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// A whole JSON body where a stream was asked for.
    async fn decode_json_body(
        &self,
        response: reqwest::Response,
        prefix: Vec<u8>,
    ) -> Result<ProviderStream, ProviderError> {
        let mut body = prefix;
        body.extend(
            crate::body_stream::read_body(
                &self.settings,
                self.idle_timeout,
                response,
                MAX_COMPLETION_BODY,
            )
            .await?,
        );
        let body = String::from_utf8_lossy(&body);
        let events = decode_completion(&body).map_err(|e| self.decode_error(e))?;
        Ok(stream::iter(events.into_iter().map(Ok)).boxed())
    }

    fn decode_error(&self, error: DecodeError) -> ProviderError {
        decode_error(&self.settings, error)
    }
}

fn decode_error(settings: &ProviderSettings, error: DecodeError) -> ProviderError {
    match error {
        DecodeError::Malformed(what) => error::malformed(settings, &what),
        DecodeError::Remote(detail) => error::in_band(settings, &detail),
        DecodeError::Cut => error::stream_cut(settings),
    }
}

#[async_trait]
impl Provider for OpenAiChatProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        let body = request::body(&request, self.max_tokens_field).map_err(|error| {
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
            "sending chat completion request"
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
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        tracing::debug!(provider = %self.settings.name, status, content_type, "response headers");

        if !response.status().is_success() {
            crate::retry::note_retry_headers(response.headers());
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
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
            ));
        }

        if content_type.contains("event-stream") {
            return Ok(self.sse_stream(Vec::new(), response));
        }
        if content_type.contains("json") {
            return self.decode_json_body(response, Vec::new()).await;
        }
        if content_type.contains("html") {
            return Err(error::not_the_api(&self.settings, status, &content_type));
        }
        // No or another content type: look at the first bytes.
        let mut response = response;
        let prefix = self.read_until_content(&mut response).await?;
        match prefix.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => self.decode_json_body(response, prefix).await,
            Some(b'd' | b':' | b'e' | b'i' | b'r') => Ok(self.sse_stream(prefix, response)),
            Some(_) => Err(error::not_the_api(&self.settings, status, &content_type)),
            None => Err(error::stream_cut(&self.settings)),
        }
    }
}

impl OpenAiChatProvider {
    /// Reads until the body shows something other than whitespace, or ends.
    async fn read_until_content(
        &self,
        response: &mut reqwest::Response,
    ) -> Result<Vec<u8>, ProviderError> {
        let mut prefix = Vec::new();
        while !prefix.iter().any(|b: &u8| !b.is_ascii_whitespace()) {
            let chunk = tokio::time::timeout(self.idle_timeout, response.chunk())
                .await
                .map_err(|_| error::idle_timeout(&self.settings, self.idle_timeout))?
                .map_err(|e| error::stream_broken(&self.settings, &e))?;
            match chunk {
                Some(chunk) => prefix.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok(prefix)
    }

    fn sse_stream(&self, prefix: Vec<u8>, response: reqwest::Response) -> ProviderStream {
        let mut state = SseState {
            settings: self.settings.clone(),
            idle_timeout: self.idle_timeout,
            body: response.bytes_stream().boxed(),
            sse: SseDecoder::new(),
            decoder: ChatStreamDecoder::new(),
            pending: VecDeque::new(),
            ended: false,
        };
        if !prefix.is_empty() {
            let events = state.sse.push(&prefix);
            state.handle(events);
        }
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

/// A Chat Completions stream being read.
struct SseState {
    settings: ProviderSettings,
    idle_timeout: Duration,
    body: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    sse: SseDecoder,
    decoder: ChatStreamDecoder,
    pending: VecDeque<Result<StreamEvent, ProviderError>>,
    /// Nothing more will be read; `pending` is all that is left.
    ended: bool,
}

impl SseState {
    /// Reads the next chunk and queues what it completes.
    async fn read_next(&mut self) {
        let wait = if self.decoder.has_finished() {
            self.idle_timeout.min(TAIL_TIMEOUT)
        } else {
            self.idle_timeout
        };
        match tokio::time::timeout(wait, self.body.next()).await {
            Ok(Some(Ok(bytes))) => {
                let events = self.sse.push(&bytes);
                self.handle(events);
            }
            Ok(None) => {
                let last = self.sse.finish();
                let end = self.decoder.end_of_body(last);
                self.queue(end);
                // `queue` ends the stream when the decoder is done; make sure of it here.
                self.ended = true;
            }
            Ok(Some(Err(error))) => {
                // After the finish reason the answer is whole; a broken tail loses nothing.
                if self.decoder.has_finished() {
                    let end = self.decoder.finish_at_eof();
                    self.queue(end);
                } else {
                    self.fail(error::stream_broken(&self.settings, &error));
                }
            }
            Err(_elapsed) => {
                if self.decoder.has_finished() {
                    let end = self.decoder.finish_at_eof();
                    self.queue(end);
                } else {
                    self.fail(error::idle_timeout(&self.settings, self.idle_timeout));
                }
            }
        }
    }

    fn handle(&mut self, events: Vec<SseEvent>) {
        for event in events {
            if self.ended {
                return;
            }
            let decoded = self.decoder.decode_event(&event);
            self.queue(decoded);
        }
    }

    fn queue(&mut self, decoded: Result<Vec<StreamEvent>, DecodeError>) {
        match decoded {
            Ok(events) => {
                self.pending.extend(events.into_iter().map(Ok));
                if self.decoder.is_done() {
                    self.ended = true;
                }
            }
            Err(error) => {
                let error = decode_error(&self.settings, error);
                self.fail(error);
            }
        }
    }

    fn fail(&mut self, error: ProviderError) {
        tracing::debug!(provider = %self.settings.name, kind = ?error.kind, %error, "stream failed");
        self.pending.push_back(Err(error));
        self.ended = true;
    }
}
