//! Decoding Responses API streams: typed server-sent events (`event:` names the same type as
//! the payload's `type`), and whole `response` objects from servers that ignore
//! `"stream": true`.
//!
//! Text and reasoning summaries stream as deltas. Output items (reasoning, function calls)
//! are emitted whole when their `response.output_item.done` arrives: that event carries the
//! final `encrypted_content` of a reasoning item, which differs from the provisional one in
//! `response.output_item.added` and is the one the API accepts back. `response.completed`
//! ends the answer; items it lists that no `.done` announced are emitted then.

use std::collections::{HashMap, HashSet};

use code_mesh_core::{FinishReason, StreamEvent};
use code_mesh_protocol::{ToolCall, Usage};
use serde_json::Value;

use crate::error::ErrorDetail;
use crate::sse::SseEvent;

/// Why decoding stopped short.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum DecodeError {
    /// The payload is not an event this client can read.
    Malformed(String),
    /// The server sent an `error` event, `response.failed`, or an error body.
    Remote(ErrorDetail),
    /// The stream ended before `response.completed`.
    Cut,
}

/// A function call whose arguments are still arriving.
#[derive(Debug, Default)]
struct PendingCall {
    call_id: String,
    name: String,
    arguments: String,
}

/// Turns the events of a Responses stream into [`StreamEvent`]s.
#[derive(Debug, Default)]
pub(crate) struct ResponsesStreamDecoder {
    /// Function calls announced by `output_item.added`, by item id, in arrival order.
    calls: Vec<(String, PendingCall)>,
    /// Reasoning summary text streamed per item id, for a `.done` item that lacks it.
    summaries: HashMap<String, String>,
    /// Items already emitted whole, by id, so `response.completed` does not repeat them.
    emitted: HashSet<String>,
    made_calls: bool,
    saw_text: bool,
    done: bool,
}

impl ResponsesStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the response is over (`response.completed` or `response.incomplete`).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Decodes one SSE event.
    pub fn decode_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, DecodeError> {
        let data = event.data.trim();
        if self.done || data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let value: Value = serde_json::from_str(data).map_err(|error| {
            DecodeError::Malformed(format!(
                "a stream event is not JSON ({error}): {}",
                snippet(data)
            ))
        })?;
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(&event.event);
        let mut events = Vec::new();
        match kind {
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(delta) = non_empty(value.get("delta")) {
                    self.saw_text = true;
                    events.push(StreamEvent::TextDelta(delta.to_owned()));
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                if let Some(delta) = non_empty(value.get("delta")) {
                    if let Some(item) = value.get("item_id").and_then(Value::as_str) {
                        self.summaries
                            .entry(item.to_owned())
                            .or_default()
                            .push_str(delta);
                    }
                    events.push(StreamEvent::ReasoningDelta(delta.to_owned()));
                }
            }
            "response.reasoning_summary_part.added" => {
                // Summary parts are paragraphs; keep them apart in the streamed fallback.
                if let Some(text) = value
                    .get("item_id")
                    .and_then(Value::as_str)
                    .and_then(|item| self.summaries.get_mut(item))
                    .filter(|text| !text.is_empty())
                {
                    text.push_str("\n\n");
                }
            }
            "response.output_item.added" => {
                let item = value.get("item").unwrap_or(&Value::Null);
                if item.get("type").and_then(Value::as_str) == Some("function_call") {
                    let id = string(item.get("id")).to_owned();
                    let call = PendingCall {
                        call_id: string(item.get("call_id")).to_owned(),
                        name: string(item.get("name")).to_owned(),
                        arguments: string(item.get("arguments")).to_owned(),
                    };
                    self.calls.push((id, call));
                }
            }
            "response.function_call_arguments.delta" => {
                let id = string(value.get("item_id"));
                if let Some(call) = self.pending_call(id) {
                    call.arguments.push_str(string(value.get("delta")));
                }
            }
            "response.function_call_arguments.done" => {
                let id = string(value.get("item_id"));
                if let (Some(call), Some(arguments)) = (
                    self.pending_call(id),
                    value.get("arguments").and_then(Value::as_str),
                ) {
                    arguments.clone_into(&mut call.arguments);
                }
            }
            "response.output_item.done" => {
                if let Some(item) = value.get("item") {
                    self.emit_item(item, &mut events);
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = value.get("response").unwrap_or(&Value::Null);
                self.complete(response, &mut events);
            }
            "response.failed" => {
                let response = value.get("response").unwrap_or(&Value::Null);
                return Err(DecodeError::Remote(failure(response)));
            }
            "error" => return Err(DecodeError::Remote(error_event(&value))),
            // `response.created`, `.in_progress`, content parts, `.done` confirmations of
            // text already streamed, keep-alives and events this client does not know.
            _ => {}
        }
        Ok(events)
    }

    /// The body ended; `last` is the event the SSE decoder flushed without its blank line.
    /// A last event that is not JSON is a line cut in the middle, hence a cut.
    pub fn end_of_body(&mut self, last: Option<SseEvent>) -> Result<Vec<StreamEvent>, DecodeError> {
        let events = match last.map(|event| self.decode_event(&event)) {
            Some(Err(DecodeError::Malformed(what))) => {
                tracing::debug!(%what, "ignoring a truncated last event");
                Vec::new()
            }
            Some(decoded) => decoded?,
            None => Vec::new(),
        };
        if self.done {
            Ok(events)
        } else {
            Err(DecodeError::Cut)
        }
    }

    fn pending_call(&mut self, id: &str) -> Option<&mut PendingCall> {
        self.calls
            .iter_mut()
            .find(|(item, _)| item == id)
            .map(|(_, call)| call)
    }

    /// Emits a finished reasoning or function call item, once.
    fn emit_item(&mut self, item: &Value, events: &mut Vec<StreamEvent>) {
        let id = string(item.get("id"));
        if !id.is_empty() && !self.emitted.insert(id.to_owned()) {
            return;
        }
        match item.get("type").and_then(Value::as_str) {
            Some("reasoning") => {
                let mut text = summary_text(item);
                if text.is_empty()
                    && let Some(streamed) = self.summaries.remove(id)
                {
                    text = streamed;
                }
                events.push(StreamEvent::Reasoning {
                    redacted: text.is_empty(),
                    text,
                    signature: item
                        .get("encrypted_content")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    id: (!id.is_empty()).then(|| id.to_owned()),
                });
            }
            Some("function_call") => {
                let pending = self
                    .calls
                    .iter()
                    .position(|(item, _)| item == id)
                    .map(|at| self.calls.remove(at).1)
                    .unwrap_or_default();
                let pick = |field: &str, fallback: String| {
                    item.get(field)
                        .and_then(Value::as_str)
                        .filter(|value| !value.is_empty())
                        .map_or(fallback, str::to_owned)
                };
                let call_id = pick("call_id", pending.call_id);
                events.push(StreamEvent::ToolCall(ToolCall {
                    call_id: if call_id.is_empty() {
                        id.to_owned()
                    } else {
                        call_id
                    },
                    name: pick("name", pending.name),
                    arguments: pick("arguments", pending.arguments),
                    signature: None,
                }));
                self.made_calls = true;
            }
            _ => {}
        }
    }

    /// `response.completed` (or `.incomplete`): items not yet emitted, the finish reason,
    /// then usage.
    fn complete(&mut self, response: &Value, events: &mut Vec<StreamEvent>) {
        self.done = true;
        let output = response
            .get("output")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let text_missing = !self.saw_text;
        for item in output {
            if text_missing && item.get("type").and_then(Value::as_str) == Some("message") {
                // A body without deltas (a whole response): the text is only here.
                let text = message_text(item);
                if !text.is_empty() {
                    events.push(StreamEvent::TextDelta(text));
                }
            }
            self.emit_item(item, events);
        }
        // Calls announced but neither finished nor listed: a server that sent no `.done`.
        for (id, call) in std::mem::take(&mut self.calls) {
            if call.name.is_empty() || !self.emitted.insert(id.clone()) {
                continue;
            }
            events.push(StreamEvent::ToolCall(ToolCall {
                call_id: if call.call_id.is_empty() {
                    id
                } else {
                    call.call_id
                },
                name: call.name,
                arguments: call.arguments,
                signature: None,
            }));
            self.made_calls = true;
        }
        events.push(StreamEvent::Finished(self.finish_reason(response)));
        if let Some(usage) = response.get("usage").and_then(wire_usage) {
            events.push(StreamEvent::Usage(usage));
        }
    }

    fn finish_reason(&self, response: &Value) -> FinishReason {
        let status = response
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("completed");
        match status {
            "completed" if self.made_calls => FinishReason::ToolCalls,
            "completed" => FinishReason::Stop,
            "incomplete" => {
                let reason = response
                    .pointer("/incomplete_details/reason")
                    .and_then(Value::as_str)
                    .unwrap_or("incomplete");
                match reason {
                    "max_output_tokens" => FinishReason::Length,
                    "content_filter" => FinishReason::ContentFilter,
                    other => FinishReason::Other(other.to_owned()),
                }
            }
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

/// Decodes a whole JSON body (a server that ignored `"stream": true`, or an error with
/// status 200) into the same events a stream would have produced.
pub(crate) fn decode_body(body: &str) -> Result<Vec<StreamEvent>, DecodeError> {
    let value: Value = serde_json::from_str(body).map_err(|error| {
        DecodeError::Malformed(format!("the body is not JSON ({error}): {}", snippet(body)))
    })?;
    if value.get("error").is_some_and(|error| !error.is_null())
        && let Some(detail) = ErrorDetail::from_json(&value)
    {
        return Err(DecodeError::Remote(detail));
    }
    if !value.get("output").is_some_and(Value::is_array) {
        return Err(DecodeError::Malformed(format!(
            "the body is not a response: {}",
            snippet(body)
        )));
    }
    if value.get("status").and_then(Value::as_str) == Some("failed") {
        return Err(DecodeError::Remote(failure(&value)));
    }
    let mut decoder = ResponsesStreamDecoder::new();
    let mut events = Vec::new();
    decoder.complete(&value, &mut events);
    Ok(events)
}

/// `response.error` of a failed response.
fn failure(response: &Value) -> ErrorDetail {
    response
        .get("error")
        .filter(|error| error.is_object())
        .and_then(|error| ErrorDetail::from_json(&serde_json::json!({ "error": error })))
        .unwrap_or_else(|| ErrorDetail {
            message: "the response failed without saying why".to_owned(),
            kind: None,
            code: None,
        })
}

/// An `error` event: `{"type":"error","code","message","param"}`, or the same nested in
/// `"error"`.
fn error_event(value: &Value) -> ErrorDetail {
    let source = value
        .get("error")
        .filter(|error| error.is_object())
        .unwrap_or(value);
    let text = |key: &str| match source.get(key) {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    ErrorDetail {
        message: text("message").unwrap_or_else(|| "the stream reported an error".to_owned()),
        // The event's own `type` is `error`; only a nested object's type says more.
        kind: if std::ptr::eq(source, value) {
            None
        } else {
            text("type")
        },
        code: text("code"),
    }
}

fn wire_usage(usage: &Value) -> Option<Usage> {
    if !usage.is_object() {
        return None;
    }
    let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage {
        input_tokens: count("/input_tokens"),
        output_tokens: count("/output_tokens"),
        cache_read_tokens: count("/input_tokens_details/cached_tokens"),
        cache_write_tokens: 0,
        reasoning_tokens: count("/output_tokens_details/reasoning_tokens"),
        cost_usd: None,
    })
}

/// The summary paragraphs of a reasoning item, joined by blank lines.
fn summary_text(item: &Value) -> String {
    let parts = item.get("summary").and_then(Value::as_array);
    let texts: Vec<&str> = parts
        .into_iter()
        .flatten()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .filter(|text| !text.is_empty())
        .collect();
    texts.join("\n\n")
}

/// The `output_text` of a message item.
fn message_text(item: &Value) -> String {
    let parts = item.get("content").and_then(Value::as_array);
    parts
        .into_iter()
        .flatten()
        .filter(|part| {
            matches!(
                part.get("type").and_then(Value::as_str),
                Some("output_text" | "refusal")
            )
        })
        .filter_map(|part| {
            part.get("text")
                .or_else(|| part.get("refusal"))
                .and_then(Value::as_str)
        })
        .collect()
}

fn string(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or_default()
}

fn non_empty(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
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

    const TEXT: &[u8] = include_bytes!("../../tests/fixtures/openai-responses/text.sse");
    const FUNCTION_CALL: &[u8] =
        include_bytes!("../../tests/fixtures/openai-responses/function_call.sse");
    const REASONING_FUNCTION_CALL: &[u8] =
        include_bytes!("../../tests/fixtures/openai-responses/reasoning_function_call_seq.sse");
    const ERROR_EVENT: &str =
        include_str!("../../tests/fixtures/openai-responses/error_event_doc.json");

    /// Decodes a stream fed in pieces of `size` bytes, as the provider does, until the end.
    fn decode_in_pieces(body: &[u8], size: usize) -> Result<Vec<StreamEvent>, DecodeError> {
        let mut sse = sse::SseDecoder::new();
        let mut decoder = ResponsesStreamDecoder::new();
        let mut events = Vec::new();
        for piece in body.chunks(size) {
            for event in sse.push(piece) {
                events.extend(decoder.decode_event(&event)?);
                if decoder.is_done() {
                    return Ok(events);
                }
            }
        }
        events.extend(decoder.end_of_body(sse.finish())?);
        Ok(events)
    }

    /// Decodes whole, then one byte at a time, and insists both agree.
    fn decode(body: &[u8]) -> Result<Vec<StreamEvent>, DecodeError> {
        let whole = decode_in_pieces(body, body.len().max(1));
        assert_eq!(decode_in_pieces(body, 1), whole, "one byte per chunk");
        whole
    }

    fn usage(input: u64, output: u64, reasoning: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            reasoning_tokens: reasoning,
            ..Usage::default()
        }
    }

    fn text_deltas(events: &[StreamEvent]) -> Vec<&str> {
        events
            .iter()
            .filter_map(|event| match event {
                StreamEvent::TextDelta(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The `encrypted_content` of the reasoning item in the event of type `kind`.
    fn encrypted_content_of(kind: &str) -> String {
        let text = std::str::from_utf8(REASONING_FUNCTION_CALL).unwrap();
        let line = text
            .lines()
            .find(|line| line.starts_with(&format!("data: {{\"type\":\"{kind}\"")))
            .unwrap();
        let value: Value = serde_json::from_str(&line["data: ".len()..]).unwrap();
        value["item"]["encrypted_content"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn fixture_text() {
        let events = decode(TEXT).unwrap();
        assert_eq!(
            text_deltas(&events),
            ["The", " capital", " of", " France", " is", " Paris", "."]
        );
        assert_eq!(
            text_deltas(&events).concat(),
            "The capital of France is Paris."
        );
        assert_eq!(
            events[7..],
            [
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(usage(278, 9, 0)),
            ]
        );
    }

    #[test]
    fn fixture_function_call() {
        assert_eq!(
            decode(FUNCTION_CALL).unwrap(),
            [
                StreamEvent::ToolCall(ToolCall::new(
                    "call_kL0PCQV7M2WMoVX8V8OtYSAL",
                    "get_capital",
                    r#"{"country":"France"}"#
                )),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(usage(255, 16, 0)),
            ]
        );
    }

    #[test]
    fn fixture_reasoning_then_function_call_keeps_the_done_encrypted_content() {
        let done = encrypted_content_of("response.output_item.done");
        let added = encrypted_content_of("response.output_item.added");
        assert_eq!((added.len(), done.len()), (824, 3896));
        assert!(done.starts_with("gAAAAABoyXvxI6jwG5j6") && done.ends_with("2bg-rk3VE="));
        assert_eq!(
            decode(REASONING_FUNCTION_CALL).unwrap(),
            [
                StreamEvent::Reasoning {
                    text: String::new(),
                    signature: Some(done),
                    id: Some("rs_0050471a34b36ae60068c97bac4dcc819595fd0f80d6b3c405".into()),
                    redacted: true,
                },
                StreamEvent::ToolCall(ToolCall::new(
                    "call_CWXgs68YprAjp6t0371hiPOI",
                    "final_result",
                    r#"{"result":6666}"#
                )),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(usage(53, 469, 448)),
            ]
        );
    }

    #[test]
    fn fixture_error_event() {
        let body = format!(
            "event: error\ndata: {}\n\n",
            ERROR_EVENT.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        assert_eq!(
            decode(body.as_bytes()),
            Err(DecodeError::Remote(ErrorDetail {
                message: "Something went wrong".into(),
                kind: None,
                code: Some("ERR_SOMETHING".into()),
            }))
        );
    }

    #[test]
    fn a_stream_cut_before_completed_is_a_cut() {
        let text = std::str::from_utf8(REASONING_FUNCTION_CALL).unwrap();
        let cut = text.find("event: response.completed").unwrap();
        assert_eq!(
            decode(&REASONING_FUNCTION_CALL[..cut]),
            Err(DecodeError::Cut)
        );
        // Cut inside the last event's JSON.
        assert_eq!(
            decode(&REASONING_FUNCTION_CALL[..cut + 100]),
            Err(DecodeError::Cut)
        );
    }

    #[test]
    fn multi_byte_characters_split_across_chunks_are_reassembled() {
        let body = concat!(
            "event: response.output_text.delta\n",
            "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"delta\":\"Grüße, 世界 🌍\"}\n\n",
            "event: response.completed\n",
            "data: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"output\":[],\"usage\":null}}\n\n",
        );
        assert_eq!(
            decode(body.as_bytes()).unwrap(),
            [
                StreamEvent::TextDelta("Grüße, 世界 🌍".into()),
                StreamEvent::Finished(FinishReason::Stop),
            ]
        );
    }

    #[test]
    fn summaries_stream_as_reasoning_and_arrive_whole_with_the_item() {
        let body = concat!(
            "data: {\"type\":\"response.output_item.added\",\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[],\"encrypted_content\":\"early\"}}\n\n",
            "data: {\"type\":\"response.reasoning_summary_text.delta\",\"item_id\":\"rs_1\",\"delta\":\"**Plan**\"}\n\n",
            "data: {\"type\":\"response.reasoning_summary_text.delta\",\"item_id\":\"rs_1\",\"delta\":\" Read it.\",\"obfuscation\":\"xyz\"}\n\n",
            "data: {\"type\":\"response.output_item.done\",\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"**Plan** Read it.\"}],\"encrypted_content\":\"final\"}}\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Ok\"}\n\n",
            "data: {\"type\":\"response.some_future_event\",\"delta\":{\"x\":1}}\n\n",
            "data: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"output\":[",
            "{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[],\"encrypted_content\":\"again\"}],",
            "\"usage\":{\"input_tokens\":10,\"input_tokens_details\":{\"cached_tokens\":4},",
            "\"output_tokens\":20,\"output_tokens_details\":{\"reasoning_tokens\":12}}}}\n\n",
        );
        assert_eq!(
            decode(body.as_bytes()).unwrap(),
            [
                StreamEvent::ReasoningDelta("**Plan**".into()),
                StreamEvent::ReasoningDelta(" Read it.".into()),
                StreamEvent::Reasoning {
                    text: "**Plan** Read it.".into(),
                    signature: Some("final".into()),
                    id: Some("rs_1".into()),
                    redacted: false,
                },
                StreamEvent::TextDelta("Ok".into()),
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
    fn incomplete_at_the_output_limit_is_length() {
        let body = concat!(
            "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Once upon\"}\n\n",
            "data: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\",",
            "\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"output\":[],",
            "\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}}\n\n",
        );
        assert_eq!(
            decode(body.as_bytes()).unwrap(),
            [
                StreamEvent::TextDelta("Once upon".into()),
                StreamEvent::Finished(FinishReason::Length),
                StreamEvent::Usage(usage(3, 2, 0)),
            ]
        );
    }

    #[test]
    fn failed_response_is_a_remote_error_with_its_code() {
        let body = concat!(
            "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hel\"}\n\n",
            "data: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",",
            "\"error\":{\"code\":\"server_error\",\"message\":\"The model crashed.\"},\"output\":[]}}\n\n",
        );
        assert_eq!(
            decode_in_pieces(body.as_bytes(), 7),
            Err(DecodeError::Remote(ErrorDetail {
                message: "The model crashed.".into(),
                kind: None,
                code: Some("server_error".into()),
            }))
        );
    }

    #[test]
    fn non_json_event_is_malformed() {
        let err = decode(b"event: response.output_text.delta\ndata: <html>\n\n").unwrap_err();
        assert!(matches!(err, DecodeError::Malformed(m) if m.contains("not JSON")));
    }

    #[test]
    fn whole_response_body_decodes_into_stream_events() {
        let body = r#"{"id":"resp_1","object":"response","status":"completed","output":[
            {"type":"reasoning","id":"rs_9","summary":[],"encrypted_content":"enc"},
            {"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Paris.","annotations":[]}]},
            {"type":"function_call","id":"fc_1","call_id":"call_1","name":"ls","arguments":"{}"}],
            "usage":{"input_tokens":9,"output_tokens":2}}"#;
        assert_eq!(
            decode_body(body).unwrap(),
            [
                StreamEvent::Reasoning {
                    text: String::new(),
                    signature: Some("enc".into()),
                    id: Some("rs_9".into()),
                    redacted: true,
                },
                StreamEvent::TextDelta("Paris.".into()),
                StreamEvent::ToolCall(ToolCall::new("call_1", "ls", "{}")),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(usage(9, 2, 0)),
            ]
        );
        let error = r#"{"error":{"message":"No such model","type":"invalid_request_error","code":"model_not_found"}}"#;
        assert!(matches!(
            decode_body(error),
            Err(DecodeError::Remote(detail)) if detail.message == "No such model"
        ));
    }
}
