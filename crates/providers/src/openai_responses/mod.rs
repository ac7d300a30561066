//! The OpenAI Responses wire (`POST {base_url}/responses`, streamed as typed SSE events),
//! chosen per provider with `wire = "responses"`.
//!
//! Requests are stateless (`store: false`) and ask for `reasoning.encrypted_content`, so a
//! reasoning model's reasoning items come back whole ([`StreamEvent::Reasoning`] with the
//! item's id and encrypted content as its signature) and are sent back unchanged on the next
//! request. HTTP errors are mapped as for the Chat Completions wire.

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

use crate::error::{self, ErrorDetail};
use crate::openai_chat::DEFAULT_IDLE_TIMEOUT;
use crate::registry::ProviderSettings;
use crate::sse::{SseDecoder, SseEvent};
use decode::{DecodeError, ResponsesStreamDecoder, decode_body};

/// Most bytes read from an error body.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Most bytes read from a non-streamed response.
const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// A provider speaking the OpenAI Responses wire.
pub struct OpenAiResponsesProvider {
    settings: ProviderSettings,
    endpoint: reqwest::Url,
    headers: HeaderMap,
    client: reqwest::Client,
    idle_timeout: Duration,
}

impl fmt::Debug for OpenAiResponsesProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiResponsesProvider")
            .field("settings", &self.settings)
            .field("endpoint", &self.endpoint.as_str())
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl OpenAiResponsesProvider {
    /// Checks the settings (a http(s) base URL, valid header names and values) and prepares
    /// the requests. Nothing is sent yet.
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        let name = settings.name.clone();
        let config_error = |message: String, hint: String| {
            ProviderError::new(ProviderErrorKind::Config, &name, message).with_hint(hint)
        };
        let base_url = settings.base_url.trim().trim_end_matches('/');
        let endpoint = reqwest::Url::parse(&format!("{base_url}/responses"))
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                config_error(
                    format!("the base URL of `{name}` is not an http(s) URL: `{base_url}`"),
                    format!(
                        "set `providers.{name}.base_url` to the API's root, e.g. \"https://api.openai.com/v1\""
                    ),
                )
            })?;

        let headers = crate::http::request_headers(&settings, crate::http::KeyHeader::Bearer)?;

        Ok(OpenAiResponsesProvider {
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

    /// Reads the body until it ends or holds at least `limit` bytes (the rest is dropped),
    /// or until it shows something other than whitespace when `until_content` is set;
    /// within the idle timeout per chunk.
    async fn read_body(
        &self,
        response: &mut reqwest::Response,
        limit: usize,
        until_content: bool,
    ) -> Result<Vec<u8>, ProviderError> {
        let mut body = Vec::new();
        loop {
            if until_content && body.iter().any(|b: &u8| !b.is_ascii_whitespace()) {
                return Ok(body);
            }
            let chunk = tokio::time::timeout(self.idle_timeout, response.chunk())
                .await
                .map_err(|_| error::idle_timeout(&self.settings, self.idle_timeout))?
                .map_err(|e| error::stream_broken(&self.settings, &e))?;
            let Some(chunk) = chunk else {
                return Ok(body);
            };
            body.extend_from_slice(&chunk);
            if body.len() >= limit {
                body.truncate(limit);
                return Ok(body);
            }
        }
    }

    /// A whole JSON body where a stream was asked for.
    async fn decode_json_body(
        &self,
        mut response: reqwest::Response,
        prefix: Vec<u8>,
    ) -> Result<ProviderStream, ProviderError> {
        let mut body = prefix;
        body.extend(
            self.read_body(&mut response, MAX_RESPONSE_BODY, false)
                .await?,
        );
        let body = String::from_utf8_lossy(&body);
        let events = decode_body(&body).map_err(|e| decode_error(&self.settings, e))?;
        Ok(stream::iter(events.into_iter().map(Ok)).boxed())
    }

    fn sse_stream(&self, prefix: Vec<u8>, response: reqwest::Response) -> ProviderStream {
        let mut state = SseState {
            settings: self.settings.clone(),
            idle_timeout: self.idle_timeout,
            body: response.bytes_stream().boxed(),
            sse: SseDecoder::new(),
            decoder: ResponsesStreamDecoder::new(),
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

fn decode_error(settings: &ProviderSettings, error: DecodeError) -> ProviderError {
    match error {
        DecodeError::Malformed(what) => malformed(settings, &what),
        DecodeError::Remote(detail) => remote(settings, &detail),
        DecodeError::Cut => error::stream_cut(settings),
    }
}

/// A body that claimed to be the Responses API but could not be read as it.
fn malformed(settings: &ProviderSettings, what: &str) -> ProviderError {
    let name = &settings.name;
    ProviderError::new(
        ProviderErrorKind::Protocol,
        name,
        format!("`{name}` sent a response this client cannot read: {what}"),
    )
    .with_hint(format!(
        "`{name}` may not speak the OpenAI Responses API; check `providers.{name}.base_url`, \
         or set `providers.{name}.wire = \"chat\"`"
    ))
}

/// An `error` event, `response.failed`, or an error body with status 200: classified as the
/// Chat wire's in-band errors, with the API's error code named in the message.
fn remote(settings: &ProviderSettings, detail: &ErrorDetail) -> ProviderError {
    let mut error = error::in_band(settings, detail);
    if let Some(code) = detail
        .code
        .as_deref()
        .filter(|code| code.parse::<u16>().is_err())
    {
        let name = &settings.name;
        error.message = if detail.message.is_empty() {
            format!("`{name}` reported an error ({code})")
        } else {
            format!("`{name}` reported an error ({code}): {}", detail.message)
        };
    }
    error
}

#[async_trait]
impl Provider for OpenAiResponsesProvider {
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
            "sending responses request"
        );
        let send = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .body(body)
            .send();
        let mut response = tokio::time::timeout(self.idle_timeout, send)
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
            let body = self
                .read_body(&mut response, MAX_ERROR_BODY, false)
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
        let prefix = self.read_body(&mut response, usize::MAX, true).await?;
        match prefix.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => self.decode_json_body(response, prefix).await,
            Some(b'd' | b':' | b'e' | b'i' | b'r') => Ok(self.sse_stream(prefix, response)),
            Some(_) => Err(error::not_the_api(&self.settings, status, &content_type)),
            None => Err(error::stream_cut(&self.settings)),
        }
    }
}

/// A Responses stream being read.
struct SseState {
    settings: ProviderSettings,
    idle_timeout: Duration,
    body: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    sse: SseDecoder,
    decoder: ResponsesStreamDecoder,
    pending: VecDeque<Result<StreamEvent, ProviderError>>,
    /// Nothing more will be read; `pending` is all that is left.
    ended: bool,
}

impl SseState {
    /// Reads the next chunk and queues what it completes.
    async fn read_next(&mut self) {
        match tokio::time::timeout(self.idle_timeout, self.body.next()).await {
            Ok(Some(Ok(bytes))) => {
                let events = self.sse.push(&bytes);
                self.handle(events);
            }
            Ok(None) => {
                let last = self.sse.finish();
                let end = self.decoder.end_of_body(last);
                self.queue(end);
                self.ended = true;
            }
            Ok(Some(Err(error))) => self.fail(error::stream_broken(&self.settings, &error)),
            Err(_elapsed) => self.fail(error::idle_timeout(&self.settings, self.idle_timeout)),
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
                // `response.completed` is the last event: the answer is whole, and a server
                // that keeps the connection open must not hold the turn.
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

/// Decodes a whole Responses event stream arriving in `chunks` (of any size, split anywhere)
/// into the events the provider would yield, ending with the error the provider would end
/// with. For replaying recordings and for measuring the decoder.
pub fn decode_stream<'a>(
    settings: &ProviderSettings,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<StreamEvent>, ProviderError> {
    let mut sse = SseDecoder::new();
    let mut decoder = ResponsesStreamDecoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        for event in sse.push(chunk) {
            let decoded = decoder
                .decode_event(&event)
                .map_err(|e| decode_error(settings, e))?;
            events.extend(decoded);
            if decoder.is_done() {
                return Ok(events);
            }
        }
    }
    let rest = decoder
        .end_of_body(sse.finish())
        .map_err(|e| decode_error(settings, e))?;
    events.extend(rest);
    Ok(events)
}
