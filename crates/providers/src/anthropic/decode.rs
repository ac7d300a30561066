//! Decoding Messages API answers: the streamed events (`message_start`, `content_block_*`,
//! `message_delta`, `message_stop`, `ping`, `error`), and whole `message` objects from
//! proxies that ignore `"stream": true`.
//!
//! Text and thinking pass through as deltas when they arrive; a `tool_use` block's input is
//! the concatenation of its `input_json_delta` fragments (replacing the `"input": {}` its
//! `content_block_start` carries) and is emitted whole, as a [`ToolCall`], when the block
//! stops; a thinking block is emitted whole, with its signature, when it stops. `Finished`
//! and `Usage` come last, at `message_stop`: an answer whose stream ends before that is cut.
//!
//! Usage: `input_tokens` is the sum of Anthropic's `input_tokens`,
//! `cache_creation_input_tokens` and `cache_read_input_tokens` (the API counts cached tokens
//! apart; [`Usage::input_tokens`] includes them), with the last two also reported as
//! `cache_write_tokens` and `cache_read_tokens`. `message_delta`'s usage is cumulative and
//! final, so its counts replace those of `message_start`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use code_mesh_core::{FinishReason, StreamEvent};
use code_mesh_protocol::{ToolCall, Usage};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ErrorDetail;
use crate::sse::SseEvent;

/// Why decoding stopped short.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum DecodeError {
    /// The payload is not an event this client can read.
    Malformed(String),
    /// The server sent an `error` event; `request_id` when the payload carried one.
    Remote {
        detail: ErrorDetail,
        request_id: Option<String>,
    },
    /// The stream ended before `message_stop`.
    Cut,
}

/// One event's payload. Every event type shares this one flat shape (unknown fields are
/// ignored), which reads faster than an internally tagged enum.
#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    content_block: Option<WireBlock>,
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// `message_start.message`, or a whole (non-streamed) message.
#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    content: Vec<WireBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// A content block: `text`, `tool_use`, `thinking`, `redacted_thinking`, or a kind this
/// client does not use (server tool blocks), which is skipped.
#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    data: Option<String>,
}

/// A `content_block_delta.delta` or a `message_delta.delta`.
#[derive(Deserialize)]
struct WireDelta {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Clone, Copy, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

/// The counts seen so far; later reports replace earlier ones field by field.
#[derive(Clone, Copy, Debug, Default)]
struct UsageCounts {
    input: u64,
    output: u64,
    cache_write: u64,
    cache_read: u64,
}

impl UsageCounts {
    fn update(&mut self, usage: WireUsage) {
        if let Some(input) = usage.input_tokens {
            self.input = input;
        }
        if let Some(output) = usage.output_tokens {
            self.output = output;
        }
        if let Some(write) = usage.cache_creation_input_tokens {
            self.cache_write = write;
        }
        if let Some(read) = usage.cache_read_input_tokens {
            self.cache_read = read;
        }
    }

    fn to_usage(self) -> Usage {
        Usage {
            input_tokens: self.input + self.cache_write + self.cache_read,
            output_tokens: self.output,
            cache_read_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
            reasoning_tokens: 0,
            cost_usd: None,
        }
    }
}

/// A content block whose deltas are still arriving.
#[derive(Debug)]
enum Block {
    Text,
    ToolUse {
        id: String,
        name: String,
        /// The `input` of `content_block_start`, used only when no fragment arrives.
        start_input: Option<Value>,
        json: String,
    },
    Thinking {
        text: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    /// A block this client does not use.
    Other,
}

/// Turns the SSE events of a Messages stream into [`StreamEvent`]s.
#[derive(Debug, Default)]
pub(crate) struct EventDecoder {
    /// Open blocks by index.
    blocks: BTreeMap<u64, Block>,
    usage: UsageCounts,
    stop_reason: Option<String>,
    made_tool_calls: bool,
    message_id: Option<String>,
    done: bool,
}

impl EventDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `message_stop` arrived: nothing after it matters.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The message id from `message_start`, for logs.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// Decodes one SSE event into `out`. The payload's `type` decides; the SSE event name
    /// stands in when the payload has none.
    pub fn decode_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        if self.done {
            return Ok(());
        }
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        let wire: WireEvent<'_> = match serde_json::from_str(data) {
            Ok(wire) => wire,
            Err(_) if event.event == "error" => return Err(remote_error(data)),
            Err(error) => {
                return Err(DecodeError::Malformed(format!(
                    "a stream event is not JSON ({error}): {}",
                    snippet(data)
                )));
            }
        };
        let kind = wire.kind.as_deref().unwrap_or(event.event.as_str());
        match kind {
            "message_start" => {
                if let Some(message) = wire.message {
                    self.message_id = message.id;
                    if let Some(usage) = message.usage {
                        self.usage.update(usage);
                    }
                }
            }
            "content_block_start" => {
                let block = wire
                    .content_block
                    .ok_or_else(|| missing(kind, "content_block"))?;
                let index = wire.index.ok_or_else(|| missing(kind, "index"))?;
                self.start_block(index, block, out);
            }
            "content_block_delta" => {
                let delta = wire.delta.ok_or_else(|| missing(kind, "delta"))?;
                let index = wire.index.ok_or_else(|| missing(kind, "index"))?;
                self.apply_delta(index, delta, out);
            }
            "content_block_stop" => {
                let index = wire.index.ok_or_else(|| missing(kind, "index"))?;
                if let Some(block) = self.blocks.remove(&index) {
                    self.finish_block(block, out);
                }
            }
            "message_delta" => {
                if let Some(reason) = wire.delta.and_then(|delta| delta.stop_reason) {
                    self.stop_reason = Some(reason);
                }
                if let Some(usage) = wire.usage {
                    self.usage.update(usage);
                }
            }
            "message_stop" => self.end(out),
            "error" => return Err(remote_error(data)),
            // `ping`, and event types added after this client was written, which the API's
            // versioning policy says to ignore.
            _ => {}
        }
        Ok(())
    }

    /// The body ended; `last` is the event the SSE decoder flushed without its blank line
    /// (the SDK fixtures end that way, right after `message_stop`).
    pub fn end_of_body(
        &mut self,
        last: Option<SseEvent>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        if let Some(last) = last {
            match self.decode_event(&last, out) {
                // A last line cut in the middle: the stream is cut, reported below.
                Err(DecodeError::Malformed(what)) => {
                    tracing::debug!(%what, "ignoring a truncated last event");
                }
                other => other?,
            }
        }
        if self.done {
            Ok(())
        } else {
            Err(DecodeError::Cut)
        }
    }

    fn start_block(&mut self, index: u64, block: WireBlock, out: &mut Vec<StreamEvent>) {
        let block = match block.kind.as_str() {
            "text" => {
                push_text(out, block.text);
                Block::Text
            }
            "tool_use" => Block::ToolUse {
                id: block.id.unwrap_or_default(),
                name: block.name.unwrap_or_default(),
                start_input: block.input,
                json: String::new(),
            },
            "thinking" => {
                let text = block.thinking.unwrap_or_default();
                if !text.is_empty() {
                    out.push(StreamEvent::ReasoningDelta(text.clone()));
                }
                Block::Thinking {
                    text,
                    signature: block.signature.unwrap_or_default(),
                }
            }
            "redacted_thinking" => Block::RedactedThinking {
                data: block.data.unwrap_or_default(),
            },
            _ => Block::Other,
        };
        // A repeated index means the earlier block never stopped: finish it rather than
        // lose it.
        if let Some(previous) = self.blocks.insert(index, block) {
            self.finish_block(previous, out);
        }
    }

    fn apply_delta(&mut self, index: u64, delta: WireDelta, out: &mut Vec<StreamEvent>) {
        let block = self.blocks.get_mut(&index);
        match (delta.kind.as_deref(), block) {
            (Some("text_delta"), _) => push_text(out, delta.text),
            (Some("input_json_delta"), Some(Block::ToolUse { json, .. })) => {
                if let Some(fragment) = delta.partial_json {
                    json.push_str(&fragment);
                }
            }
            (Some("thinking_delta"), block) => {
                let Some(thinking) = delta.thinking.filter(|t| !t.is_empty()) else {
                    return;
                };
                if let Some(Block::Thinking { text, .. }) = block {
                    text.push_str(&thinking);
                }
                out.push(StreamEvent::ReasoningDelta(thinking));
            }
            (Some("signature_delta"), Some(Block::Thinking { signature, .. })) => {
                if let Some(piece) = delta.signature {
                    signature.push_str(&piece);
                }
            }
            // `citations_delta`, deltas for skipped blocks, and delta types added later.
            _ => {}
        }
    }

    fn finish_block(&mut self, block: Block, out: &mut Vec<StreamEvent>) {
        match block {
            Block::Text | Block::Other => {}
            Block::ToolUse {
                id,
                name,
                start_input,
                json,
            } => {
                // The fragments replace the start's `{}`; a proxy that sends the whole input
                // in the start and no fragments still gets its input through.
                let arguments = if json.trim().is_empty() {
                    match start_input {
                        Some(Value::Object(map)) if !map.is_empty() => {
                            Value::Object(map).to_string()
                        }
                        _ => "{}".to_owned(),
                    }
                } else {
                    json
                };
                self.made_tool_calls = true;
                out.push(StreamEvent::ToolCall(ToolCall {
                    call_id: id,
                    name,
                    arguments,
                    signature: None,
                }));
            }
            Block::Thinking { text, signature } => out.push(StreamEvent::Reasoning {
                text,
                signature: (!signature.is_empty()).then_some(signature),
                id: None,
                redacted: false,
            }),
            Block::RedactedThinking { data } => out.push(StreamEvent::Reasoning {
                text: String::new(),
                signature: Some(data),
                id: None,
                redacted: true,
            }),
        }
    }

    /// `message_stop`: blocks left open, the finish reason, then usage.
    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        for (_, block) in std::mem::take(&mut self.blocks) {
            self.finish_block(block, out);
        }
        let reason = match self.stop_reason.take() {
            Some(reason) => finish_reason(&reason),
            None if self.made_tool_calls => FinishReason::ToolCalls,
            None => FinishReason::Stop,
        };
        out.push(StreamEvent::Finished(reason));
        out.push(StreamEvent::Usage(self.usage.to_usage()));
        self.done = true;
    }
}

fn push_text(out: &mut Vec<StreamEvent>, text: Option<String>) {
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        out.push(StreamEvent::TextDelta(text));
    }
}

fn missing(kind: &str, field: &str) -> DecodeError {
    DecodeError::Malformed(format!("a `{kind}` event has no `{field}`"))
}

/// An `error` event's payload: `{"type":"error","error":{"type","message"},"request_id"}`.
fn remote_error(data: &str) -> DecodeError {
    DecodeError::Remote {
        detail: ErrorDetail::from_body(data),
        request_id: request_id_of(data),
    }
}

/// The top-level `request_id` of an error body, if it has one.
pub(crate) fn request_id_of(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct WithRequestId {
        #[serde(default)]
        request_id: Option<String>,
    }
    serde_json::from_str::<WithRequestId>(body)
        .ok()
        .and_then(|body| body.request_id)
        .filter(|id| !id.is_empty())
}

/// `stop_reason` in the engine's terms.
pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Decodes a whole JSON body (a proxy that ignored `"stream": true`, or an error body sent
/// with status 200) into the events a stream would have produced.
pub(crate) fn decode_message(body: &str) -> Result<Vec<StreamEvent>, DecodeError> {
    let value: Value = serde_json::from_str(body).map_err(|error| {
        DecodeError::Malformed(format!("the body is not JSON ({error}): {}", snippet(body)))
    })?;
    if value.get("type").and_then(Value::as_str) == Some("error") || value.get("error").is_some() {
        return Err(remote_error(body));
    }
    let is_message = value.get("type").and_then(Value::as_str) == Some("message")
        || value.get("content").is_some_and(Value::is_array);
    if !is_message {
        return Err(DecodeError::Malformed(format!(
            "the body is not a message: {}",
            snippet(body)
        )));
    }
    let message = WireMessage::deserialize(&value).map_err(|error| {
        DecodeError::Malformed(format!(
            "the message has an unexpected shape ({error}): {}",
            snippet(body)
        ))
    })?;
    let mut decoder = EventDecoder::new();
    let mut out = Vec::new();
    if let Some(usage) = message.usage {
        decoder.usage.update(usage);
    }
    for block in message.content {
        let open = if block.kind == "tool_use" {
            // A whole message's `input` is the real input, not a placeholder.
            Block::ToolUse {
                id: block.id.unwrap_or_default(),
                name: block.name.unwrap_or_default(),
                start_input: None,
                json: block
                    .input
                    .map(|input| input.to_string())
                    .unwrap_or_default(),
            }
        } else {
            decoder.start_block(0, block, &mut out);
            decoder.blocks.remove(&0).unwrap_or(Block::Other)
        };
        decoder.finish_block(open, &mut out);
    }
    decoder.stop_reason = message.stop_reason;
    decoder.end(&mut out);
    Ok(out)
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
    use crate::sse::SseDecoder;

    const TEXT_HELLO: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic/text_hello_sdk_fixture.sse");
    const TOOL_USE: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic/tool_use_get_weather.sse");
    const TEXT_PADDED: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic/text_padded_minimal.sse");
    const THINKING: &[u8] = include_bytes!("../../tests/fixtures/anthropic/thinking_signature.sse");
    const OVERLOADED_EVENT: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic/error_event_overloaded_doc.sse");
    const OVERLOADED_PAYLOAD: &str =
        include_str!("../../tests/fixtures/anthropic/error_event_overloaded_payload_real.json");
    const TEXT_UTF8: &[u8] = include_bytes!("../../tests/fixtures/anthropic/text_utf8_derived.sse");

    /// Decodes `body` fed in pieces of `size` bytes, as the provider does, to the end.
    fn decode(body: &[u8], size: usize) -> Result<Vec<StreamEvent>, DecodeError> {
        let mut sse = SseDecoder::new();
        let mut decoder = EventDecoder::new();
        let mut out = Vec::new();
        for chunk in body.chunks(size) {
            for event in sse.push(chunk) {
                decoder.decode_event(&event, &mut out)?;
            }
        }
        decoder.end_of_body(sse.finish(), &mut out)?;
        Ok(out)
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

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    #[test]
    fn fixture_text_hello_without_final_newline() {
        assert_eq!(
            decode(TEXT_HELLO, TEXT_HELLO.len()).unwrap(),
            [
                StreamEvent::TextDelta("Hello".into()),
                StreamEvent::TextDelta(" there".into()),
                StreamEvent::TextDelta("!".into()),
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(usage(11, 6)),
            ]
        );
    }

    #[test]
    fn fixture_tool_use_replaces_the_empty_start_input() {
        assert_eq!(
            decode(TOOL_USE, TOOL_USE.len()).unwrap(),
            [
                StreamEvent::TextDelta("I".into()),
                StreamEvent::TextDelta("'ll check the current weather in Paris for you.".into()),
                StreamEvent::ToolCall(ToolCall {
                    call_id: "toolu_01NRLabsLyVHZPKxbKvkfSMn".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"location": "Paris"}"#.into(),
                    signature: None,
                }),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(usage(377, 65)),
            ]
        );
    }

    #[test]
    fn fixture_padded_payloads_parse_and_the_final_usage_wins() {
        assert_eq!(
            decode(TEXT_PADDED, TEXT_PADDED.len()).unwrap(),
            [
                StreamEvent::TextDelta("2".into()),
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(usage(20, 5)),
            ]
        );
    }

    #[test]
    fn fixture_thinking_keeps_text_and_signature_verbatim() {
        let events = decode(THINKING, THINKING.len()).unwrap();
        let reasoning_deltas: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ReasoningDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasoning_deltas.len(),
            13,
            "14 thinking deltas, the last empty"
        );
        let thinking = "This is a straightforward question about pedestrian safety. I should provide clear, helpful advice about how to safely cross a street. This is basic safety information that could help prevent accidents.";
        assert_eq!(thinking.chars().count(), 202);
        assert_eq!(reasoning_deltas.concat(), thinking);
        let blocks: Vec<&StreamEvent> = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Reasoning { .. }))
            .collect();
        let [
            StreamEvent::Reasoning {
                text: block_text,
                signature: Some(signature),
                id: None,
                redacted: false,
            },
        ] = blocks.as_slice()
        else {
            panic!("one signed thinking block expected: {blocks:?}");
        };
        assert_eq!(block_text, thinking);
        assert_eq!(signature.len(), 504);
        assert!(signature.starts_with("EvMCCkYICxgCKkCHP2cS"), "{signature}");
        assert!(signature.ends_with("/UhjfQYAQ=="), "{signature}");
        // The whole signature, byte for byte, as the recording has it.
        let recorded = std::str::from_utf8(THINKING).unwrap();
        assert!(recorded.contains(&format!("\"signature\":\"{signature}\"")));

        let answer = text(&events);
        assert_eq!(answer.chars().count(), 1021);
        assert!(answer.starts_with(
            "Here are the basic steps for safely crossing the street:\n\n**At intersections with traffic lights:**"
        ));
        assert!(answer.ends_with("Always prioritize safety over speed when crossing streets."));
        let text_deltas = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::TextDelta(_)))
            .count();
        assert_eq!(text_deltas, 95);
        // The reasoning block comes before the first text delta.
        let block_at = events
            .iter()
            .position(|e| matches!(e, StreamEvent::Reasoning { .. }));
        let text_at = events
            .iter()
            .position(|e| matches!(e, StreamEvent::TextDelta(_)));
        assert!(block_at < text_at);
        assert_eq!(
            events[events.len() - 2..],
            [
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(usage(43, 282)),
            ]
        );
    }

    #[test]
    fn fixture_overloaded_error_event_without_blank_line_is_remote() {
        let error = decode(OVERLOADED_EVENT, OVERLOADED_EVENT.len()).unwrap_err();
        let DecodeError::Remote { detail, request_id } = error else {
            panic!("not a remote error: {error:?}");
        };
        assert_eq!(detail.kind.as_deref(), Some("overloaded_error"));
        assert_eq!(detail.message, "Overloaded");
        assert_eq!(request_id, None);
    }

    #[test]
    fn real_overloaded_payload_mid_stream_is_remote_after_the_text() {
        let text_end = std::str::from_utf8(TEXT_HELLO)
            .unwrap()
            .find("event: content_block_stop")
            .unwrap();
        let mut body = TEXT_HELLO[..text_end].to_vec();
        body.extend_from_slice(b"event: error\ndata: ");
        body.extend_from_slice(OVERLOADED_PAYLOAD.as_bytes());
        body.extend_from_slice(b"\n\n");
        let mut sse = SseDecoder::new();
        let mut decoder = EventDecoder::new();
        let mut out = Vec::new();
        let mut error = None;
        for event in sse.push(&body) {
            if let Err(e) = decoder.decode_event(&event, &mut out) {
                error = Some(e);
                break;
            }
        }
        assert_eq!(text(&out), "Hello there!");
        let Some(DecodeError::Remote { detail, .. }) = error else {
            panic!("no remote error: {error:?}");
        };
        assert_eq!(
            (detail.kind.as_deref(), detail.message.as_str()),
            (Some("overloaded_error"), "Overloaded")
        );
    }

    #[test]
    fn every_fixture_decodes_the_same_one_byte_at_a_time() {
        for body in [
            TEXT_HELLO,
            TOOL_USE,
            TEXT_PADDED,
            THINKING,
            OVERLOADED_EVENT,
            TEXT_UTF8,
        ] {
            let whole = decode(body, body.len());
            for size in [1, 2, 3, 7, 64] {
                assert_eq!(decode(body, size), whole, "chunk size {size}");
            }
        }
    }

    #[test]
    fn multibyte_characters_split_across_chunks_are_whole() {
        let events = decode(TEXT_UTF8, 1).unwrap();
        assert_eq!(text(&events), "Héllo → 世界 🦀!");
        assert!(
            events
                .iter()
                .all(|e| !matches!(e, StreamEvent::TextDelta(t) if t.contains('\u{fffd}')))
        );
    }

    #[test]
    fn a_stream_without_message_stop_is_cut() {
        let recorded = std::str::from_utf8(TOOL_USE).unwrap();
        // Before the message_delta, after it, and in the middle of the last line.
        for cut in [
            recorded.find("event: message_delta").unwrap(),
            recorded.find("event: message_stop").unwrap(),
            recorded.len() - 5,
        ] {
            assert_eq!(
                decode(&TOOL_USE[..cut], 1),
                Err(DecodeError::Cut),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn cache_tokens_are_counted_in_the_input() {
        let body = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":300,\"cache_read_input_tokens\":2000,\"output_tokens\":1}}}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":40}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(
            decode(body.as_bytes(), body.len()).unwrap(),
            [
                StreamEvent::Finished(FinishReason::Length),
                StreamEvent::Usage(Usage {
                    input_tokens: 2312,
                    output_tokens: 40,
                    cache_read_tokens: 2000,
                    cache_write_tokens: 300,
                    reasoning_tokens: 0,
                    cost_usd: None,
                }),
            ]
        );
    }

    #[test]
    fn redacted_thinking_and_no_argument_tools_are_whole_blocks() {
        let body = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\n",
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgBEgy\"}}\n\n",
            "event: content_block_stop\n",
            "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: content_block_start\n",
            "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"now\",\"input\":{}}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
            "event: content_block_stop\n",
            "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: some_future_event\n",
            "data: {\"type\":\"some_future_event\"}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"},\"usage\":{\"output_tokens\":9}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(
            decode(body.as_bytes(), 5).unwrap(),
            [
                StreamEvent::Reasoning {
                    text: String::new(),
                    signature: Some("EmwKAhgBEgy".into()),
                    id: None,
                    redacted: true,
                },
                StreamEvent::ToolCall(ToolCall::new("toolu_9", "now", "{}")),
                StreamEvent::Finished(FinishReason::ContentFilter),
                StreamEvent::Usage(usage(5, 9)),
            ]
        );
    }

    #[test]
    fn non_json_event_is_malformed() {
        let error = decode(b"event: message_start\ndata: <html>\n\n", 64).unwrap_err();
        assert!(matches!(error, DecodeError::Malformed(m) if m.contains("not JSON")));
    }

    #[test]
    fn whole_message_decodes_into_stream_events() {
        let body = r#"{"id":"msg_3","type":"message","role":"assistant","model":"claude-sonnet-4-5",
            "content":[{"type":"thinking","thinking":"hmm","signature":"sig"},
                       {"type":"text","text":"Checking."},
                       {"type":"tool_use","id":"toolu_1","name":"ls","input":{"path":"."}}],
            "stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":6}}"#;
        assert_eq!(
            decode_message(body).unwrap(),
            [
                StreamEvent::ReasoningDelta("hmm".into()),
                StreamEvent::Reasoning {
                    text: "hmm".into(),
                    signature: Some("sig".into()),
                    id: None,
                    redacted: false,
                },
                StreamEvent::TextDelta("Checking.".into()),
                StreamEvent::ToolCall(ToolCall::new("toolu_1", "ls", r#"{"path":"."}"#)),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(usage(5, 6)),
            ]
        );
        let not_found = include_str!("../../tests/fixtures/anthropic/error_404_not_found_doc.json");
        assert!(matches!(
            decode_message(not_found),
            Err(DecodeError::Remote { request_id: Some(id), .. }) if id == "req_011CSHoEeqs5C35K2UUqR7Fy"
        ));
    }
}
