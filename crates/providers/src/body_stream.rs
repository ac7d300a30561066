//! The streaming loop shared by the native wires (Gemini, Ollama): read the body chunk by
//! chunk within the idle timeout, feed a wire decoder, and turn what it says into the
//! provider stream. Each wire only says how bytes become [`StreamEvent`]s.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use code_mesh_core::{ProviderError, ProviderStream, StreamEvent};
use futures::StreamExt;
use futures::stream::{self, BoxStream};

use crate::error::{self, ErrorDetail};
use crate::registry::ProviderSettings;

/// How long to wait for the rest of a stream (final usage) once the model finished: the
/// answer is whole by then, so a server that keeps the connection open must not hold the
/// turn for the full idle timeout.
const TAIL_TIMEOUT: Duration = Duration::from_secs(15);

/// Why decoding stopped short.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum DecodeError {
    /// The payload is not what the wire sends.
    Malformed(String),
    /// The server sent an error payload inside the stream.
    Remote(ErrorDetail),
    /// The body ended before the model finished.
    Cut,
}

/// A wire's incremental decoder: bytes in, events out.
pub(crate) trait BodyDecoder: Send + 'static {
    /// Feeds the next chunk (of any size, possibly splitting a UTF-8 character), appending
    /// the events it completes to `out`; those before an error are kept there.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError>;
    /// The body ended: flushes what is buffered into `out`; [`DecodeError::Cut`] when the
    /// model had not finished.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError>;
    /// The model said it finished (the rest is bookkeeping such as usage).
    fn has_finished(&self) -> bool;
    /// Nothing more is expected: reading can stop.
    fn is_done(&self) -> bool;
}

/// Decodes a whole body at once (tests, benches).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn decode_all<D: BodyDecoder>(
    decoder: &mut D,
    body: &[u8],
) -> Result<Vec<StreamEvent>, DecodeError> {
    decode_in_chunks(decoder, body, body.len().max(1))
}

/// Decodes a body fed `size` bytes at a time, stopping where the provider would.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn decode_in_chunks<D: BodyDecoder>(
    decoder: &mut D,
    body: &[u8],
    size: usize,
) -> Result<Vec<StreamEvent>, DecodeError> {
    match decode_until_error(decoder, body, size) {
        (events, None) => Ok(events),
        (_, Some(error)) => Err(error),
    }
}

/// Decodes a body fed `size` bytes at a time, keeping the events that came before an
/// error, as the provider's stream yields them.
pub(crate) fn decode_until_error<D: BodyDecoder>(
    decoder: &mut D,
    body: &[u8],
    size: usize,
) -> (Vec<StreamEvent>, Option<DecodeError>) {
    let mut events = Vec::new();
    for chunk in body.chunks(size.max(1)) {
        if let Err(error) = decoder.push(chunk, &mut events) {
            return (events, Some(error));
        }
        if decoder.is_done() {
            return (events, None);
        }
    }
    let error = decoder.finish(&mut events).err();
    (events, error)
}

/// Turns a decoding failure into the error the user sees; each wire words its own.
pub(crate) type ErrorMapper = fn(&ProviderSettings, DecodeError) -> ProviderError;

/// The provider stream of a successful response.
pub(crate) fn drive<D: BodyDecoder>(
    settings: ProviderSettings,
    idle_timeout: Duration,
    response: reqwest::Response,
    decoder: D,
    map_error: ErrorMapper,
) -> ProviderStream {
    let state = Driver {
        settings,
        idle_timeout,
        body: response.bytes_stream().boxed(),
        decoder,
        map_error,
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

struct Driver<D> {
    settings: ProviderSettings,
    idle_timeout: Duration,
    body: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    decoder: D,
    map_error: ErrorMapper,
    pending: VecDeque<Result<StreamEvent, ProviderError>>,
    ended: bool,
}

impl<D: BodyDecoder> Driver<D> {
    async fn read_next(&mut self) {
        let finished = self.decoder.has_finished();
        let wait = if finished {
            self.idle_timeout.min(TAIL_TIMEOUT)
        } else {
            self.idle_timeout
        };
        match tokio::time::timeout(wait, self.body.next()).await {
            Ok(Some(Ok(bytes))) => {
                let mut events = Vec::new();
                let decoded = self.decoder.push(&bytes, &mut events);
                self.queue(events, decoded);
            }
            Ok(None) => {
                let mut events = Vec::new();
                let decoded = self.decoder.finish(&mut events);
                self.queue(events, decoded);
                self.ended = true;
            }
            // After the finish the answer is whole; a broken or silent tail loses nothing.
            Ok(Some(Err(_))) | Err(_) if finished => {
                let mut events = Vec::new();
                let decoded = self.decoder.finish(&mut events);
                self.queue(events, decoded);
                self.ended = true;
            }
            Ok(Some(Err(error))) => self.fail(error::stream_broken(&self.settings, &error)),
            Err(_elapsed) => self.fail(error::idle_timeout(&self.settings, self.idle_timeout)),
        }
    }

    fn queue(&mut self, events: Vec<StreamEvent>, decoded: Result<(), DecodeError>) {
        self.pending.extend(events.into_iter().map(Ok));
        match decoded {
            Ok(()) => {
                if self.decoder.is_done() {
                    self.ended = true;
                }
            }
            Err(error) => {
                let error = (self.map_error)(&self.settings, error);
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

/// Reads at most `limit` bytes of a body, within `idle` per chunk.
pub(crate) async fn read_body(
    settings: &ProviderSettings,
    idle: Duration,
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    loop {
        let chunk = tokio::time::timeout(idle, response.chunk())
            .await
            .map_err(|_| error::idle_timeout(settings, idle))?
            .map_err(|e| error::stream_broken(settings, &e))?;
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

/// The response's content type, lower-cased (empty when absent).
pub(crate) fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Makes unique tool call ids for wires that send none (Gemini, Ollama): a prefix unique to
/// the process and the stream, then a counter.
#[derive(Clone, Debug)]
pub(crate) struct CallIds {
    prefix: String,
    next: u64,
}

impl CallIds {
    /// Ids unique across the process and its restarts (the prefix holds the time).
    pub fn unique() -> Self {
        static NEXT_STREAM: AtomicU64 = AtomicU64::new(0);
        CallIds::with_prefix(format!(
            "call_cm{:x}{:04x}",
            code_mesh_core::now_ms(),
            NEXT_STREAM.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// Ids `{prefix}_0`, `{prefix}_1`, ... (deterministic, for tests).
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        CallIds {
            prefix: prefix.into(),
            next: 0,
        }
    }

    pub fn next_id(&mut self) -> String {
        let id = format!("{}_{}", self.prefix, self.next);
        self.next += 1;
        id
    }
}

/// The start of a payload, for error messages.
pub(crate) fn snippet(text: &str) -> String {
    const MAX: usize = 200;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Tool arguments as the JSON object native wires require: the model's text parsed, or,
/// when it is not an object (malformed output replayed from history), the raw text under
/// `raw_arguments` so nothing is lost.
pub(crate) fn arguments_object(arguments: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ if arguments.trim().is_empty() => serde_json::Value::Object(Default::default()),
        _ => serde_json::json!({ "raw_arguments": arguments }),
    }
}

/// 0.7f32 as 0.7 rather than 0.699999988079071.
pub(crate) fn shortest_f64(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_and_prefixed() {
        let mut a = CallIds::unique();
        let mut b = CallIds::unique();
        let (a0, a1, b0) = (a.next_id(), a.next_id(), b.next_id());
        assert!(a0.starts_with("call_cm"));
        assert_ne!(a0, a1);
        assert_ne!(a0, b0);
        assert_eq!(CallIds::with_prefix("t").next_id(), "t_0");
    }

    #[test]
    fn arguments_become_an_object() {
        assert_eq!(arguments_object(r#"{"a":1}"#), serde_json::json!({"a": 1}));
        assert_eq!(arguments_object(""), serde_json::json!({}));
        assert_eq!(
            arguments_object("{not json"),
            serde_json::json!({"raw_arguments": "{not json"})
        );
        assert_eq!(
            arguments_object("[1]"),
            serde_json::json!({"raw_arguments": "[1]"})
        );
    }
}
