//! Decoding `streamGenerateContent?alt=sse`: one `GenerateContentResponse` per SSE event
//! (CRLF framing, no `[DONE]`; the stream ends at EOF).
//!
//! Text parts stream as deltas (`"thought": true` parts as reasoning); a `functionCall`
//! arrives whole in one part, with its `thoughtSignature` beside it, and gets an id made
//! here because Gemini sends none. `usageMetadata` is repeated (and revised) on every chunk,
//! so only the last one counts: it is emitted at the end of the body.

use code_mesh_core::{FinishReason, StreamEvent};
use code_mesh_protocol::{ToolCall, Usage};
use serde::Deserialize;
use serde_json::Value;

use crate::body_stream::{BodyDecoder, CallIds, DecodeError, snippet};
use crate::error::ErrorDetail;
use crate::sse::{SseDecoder, SseEvent};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    #[serde(default)]
    candidates: Option<Vec<Candidate>>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Option<Vec<WirePart>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default)]
    function_call: Option<FunctionCall>,
    #[serde(default)]
    thought_signature: Option<String>,
}

#[derive(Deserialize)]
struct FunctionCall {
    #[serde(default)]
    name: String,
    #[serde(default)]
    args: Option<Value>,
    /// Sent by some Gemini endpoints (Live API, Vertex); absent on the Developer API.
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
    #[serde(default)]
    thoughts_token_count: Option<u64>,
    #[serde(default)]
    cached_content_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

impl UsageMetadata {
    fn to_usage(&self) -> Usage {
        let thoughts = self.thoughts_token_count.unwrap_or(0);
        Usage {
            input_tokens: self.prompt_token_count.unwrap_or(0),
            output_tokens: self.candidates_token_count.unwrap_or(0) + thoughts,
            cache_read_tokens: self.cached_content_token_count.unwrap_or(0),
            cache_write_tokens: 0,
            reasoning_tokens: thoughts,
            cost_usd: None,
        }
    }
}

/// Turns a Gemini SSE body into [`StreamEvent`]s.
#[derive(Debug)]
pub(crate) struct GeminiDecoder {
    sse: SseDecoder,
    ids: CallIds,
    saw_calls: bool,
    finished: bool,
    usage: Option<Usage>,
    done: bool,
}

impl GeminiDecoder {
    pub fn new() -> Self {
        Self::with_ids(CallIds::unique())
    }

    /// A decoder naming calls with `ids` (deterministic ids for tests).
    pub fn with_ids(ids: CallIds) -> Self {
        GeminiDecoder {
            sse: SseDecoder::new(),
            ids,
            saw_calls: false,
            finished: false,
            usage: None,
            done: false,
        }
    }

    fn decode_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, DecodeError> {
        let data = event.data.trim();
        if data.is_empty() || self.done {
            return Ok(Vec::new());
        }
        let value: Value = serde_json::from_str(data).map_err(|error| {
            DecodeError::Malformed(format!(
                "a stream chunk is not JSON ({error}): {}",
                snippet(data)
            ))
        })?;
        self.decode_value(&value)
    }

    /// Decodes one `GenerateContentResponse` (or an `{"error": ...}` payload).
    pub fn decode_value(&mut self, value: &Value) -> Result<Vec<StreamEvent>, DecodeError> {
        if value.get("error").is_some_and(|error| !error.is_null())
            && let Some(detail) = ErrorDetail::from_json(value)
        {
            return Err(DecodeError::Remote(detail));
        }
        let chunk = Chunk::deserialize(value).map_err(|error| {
            DecodeError::Malformed(format!(
                "a stream chunk has an unexpected shape ({error}): {}",
                snippet(&value.to_string())
            ))
        })?;
        if let Some(usage) = &chunk.usage_metadata {
            self.usage = Some(usage.to_usage());
        }
        let mut events = Vec::new();
        let candidate = chunk.candidates.into_iter().flatten().next();
        let Some(candidate) = candidate else {
            if let Some(reason) = chunk.prompt_feedback.and_then(|f| f.block_reason) {
                tracing::debug!(%reason, "gemini blocked the prompt");
                self.finish_with(FinishReason::ContentFilter, &mut events);
            }
            return Ok(events);
        };
        for part in candidate
            .content
            .and_then(|c| c.parts)
            .into_iter()
            .flatten()
        {
            if let Some(call) = part.function_call {
                let arguments = match call.args {
                    None | Some(Value::Null) => "{}".to_owned(),
                    Some(Value::String(text)) => text,
                    Some(args) => args.to_string(),
                };
                let call_id = call
                    .id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| self.ids.next_id());
                self.saw_calls = true;
                events.push(StreamEvent::ToolCall(ToolCall {
                    call_id,
                    name: call.name,
                    arguments,
                    signature: part.thought_signature,
                }));
            } else if let Some(text) = part.text.filter(|text| !text.is_empty()) {
                if part.thought == Some(true) {
                    events.push(StreamEvent::ReasoningDelta(text));
                } else {
                    events.push(StreamEvent::TextDelta(text));
                }
            }
        }
        if let Some(reason) = candidate.finish_reason {
            let reason = finish_reason(&reason, self.saw_calls);
            self.finish_with(reason, &mut events);
        }
        Ok(events)
    }

    fn finish_with(&mut self, reason: FinishReason, events: &mut Vec<StreamEvent>) {
        if !self.finished {
            self.finished = true;
            events.push(StreamEvent::Finished(reason));
        }
    }
}

impl BodyDecoder for GeminiDecoder {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        for event in self.sse.push(bytes) {
            out.extend(self.decode_event(&event)?);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.done {
            return Ok(());
        }
        match self.sse.finish().map(|event| self.decode_event(&event)) {
            // A last event cut in the middle of its JSON is a cut stream, or nothing once
            // the model finished.
            Some(Err(DecodeError::Malformed(what))) => {
                tracing::debug!(%what, "ignoring a truncated last event");
            }
            Some(decoded) => out.extend(decoded?),
            None => {}
        }
        if !self.finished {
            return Err(DecodeError::Cut);
        }
        self.done = true;
        out.extend(self.usage.take().map(StreamEvent::Usage));
        Ok(())
    }

    fn has_finished(&self) -> bool {
        self.finished
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// Gemini's finish reasons. `STOP` also ends a turn of function calls: Gemini has no
/// reason of its own for that.
fn finish_reason(reason: &str, saw_calls: bool) -> FinishReason {
    match reason {
        "STOP" if saw_calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "LANGUAGE" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::body_stream::{decode_all, decode_in_chunks};

    fn decode(body: &[u8]) -> Result<Vec<StreamEvent>, DecodeError> {
        decode_all(
            &mut GeminiDecoder::with_ids(CallIds::with_prefix("t")),
            body,
        )
    }

    /// Decodes `body` whole and fed one byte at a time, checks both give the same events,
    /// and returns them.
    fn decode_both_ways(body: &[u8]) -> Vec<StreamEvent> {
        let whole = decode(body).unwrap();
        let bytewise = decode_in_chunks(
            &mut GeminiDecoder::with_ids(CallIds::with_prefix("t")),
            body,
            1,
        )
        .unwrap();
        assert_eq!(bytewise, whole, "one byte per chunk");
        whole
    }

    fn text_of(events: &[StreamEvent]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    const TEXT: &[u8] = include_bytes!("../../tests/fixtures/gemini/text.sse");
    const FUNCTION_CALL: &[u8] = include_bytes!("../../tests/fixtures/gemini/function_call.sse");
    const THOUGHT_SIGNATURE: &[u8] =
        include_bytes!("../../tests/fixtures/gemini/function_call_thought_signature.sse");
    const THOUGHTS_USAGE: &[u8] =
        include_bytes!("../../tests/fixtures/gemini/text_thoughts_usage.sse");

    #[test]
    fn fixture_text_takes_the_last_usage() {
        assert_eq!(
            decode_both_ways(TEXT),
            [
                StreamEvent::TextDelta("The".into()),
                StreamEvent::TextDelta(" capital of France".into()),
                StreamEvent::TextDelta(" is Paris.\n".into()),
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(Usage {
                    input_tokens: 13,
                    output_tokens: 8,
                    ..Usage::default()
                }),
            ]
        );
    }

    #[test]
    fn fixture_function_call_gets_an_id_and_tool_calls_finish() {
        assert_eq!(
            decode_both_ways(FUNCTION_CALL),
            [
                StreamEvent::ToolCall(ToolCall::new(
                    "t_0",
                    "get_capital",
                    r#"{"country":"France"}"#
                )),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(Usage {
                    input_tokens: 52,
                    output_tokens: 5,
                    ..Usage::default()
                }),
            ]
        );
    }

    #[test]
    fn fixture_thought_signature_is_kept_verbatim() {
        let events = decode_both_ways(THOUGHT_SIGNATURE);
        let [
            StreamEvent::ToolCall(call),
            StreamEvent::Finished(FinishReason::ToolCalls),
            StreamEvent::Usage(usage),
        ] = events.as_slice()
        else {
            panic!("unexpected events: {events:?}");
        };
        assert_eq!(
            (call.call_id.as_str(), call.name.as_str()),
            ("t_0", "get_country")
        );
        assert_eq!(call.arguments, "{}");
        let signature = call.signature.as_deref().unwrap();
        assert_eq!(signature.len(), 1408);
        assert!(signature.starts_with("EpwICpkIAXLI2nxl"));
        let raw = std::str::from_utf8(THOUGHT_SIGNATURE).unwrap();
        assert!(raw.contains(&format!("\"thoughtSignature\": \"{signature}\"")));
        assert_eq!(
            *usage,
            Usage {
                input_tokens: 29,
                output_tokens: 212,
                reasoning_tokens: 202,
                ..Usage::default()
            }
        );
        assert_eq!(text_of(&events), "", "the empty text part is no delta");
    }

    #[test]
    fn fixture_text_thoughts_usage_joins_numbers_split_across_chunks() {
        let events = decode_both_ways(THOUGHTS_USAGE);
        let expected: Vec<String> = (1..=30).map(|n| n.to_string()).collect();
        assert_eq!(text_of(&events), expected.join("\n"));
        assert_eq!(
            events[events.len() - 2..],
            [
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(Usage {
                    input_tokens: 18,
                    output_tokens: 115,
                    reasoning_tokens: 35,
                    ..Usage::default()
                }),
            ]
        );
    }

    #[test]
    fn multi_byte_characters_split_across_chunks_are_reassembled() {
        let body = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"héllo → 世界 🦀\"}],\"role\": \"model\"},\"finishReason\": \"STOP\"}]}\r\n\r\n";
        assert_eq!(
            decode_both_ways(body.as_bytes()),
            [
                StreamEvent::TextDelta("héllo → 世界 🦀".into()),
                StreamEvent::Finished(FinishReason::Stop),
            ]
        );
    }

    #[test]
    fn thought_parts_are_reasoning_and_blocked_prompts_a_content_filter() {
        let body = concat!(
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Let me think\",\"thought\": true}],\"role\": \"model\"}}]}\r\n\r\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"42\"}],\"role\": \"model\"},\"finishReason\": \"MAX_TOKENS\"}],",
            "\"usageMetadata\": {\"promptTokenCount\": 10,\"candidatesTokenCount\": 2,\"thoughtsTokenCount\": 5,\"cachedContentTokenCount\": 4}}\r\n\r\n",
        );
        assert_eq!(
            decode(body.as_bytes()).unwrap(),
            [
                StreamEvent::ReasoningDelta("Let me think".into()),
                StreamEvent::TextDelta("42".into()),
                StreamEvent::Finished(FinishReason::Length),
                StreamEvent::Usage(Usage {
                    input_tokens: 10,
                    output_tokens: 7,
                    cache_read_tokens: 4,
                    cache_write_tokens: 0,
                    reasoning_tokens: 5,
                    cost_usd: None,
                }),
            ]
        );
        let blocked = "data: {\"promptFeedback\": {\"blockReason\": \"SAFETY\"},\"usageMetadata\": {\"promptTokenCount\": 3}}\r\n\r\n";
        assert_eq!(
            decode(blocked.as_bytes()).unwrap(),
            [
                StreamEvent::Finished(FinishReason::ContentFilter),
                StreamEvent::Usage(Usage {
                    input_tokens: 3,
                    ..Usage::default()
                }),
            ]
        );
    }

    #[test]
    fn safety_and_recitation_are_content_filters() {
        for reason in ["SAFETY", "RECITATION", "PROHIBITED_CONTENT"] {
            assert_eq!(finish_reason(reason, false), FinishReason::ContentFilter);
        }
        assert_eq!(
            finish_reason("MALFORMED_FUNCTION_CALL", false),
            FinishReason::Other("malformed_function_call".into())
        );
    }

    #[test]
    fn an_error_payload_mid_stream_is_an_error() {
        let body = concat!(
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"}}]}\r\n\r\n",
            "data: {\"error\": {\"code\": 503,\"message\": \"The model is overloaded.\",\"status\": \"UNAVAILABLE\"}}\r\n\r\n",
        );
        let error = decode(body.as_bytes()).unwrap_err();
        assert_eq!(
            error,
            DecodeError::Remote(ErrorDetail {
                message: "The model is overloaded.".into(),
                kind: Some("UNAVAILABLE".into()),
                code: Some("503".into()),
            })
        );
    }

    #[test]
    fn eof_without_finish_reason_is_a_cut_and_garbage_is_malformed() {
        let body = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"}}]}\r\n\r\n";
        assert_eq!(decode(body.as_bytes()), Err(DecodeError::Cut));
        assert_eq!(decode(b""), Err(DecodeError::Cut));
        let garbage = decode(b"data: <html>\r\n\r\n").unwrap_err();
        assert!(matches!(garbage, DecodeError::Malformed(m) if m.contains("not JSON")));
    }

    #[test]
    fn provider_call_ids_are_kept() {
        let body = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"id\": \"fc-1\",\"name\": \"ls\"}}]},\"finishReason\": \"STOP\"}]}\r\n\r\n";
        let events = decode_in_chunks(
            &mut GeminiDecoder::with_ids(CallIds::with_prefix("t")),
            body.as_bytes(),
            3,
        )
        .unwrap();
        assert_eq!(
            events,
            [
                StreamEvent::ToolCall(ToolCall::new("fc-1", "ls", "{}")),
                StreamEvent::Finished(FinishReason::ToolCalls),
            ]
        );
    }
}
