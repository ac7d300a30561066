//! Answering repeated requests from a local store: [`CachingProvider`]
//! (`[providers] cache = true`).
//!
//! Only requests made with `temperature = 0` are cached. An unset temperature does not count:
//! the provider then samples at its own default (1.0 for most), so two answers to the same
//! request are meant to differ, and replaying one would silently change what the setting
//! means. The key is the SHA-256 of a canonical JSON of what decides the answer: provider,
//! model, system prompt, messages (roles and parts only, not their timestamps), tools,
//! temperature and `max_tokens`.
//!
//! A hit is replayed after [`StreamEvent::CacheHit`] without a network call. Usage is not
//! stored or replayed: a replayed answer spends no tokens. Only complete answers are stored:
//! a stream that failed, was cut, was dropped (cancelled) or came from a fallback provider
//! (it would later pass for the requested model's answer) is not. A cache that cannot be read
//! or written is logged and bypassed; it never fails a request.

use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_core::{
    FinishReason, ModelRequest, Provider, ProviderError, ProviderStream, ResponseCache, StreamEvent,
};
use code_mesh_protocol::ToolCall;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Bumped when the key or value format changes, so old entries are never misread.
const FORMAT_VERSION: u32 = 1;

/// The cache key of `request` to `provider`, or `None` when the request is not cacheable
/// (its temperature is not 0).
pub fn cache_key(provider: &str, request: &ModelRequest) -> Option<String> {
    if request.temperature != Some(0.0) {
        return None;
    }
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|message| json!({"role": message.role, "parts": message.parts}))
        .collect();
    let canonical = json!({
        "format": FORMAT_VERSION,
        "provider": provider,
        "model": request.model,
        "system": request.system,
        "messages": messages,
        "tools": request.tools,
        "temperature": 0,
        "max_tokens": request.max_tokens,
    });
    let mut text = String::new();
    write_canonical(&canonical, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    Some(digest.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// JSON with object keys sorted and no whitespace, whatever order the maps kept.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A stored answer.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct CachedAnswer {
    format: u32,
    events: Vec<CachedEvent>,
}

/// The events of an answer worth replaying.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CachedEvent {
    Text(String),
    ReasoningDelta(String),
    Reasoning {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default)]
        redacted: bool,
    },
    ToolCall(ToolCall),
    Finished(String),
}

impl CachedEvent {
    fn into_stream_event(self) -> StreamEvent {
        match self {
            CachedEvent::Text(text) => StreamEvent::TextDelta(text),
            CachedEvent::ReasoningDelta(text) => StreamEvent::ReasoningDelta(text),
            CachedEvent::Reasoning {
                text,
                signature,
                id,
                redacted,
            } => StreamEvent::Reasoning {
                text,
                signature,
                id,
                redacted,
            },
            CachedEvent::ToolCall(call) => StreamEvent::ToolCall(call),
            CachedEvent::Finished(reason) => StreamEvent::Finished(finish_reason(&reason)),
        }
    }
}

fn finish_reason(text: &str) -> FinishReason {
    match text {
        "stop" => FinishReason::Stop,
        "tool_calls" => FinishReason::ToolCalls,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// An answer being recorded while it streams.
#[derive(Default)]
struct Recording {
    events: Vec<CachedEvent>,
    finished: bool,
    /// Something makes this answer unfit to store (a failover, an error).
    spoiled: bool,
}

impl Recording {
    fn record(&mut self, event: &StreamEvent) {
        match event {
            // Consecutive deltas are stored as one.
            StreamEvent::TextDelta(delta) => match self.events.last_mut() {
                Some(CachedEvent::Text(text)) => text.push_str(delta),
                _ => self.events.push(CachedEvent::Text(delta.clone())),
            },
            StreamEvent::ReasoningDelta(delta) => match self.events.last_mut() {
                Some(CachedEvent::ReasoningDelta(text)) => text.push_str(delta),
                _ => self.events.push(CachedEvent::ReasoningDelta(delta.clone())),
            },
            StreamEvent::Reasoning {
                text,
                signature,
                id,
                redacted,
            } => self.events.push(CachedEvent::Reasoning {
                text: text.clone(),
                signature: signature.clone(),
                id: id.clone(),
                redacted: *redacted,
            }),
            StreamEvent::ToolCall(call) => self.events.push(CachedEvent::ToolCall(call.clone())),
            StreamEvent::Finished(reason) => {
                self.finished = true;
                self.events.push(CachedEvent::Finished(reason.to_string()));
            }
            StreamEvent::Failover { .. } | StreamEvent::CacheHit => self.spoiled = true,
            StreamEvent::Usage(_) | StreamEvent::Retry { .. } => {}
        }
    }

    /// The value to store, when the answer is complete and fit to store.
    fn finish(self) -> Option<String> {
        if self.spoiled || !self.finished {
            return None;
        }
        serde_json::to_string(&CachedAnswer {
            format: FORMAT_VERSION,
            events: self.events,
        })
        .ok()
    }
}

/// A provider that answers repeated `temperature = 0` requests from a [`ResponseCache`].
pub struct CachingProvider {
    inner: Arc<dyn Provider>,
    cache: Arc<dyn ResponseCache>,
}

impl CachingProvider {
    pub fn new(inner: Arc<dyn Provider>, cache: Arc<dyn ResponseCache>) -> Self {
        CachingProvider { inner, cache }
    }

    async fn lookup(&self, key: &str) -> Option<Vec<StreamEvent>> {
        let stored = match self.cache.get(key).await {
            Ok(stored) => stored?,
            Err(error) => {
                tracing::warn!(%error, "cannot read the response cache; asking the provider");
                return None;
            }
        };
        match serde_json::from_str::<CachedAnswer>(&stored) {
            Ok(answer) if answer.format == FORMAT_VERSION => Some(
                std::iter::once(StreamEvent::CacheHit)
                    .chain(
                        answer
                            .events
                            .into_iter()
                            .map(CachedEvent::into_stream_event),
                    )
                    .collect(),
            ),
            _ => {
                tracing::warn!(key, "ignoring an unreadable response cache entry");
                None
            }
        }
    }
}

#[async_trait]
impl Provider for CachingProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        let Some(key) = cache_key(self.inner.name(), &request) else {
            return self.inner.stream(request).await;
        };
        if let Some(events) = self.lookup(&key).await {
            tracing::debug!(key, "response cache hit");
            return Ok(futures::stream::iter(events.into_iter().map(Ok)).boxed());
        }
        let inner = self.inner.stream(request).await?;
        let state = Recorder {
            inner,
            cache: Arc::clone(&self.cache),
            key,
            recording: Some(Recording::default()),
        };
        Ok(futures::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        })
        .boxed())
    }
}

/// Passes an answer through and stores it once it ended complete.
struct Recorder {
    inner: ProviderStream,
    cache: Arc<dyn ResponseCache>,
    key: String,
    /// `None` once stored or spoiled.
    recording: Option<Recording>,
}

impl Recorder {
    async fn next(&mut self) -> Option<Result<StreamEvent, ProviderError>> {
        match self.inner.next().await {
            Some(Ok(event)) => {
                if let Some(recording) = self.recording.as_mut() {
                    recording.record(&event);
                }
                Some(Ok(event))
            }
            Some(Err(error)) => {
                self.recording = None;
                Some(Err(error))
            }
            None => {
                if let Some(value) = self.recording.take().and_then(Recording::finish)
                    && let Err(error) = self.cache.put(&self.key, &value).await
                {
                    tracing::warn!(%error, "cannot write the response cache");
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use code_mesh_protocol::{Message, Part, Role, ToolSpec};
    use pretty_assertions::assert_eq;

    fn request(created_at: u64) -> ModelRequest {
        ModelRequest {
            model: "gpt-5-mini".into(),
            system: "Be brief.".into(),
            messages: vec![Message {
                seq: created_at,
                role: Role::User,
                parts: vec![Part::Text {
                    text: "Hello".into(),
                }],
                model: None,
                usage: None,
                interrupted: false,
                created_at,
            }],
            tools: vec![ToolSpec {
                name: "read".into(),
                description: "Reads a file.".into(),
                parameters: json!({"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}}),
            }],
            temperature: Some(0.0),
            max_tokens: Some(1000),
        }
    }

    #[test]
    fn the_key_is_stable_and_ignores_message_bookkeeping() {
        let key = cache_key("openai", &request(1)).unwrap();
        assert_eq!(key.len(), 64);
        assert_eq!(cache_key("openai", &request(99)), Some(key.clone()));
        // Pinned: the same request gives the same key across builds and platforms.
        assert_eq!(
            key,
            "b164562b4b925d9713a9a965e522952d4ddd96aeec9b94218c962c8b77ed4e8d"
        );
    }

    #[test]
    fn the_key_changes_with_what_decides_the_answer() {
        let base = cache_key("openai", &request(1)).unwrap();
        let mut other = request(1);
        other.model = "gpt-5".into();
        assert_ne!(cache_key("openai", &other).unwrap(), base);
        assert_ne!(cache_key("azure", &request(1)).unwrap(), base);
        let mut other = request(1);
        other.max_tokens = None;
        assert_ne!(cache_key("openai", &other).unwrap(), base);
        let mut other = request(1);
        other.tools.clear();
        assert_ne!(cache_key("openai", &other).unwrap(), base);
        let mut other = request(1);
        other.system.push('!');
        assert_ne!(cache_key("openai", &other).unwrap(), base);
    }

    #[test]
    fn only_temperature_zero_is_cacheable() {
        let mut other = request(1);
        other.temperature = None;
        assert_eq!(cache_key("openai", &other), None);
        other.temperature = Some(0.2);
        assert_eq!(cache_key("openai", &other), None);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut out = String::new();
        write_canonical(&json!({"b": [{"z": 1, "a": "x\"y"}], "a": null}), &mut out);
        assert_eq!(out, r#"{"a":null,"b":[{"a":"x\"y","z":1}]}"#);
    }

    #[test]
    fn only_finished_answers_without_failover_are_stored() {
        let mut recording = Recording::default();
        for event in [
            StreamEvent::Retry {
                provider: "p".into(),
                attempt: 1,
                delay_ms: 1,
                message: "m".into(),
            },
            StreamEvent::TextDelta("Hel".into()),
            StreamEvent::TextDelta("lo".into()),
            StreamEvent::Usage(Default::default()),
            StreamEvent::Finished(FinishReason::Stop),
        ] {
            recording.record(&event);
        }
        let value = recording.finish().unwrap();
        assert_eq!(
            value,
            r#"{"format":1,"events":[{"text":"Hello"},{"finished":"stop"}]}"#
        );

        let mut unfinished = Recording::default();
        unfinished.record(&StreamEvent::TextDelta("Hel".into()));
        assert_eq!(unfinished.finish(), None);

        let mut failed_over = Recording::default();
        failed_over.record(&StreamEvent::Failover {
            from: "a/m".into(),
            to: "b/m".into(),
            message: "down".into(),
        });
        failed_over.record(&StreamEvent::Finished(FinishReason::Stop));
        assert_eq!(failed_over.finish(), None);
    }
}
