//! Decoding Chat Completions answers: streamed `chat.completion.chunk`s, and whole
//! `chat.completion` objects from servers that ignore `"stream": true`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use code_mesh_core::{FinishReason, StreamEvent};
use code_mesh_protocol::{ToolCall, Usage};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ErrorDetail;
use crate::sse::SseEvent;

/// Why decoding stopped short.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum DecodeError {
    /// The payload is not a chunk this client can read.
    Malformed(String),
    /// The server sent an `{"error": ...}` payload.
    Remote(ErrorDetail),
    /// The stream ended before a `finish_reason`.
    Cut,
}

/// One streamed chunk (or a whole completion: `message` stands in for `delta`). Unknown
/// fields (`obfuscation`, `service_tier`, `system_fingerprint`, `logprobs`, ...) are ignored.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default, alias = "message")]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<Value>,
    /// DeepSeek, vLLM, llama.cpp.
    #[serde(default)]
    reasoning_content: Option<Value>,
    /// OpenRouter, Ollama.
    #[serde(default)]
    reasoning: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    /// A string fragment; a few servers send the whole arguments as an object.
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek's name for cached prompt tokens.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    fn into_usage(self) -> Usage {
        Usage {
            input_tokens: self.prompt_tokens.unwrap_or(0),
            output_tokens: self.completion_tokens.unwrap_or(0),
            cache_read_tokens: self
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .or(self.prompt_cache_hit_tokens)
                .unwrap_or(0),
            cache_write_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            cost_usd: None,
        }
    }
}

/// A tool call whose fragments are still arriving.
#[derive(Debug, Default)]
struct PendingCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

/// Turns the `data:` payloads of a Chat Completions stream into [`StreamEvent`]s.
///
/// Text and reasoning pass through as they come; tool calls are gathered by `index` and
/// emitted whole, in index order, when the `finish_reason` (or the end) arrives; usage is
/// emitted once, last, because compatible servers may repeat it on several chunks.
#[derive(Debug, Default)]
pub(crate) struct ChatStreamDecoder {
    calls: BTreeMap<u64, PendingCall>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    done: bool,
}

impl ChatStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the stream said it was over (`[DONE]`, or the end after a finish reason).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the model has finished (a `finish_reason` arrived).
    pub fn has_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// Decodes one SSE event: its `data:` payload, or an `event: error`.
    pub fn decode_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, DecodeError> {
        if event.event == "error" {
            return Err(DecodeError::Remote(ErrorDetail::from_body(&event.data)));
        }
        self.decode_data(&event.data)
    }

    /// The body ended; `last` is the event the SSE decoder flushed without its blank line.
    /// A last event that is not valid JSON is a line cut in the middle, so it counts as a
    /// cut (or, after the finish reason, as nothing).
    pub fn end_of_body(&mut self, last: Option<SseEvent>) -> Result<Vec<StreamEvent>, DecodeError> {
        let mut events = match last.map(|event| self.decode_event(&event)) {
            Some(Err(DecodeError::Malformed(what))) => {
                tracing::debug!(%what, "ignoring a truncated last event");
                Vec::new()
            }
            Some(decoded) => decoded?,
            None => Vec::new(),
        };
        events.extend(self.finish_at_eof()?);
        Ok(events)
    }

    /// Decodes one `data:` payload.
    pub fn decode_data(&mut self, data: &str) -> Result<Vec<StreamEvent>, DecodeError> {
        let data = data.trim();
        if data.is_empty() || self.done {
            return Ok(Vec::new());
        }
        if data == "[DONE]" {
            return Ok(self.end());
        }
        let value: Value = serde_json::from_str(data).map_err(|error| {
            DecodeError::Malformed(format!(
                "a stream chunk is not JSON ({error}): {}",
                snippet(data)
            ))
        })?;
        self.decode_value(&value)
    }

    /// Decodes one chunk already parsed.
    fn decode_value(&mut self, value: &Value) -> Result<Vec<StreamEvent>, DecodeError> {
        if let Some(detail) = value
            .get("error")
            .filter(|error| !error.is_null())
            .and_then(|_| ErrorDetail::from_json(value))
        {
            return Err(DecodeError::Remote(detail));
        }
        let chunk = Chunk::deserialize(value).map_err(|error| {
            DecodeError::Malformed(format!(
                "a stream chunk has an unexpected shape ({error}): {}",
                snippet(&value.to_string())
            ))
        })?;
        let mut events = Vec::new();
        for choice in chunk.choices.into_iter().flatten() {
            // Only one completion is asked for; extra choices would be another answer.
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.delta {
                self.apply_delta(delta, &mut events);
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty())
                && self.finish.is_none()
            {
                let reason = finish_reason(&reason);
                self.flush_calls(&mut events);
                events.push(StreamEvent::Finished(reason.clone()));
                self.finish = Some(reason);
            }
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into_usage());
        }
        Ok(events)
    }

    /// The stream ended (EOF or a broken connection): the remaining events, or
    /// [`DecodeError::Cut`] when the model had not finished.
    pub fn finish_at_eof(&mut self) -> Result<Vec<StreamEvent>, DecodeError> {
        if self.done {
            return Ok(Vec::new());
        }
        if self.finish.is_none() {
            return Err(DecodeError::Cut);
        }
        Ok(self.end())
    }

    /// `[DONE]`, or the end after a finish reason: pending calls, a finish reason if none
    /// came (the server said it is done), then usage.
    fn end(&mut self) -> Vec<StreamEvent> {
        self.done = true;
        let mut events = Vec::new();
        if self.finish.is_none() {
            let reason = if self.calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            };
            self.flush_calls(&mut events);
            events.push(StreamEvent::Finished(reason.clone()));
            self.finish = Some(reason);
        }
        self.flush_calls(&mut events);
        if let Some(usage) = self.usage.take() {
            events.push(StreamEvent::Usage(usage));
        }
        events
    }

    fn apply_delta(&mut self, delta: Delta, events: &mut Vec<StreamEvent>) {
        let reasoning =
            text_of(delta.reasoning_content.as_ref()).or_else(|| text_of(delta.reasoning.as_ref()));
        if let Some(reasoning) = reasoning {
            events.push(StreamEvent::ReasoningDelta(reasoning));
        }
        if let Some(text) = text_of(delta.content.as_ref()) {
            events.push(StreamEvent::TextDelta(text));
        }
        for fragment in delta.tool_calls.into_iter().flatten() {
            self.add_fragment(fragment);
        }
    }

    fn add_fragment(&mut self, fragment: ToolCallDelta) {
        let (name, arguments) = match fragment.function {
            Some(function) => (function.name.filter(|n| !n.is_empty()), function.arguments),
            None => (None, None),
        };
        let id = fragment.id.filter(|id| !id.is_empty());
        let next_free = self.calls.keys().next_back().map_or(0, |last| last + 1);
        let starts_call = id.is_some() || name.is_some();
        let mut index = match fragment.index {
            Some(index) => index,
            // Servers that send whole calls without an index: a fragment with an id or a name
            // starts a call, any other continues the last one.
            None if starts_call || self.calls.is_empty() => next_free,
            None => next_free.saturating_sub(1),
        };
        // Some servers number every call 0: a new id at a taken index is a new call.
        if let (Some(id), Some(existing)) =
            (&id, self.calls.get(&index).and_then(|c| c.id.as_ref()))
            && id != existing
        {
            index = next_free.max(index + 1);
        }
        let call = self.calls.entry(index).or_default();
        if call.id.is_none() {
            call.id = id;
        }
        if let Some(name) = name
            && call.name.is_empty()
        {
            call.name = name;
        }
        match arguments {
            Some(Value::String(fragment)) => call.arguments.push_str(&fragment),
            Some(Value::Null) | None => {}
            Some(whole) => call.arguments.push_str(&whole.to_string()),
        }
    }

    fn flush_calls(&mut self, events: &mut Vec<StreamEvent>) {
        for (_, call) in std::mem::take(&mut self.calls) {
            if call.id.is_none() && call.name.is_empty() && call.arguments.is_empty() {
                continue;
            }
            events.push(StreamEvent::ToolCall(ToolCall {
                call_id: call.id.unwrap_or_else(synthesized_call_id),
                name: call.name,
                arguments: call.arguments,
                signature: None,
            }));
        }
    }
}

/// Decodes a whole `chat.completion` (a server that ignored `"stream": true`) into the same
/// events a stream would have produced.
pub(crate) fn decode_completion(body: &str) -> Result<Vec<StreamEvent>, DecodeError> {
    let value: Value = serde_json::from_str(body).map_err(|error| {
        DecodeError::Malformed(format!("the body is not JSON ({error}): {}", snippet(body)))
    })?;
    let has_error = value.get("error").is_some_and(|error| !error.is_null());
    if (has_error || value.is_array())
        && let Some(detail) = ErrorDetail::from_json(&value)
    {
        return Err(DecodeError::Remote(detail));
    }
    if value
        .get("choices")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(DecodeError::Malformed(format!(
            "the body is not a chat completion: {}",
            snippet(body)
        )));
    }
    let mut decoder = ChatStreamDecoder::new();
    let mut events = decoder.decode_value(&value)?;
    events.extend(decoder.end());
    Ok(events)
}

/// A text field: a string, or an array of `{"type":"text","text":...}` parts.
fn text_of(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| match part {
                Value::String(text) => Some(text.as_str()),
                part => part.get("text").and_then(Value::as_str),
            })
            .collect(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" | "end_turn" | "eos" => FinishReason::Stop,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "length" | "max_tokens" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// A unique id for a tool call the server sent without one.
fn synthesized_call_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "call_cm{:x}{:04x}",
        code_mesh_core::now_ms(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The start of a payload, for error messages.
fn snippet(text: &str) -> String {
    const MAX: usize = 200;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::sse;

    /// Decodes a whole recorded stream, as the provider does, until the end.
    fn decode_stream(body: &[u8]) -> Result<Vec<StreamEvent>, DecodeError> {
        let mut sse = sse::SseDecoder::new();
        let mut decoder = ChatStreamDecoder::new();
        let mut events = Vec::new();
        for event in sse.push(body) {
            events.extend(decoder.decode_event(&event)?);
            if decoder.is_done() {
                return Ok(events);
            }
        }
        events.extend(decoder.end_of_body(sse.finish())?);
        Ok(events)
    }

    fn text(events: &[StreamEvent]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Everything but the text deltas, which are checked joined.
    fn non_text(events: &[StreamEvent]) -> Vec<StreamEvent> {
        events
            .iter()
            .filter(|e| !matches!(e, StreamEvent::TextDelta(_)))
            .cloned()
            .collect()
    }

    fn call(id: &str, name: &str, arguments: &str) -> StreamEvent {
        StreamEvent::ToolCall(ToolCall {
            call_id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: None,
        })
    }

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    const TEXT_WITH_USAGE: &[u8] =
        include_bytes!("../../tests/fixtures/openai-chat/text_with_usage.sse");
    const TOOL_CALLS_PARALLEL: &[u8] =
        include_bytes!("../../tests/fixtures/openai-chat/tool_calls_parallel_with_usage.sse");
    const TOOL_CALL_OBFUSCATION: &[u8] =
        include_bytes!("../../tests/fixtures/openai-chat/tool_call_obfuscation.sse");
    const TEXT_OBFUSCATION: &[u8] =
        include_bytes!("../../tests/fixtures/openai-chat/text_obfuscation.sse");

    #[test]
    fn fixture_text_with_usage() {
        let events = decode_stream(TEXT_WITH_USAGE).unwrap();
        assert_eq!(
            text(&events),
            "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I recommend checking a reliable weather website or a weather app."
        );
        assert_eq!(text(&events).chars().count(), 159);
        let deltas = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::TextDelta(_)))
            .count();
        assert_eq!(
            deltas, 30,
            "33 chunks less the role, finish and usage chunks"
        );
        assert_eq!(
            non_text(&events),
            [
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(usage(14, 30)),
            ]
        );
        // The first chunk's empty content is not a delta.
        assert!(
            events
                .iter()
                .all(|e| e != &StreamEvent::TextDelta(String::new()))
        );
    }

    #[test]
    fn fixture_tool_calls_parallel_with_usage() {
        let events = decode_stream(TOOL_CALLS_PARALLEL).unwrap();
        assert_eq!(
            events,
            [
                call(
                    "call_JMW1whyEaYG438VE1OIflxA2",
                    "GetWeatherArgs",
                    r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#
                ),
                call(
                    "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                    "get_stock_price",
                    r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#
                ),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(usage(149, 60)),
            ]
        );
    }

    #[test]
    fn fixture_tool_call_obfuscation() {
        let events = decode_stream(TOOL_CALL_OBFUSCATION).unwrap();
        assert_eq!(
            events,
            [
                call(
                    "call_ZR5UUuTt3pf61kjwAJIYdVMj",
                    "get_capital",
                    r#"{"country":"UK"}"#
                ),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(usage(53, 15)),
            ]
        );
    }

    #[test]
    fn fixture_text_obfuscation() {
        let events = decode_stream(TEXT_OBFUSCATION).unwrap();
        assert_eq!(text(&events), "The capital of the UK is London.");
        assert_eq!(
            non_text(&events),
            [
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(usage(78, 9)),
            ]
        );
    }

    #[test]
    fn fixtures_decode_the_same_in_any_chunking() {
        for body in [
            TEXT_WITH_USAGE,
            TOOL_CALLS_PARALLEL,
            TOOL_CALL_OBFUSCATION,
            TEXT_OBFUSCATION,
        ] {
            let whole = decode_stream(body).unwrap();
            for size in [1, 7, 64, 1000] {
                let mut sse = sse::SseDecoder::new();
                let mut decoder = ChatStreamDecoder::new();
                let mut events = Vec::new();
                for chunk in body.chunks(size) {
                    for event in sse.push(chunk) {
                        events.extend(decoder.decode_event(&event).unwrap());
                    }
                }
                events.extend(decoder.end_of_body(sse.finish()).unwrap());
                let ids = |events: &[StreamEvent]| non_text(events);
                assert_eq!(ids(&events), ids(&whole), "chunk size {size}");
                assert_eq!(text(&events), text(&whole), "chunk size {size}");
            }
        }
    }

    #[test]
    fn a_stream_cut_before_finish_is_an_error() {
        let body = &TEXT_WITH_USAGE[..TEXT_WITH_USAGE.len() / 2];
        assert_eq!(decode_stream(body), Err(DecodeError::Cut));
    }

    #[test]
    fn a_stream_cut_between_events_is_an_error() {
        let text = std::str::from_utf8(TEXT_WITH_USAGE).unwrap();
        let cut = text.find("\"finish_reason\":\"stop\"").unwrap();
        let cut = text[..cut].rfind("\n\n").unwrap() + 2;
        assert_eq!(
            decode_stream(&TEXT_WITH_USAGE[..cut]),
            Err(DecodeError::Cut)
        );
    }

    #[test]
    fn an_error_event_is_an_error() {
        let body = b"event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
        assert!(matches!(
            decode_stream(body),
            Err(DecodeError::Remote(detail)) if detail.message == "overloaded"
        ));
    }

    #[test]
    fn a_missing_done_after_the_finish_reason_is_tolerated() {
        let text = std::str::from_utf8(TEXT_OBFUSCATION).unwrap();
        let without_done = text.replace("data: [DONE]\n\n", "");
        let events = decode_stream(without_done.as_bytes()).unwrap();
        assert_eq!(
            non_text(&events),
            [
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(usage(78, 9)),
            ]
        );
    }

    #[test]
    fn reasoning_fields_of_deepseek_and_openrouter_are_read() {
        let body = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"Let me\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\" think.\",\"content\":null}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"42\"},\"finish_reason\":\"stop\"}],",
            "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20,\"prompt_tokens_details\":{\"cached_tokens\":4},",
            "\"completion_tokens_details\":{\"reasoning_tokens\":12}}}\n\n",
            "data: [DONE]\n\n",
        );
        assert_eq!(
            decode_stream(body.as_bytes()).unwrap(),
            [
                StreamEvent::ReasoningDelta("Let me".into()),
                StreamEvent::ReasoningDelta(" think.".into()),
                StreamEvent::TextDelta("42".into()),
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(Usage {
                    input_tokens: 10,
                    output_tokens: 20,
                    cache_read_tokens: 4,
                    cache_write_tokens: 0,
                    reasoning_tokens: 12,
                    cost_usd: None,
                }),
            ]
        );
    }

    #[test]
    fn calls_without_ids_or_indexes_get_unique_ids() {
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"name\":\"b\",\"arguments\":{\"x\":1}}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        );
        let events = decode_stream(body.as_bytes()).unwrap();
        let calls: Vec<&ToolCall> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCall(call) => Some(call),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].name.as_str(), calls[0].arguments.as_str()),
            ("a", "{}")
        );
        assert_eq!(
            (calls[1].name.as_str(), calls[1].arguments.as_str()),
            ("b", r#"{"x":1}"#)
        );
        assert!(calls[0].call_id.starts_with("call_"));
        assert_ne!(calls[0].call_id, calls[1].call_id);
    }

    #[test]
    fn calls_all_numbered_zero_stay_apart() {
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c2\",\"function\":{\"name\":\"b\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        );
        assert_eq!(
            decode_stream(body.as_bytes()).unwrap(),
            [
                call("c1", "a", "{}"),
                call("c2", "b", "{}"),
                StreamEvent::Finished(FinishReason::ToolCalls),
            ]
        );
    }

    #[test]
    fn an_error_payload_mid_stream_is_an_error() {
        let body = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"id\":\"gen-1\",\"error\":{\"code\":502,\"message\":\"Provider returned error\"},",
            "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n",
        );
        let err = decode_stream(body.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Remote(ErrorDetail {
                message: "Provider returned error".into(),
                kind: None,
                code: Some("502".into()),
            })
        );
    }

    #[test]
    fn a_done_without_finish_reason_ends_the_answer() {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(
            decode_stream(body.as_bytes()).unwrap(),
            [
                StreamEvent::TextDelta("hi".into()),
                StreamEvent::Finished(FinishReason::Stop),
            ]
        );
    }

    #[test]
    fn non_json_chunk_is_malformed() {
        let err = decode_stream(b"data: <html>\n\n").unwrap_err();
        assert!(matches!(err, DecodeError::Malformed(m) if m.contains("not JSON")));
    }

    #[test]
    fn whole_completion_decodes_into_stream_events() {
        let body = r#"{
            "id": "chatcmpl-1", "object": "chat.completion", "model": "qwen3",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Checking.", "reasoning_content": "hmm",
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "ls", "arguments": "{\"path\":\".\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "cat", "arguments": "{}"}}
                ]}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}
        }"#;
        assert_eq!(
            decode_completion(body).unwrap(),
            [
                StreamEvent::ReasoningDelta("hmm".into()),
                StreamEvent::TextDelta("Checking.".into()),
                call("call_a", "ls", r#"{"path":"."}"#),
                call("call_b", "cat", "{}"),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(usage(5, 6)),
            ]
        );
    }

    #[test]
    fn whole_error_body_is_an_error() {
        let body =
            include_str!("../../tests/fixtures/openai-chat/error_429_insufficient_quota.json");
        let err = decode_completion(body).unwrap_err();
        assert!(matches!(err, DecodeError::Remote(detail) if detail.is_quota()));
    }
}
