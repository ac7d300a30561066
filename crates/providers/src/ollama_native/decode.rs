//! Decoding Ollama's `/api/chat` stream: one JSON object per line (NDJSON).
//!
//! `message.content` and `message.thinking` stream as deltas; `message.tool_calls` arrive
//! whole, with their arguments as a JSON object and no id (one is made here). The last line
//! says `"done": true` with the reason and the token counts. A line `{"error": "..."}` ends
//! the stream with that error, even though the HTTP status was 200.

use code_mesh_core::{FinishReason, StreamEvent};
use code_mesh_protocol::{ToolCall, Usage};
use serde::Deserialize;
use serde_json::Value;

use crate::body_stream::{BodyDecoder, CallIds, DecodeError, snippet};
use crate::error::ErrorDetail;

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    message: Option<ChunkMessage>,
    /// `/api/generate`'s text field, read too so a generate-shaped stream still shows.
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
}

#[derive(Deserialize)]
struct ChunkMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    /// Recent Ollama versions may send one; the documented shape has none.
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

/// Turns an Ollama NDJSON body into [`StreamEvent`]s.
#[derive(Debug)]
pub(crate) struct OllamaDecoder {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    ids: CallIds,
    saw_calls: bool,
    done: bool,
}

impl OllamaDecoder {
    pub fn new() -> Self {
        Self::with_ids(CallIds::unique())
    }

    /// A decoder naming calls with `ids` (deterministic ids for tests).
    pub fn with_ids(ids: CallIds) -> Self {
        OllamaDecoder {
            line: Vec::new(),
            ids,
            saw_calls: false,
            done: false,
        }
    }

    fn decode_line(&mut self, line: &[u8]) -> Result<Vec<StreamEvent>, DecodeError> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        if line.is_empty() || self.done {
            return Ok(Vec::new());
        }
        let value: Value = serde_json::from_str(line).map_err(|error| {
            DecodeError::Malformed(format!(
                "a stream line is not JSON ({error}): {}",
                snippet(line)
            ))
        })?;
        if value.get("error").is_some_and(|error| !error.is_null())
            && let Some(detail) = ErrorDetail::from_json(&value)
        {
            return Err(DecodeError::Remote(detail));
        }
        let chunk = Chunk::deserialize(&value).map_err(|error| {
            DecodeError::Malformed(format!(
                "a stream line has an unexpected shape ({error}): {}",
                snippet(line)
            ))
        })?;
        let mut events = Vec::new();
        if let Some(message) = chunk.message {
            if let Some(thinking) = message.thinking.filter(|t| !t.is_empty()) {
                events.push(StreamEvent::ReasoningDelta(thinking));
            }
            if let Some(content) = message.content.filter(|c| !c.is_empty()) {
                events.push(StreamEvent::TextDelta(content));
            }
            for call in message.tool_calls.into_iter().flatten() {
                let arguments = match call.function.arguments {
                    None | Some(Value::Null) => "{}".to_owned(),
                    Some(Value::String(text)) => text,
                    Some(arguments) => arguments.to_string(),
                };
                let call_id = call
                    .id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| self.ids.next_id());
                self.saw_calls = true;
                events.push(StreamEvent::ToolCall(ToolCall::new(
                    call_id,
                    call.function.name,
                    arguments,
                )));
            }
        }
        if let Some(text) = chunk.response.filter(|t| !t.is_empty()) {
            events.push(StreamEvent::TextDelta(text));
        }
        if chunk.done {
            self.done = true;
            let reason = match chunk.done_reason.as_deref() {
                None | Some("" | "stop") if self.saw_calls => FinishReason::ToolCalls,
                None | Some("" | "stop") => FinishReason::Stop,
                Some("length") => FinishReason::Length,
                Some(other) => FinishReason::Other(other.to_owned()),
            };
            events.push(StreamEvent::Finished(reason));
            events.push(StreamEvent::Usage(Usage {
                input_tokens: chunk.prompt_eval_count.unwrap_or(0),
                output_tokens: chunk.eval_count.unwrap_or(0),
                ..Usage::default()
            }));
        }
        Ok(events)
    }
}

impl BodyDecoder for OllamaDecoder {
    fn push(&mut self, mut bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            let (head, tail) = bytes.split_at(end);
            self.line.extend_from_slice(head);
            let line = std::mem::take(&mut self.line);
            out.extend(self.decode_line(&line)?);
            bytes = tail.get(1..).unwrap_or_default();
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let line = std::mem::take(&mut self.line);
        match self.decode_line(&line) {
            // A last line cut in the middle of its JSON.
            Err(DecodeError::Malformed(_)) if !self.done => return Err(DecodeError::Cut),
            decoded => out.extend(decoded?),
        }
        if !self.done {
            return Err(DecodeError::Cut);
        }
        Ok(())
    }

    fn has_finished(&self) -> bool {
        self.done
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::body_stream::decode_all;

    fn decode(body: &str) -> Result<Vec<StreamEvent>, DecodeError> {
        decode_all(
            &mut OllamaDecoder::with_ids(CallIds::with_prefix("t")),
            body.as_bytes(),
        )
    }

    fn decode_until_error(body: &[u8], size: usize) -> (Vec<StreamEvent>, Option<DecodeError>) {
        crate::body_stream::decode_until_error(
            &mut OllamaDecoder::with_ids(CallIds::with_prefix("t")),
            body,
            size,
        )
    }

    /// Decodes whole and one byte at a time; both must agree.
    fn decode_both_ways(body: &[u8]) -> (Vec<StreamEvent>, Option<DecodeError>) {
        let whole = decode_until_error(body, body.len().max(1));
        assert_eq!(decode_until_error(body, 1), whole, "one byte per chunk");
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

    const TEXT_LENGTH: &[u8] =
        include_bytes!("../../tests/fixtures/ollama/chat_text_length.ndjson");
    const TOOL_CALL: &[u8] =
        include_bytes!("../../tests/fixtures/ollama/chat_tool_call_doc.ndjson");
    const MIDSTREAM_ERROR: &[u8] =
        include_bytes!("../../tests/fixtures/ollama/generate_midstream_error_doc.ndjson");

    #[test]
    fn fixture_text_length() {
        let (events, error) = decode_both_ways(TEXT_LENGTH);
        assert_eq!(error, None);
        assert_eq!(
            text_of(&events),
            "Hello! How are you today? Is there something I can help you with or would you like to"
        );
        assert_eq!(events.len(), 22, "20 deltas, the finish and the usage");
        assert_eq!(
            events[20..],
            [
                StreamEvent::Finished(FinishReason::Length),
                StreamEvent::Usage(Usage {
                    input_tokens: 11,
                    output_tokens: 20,
                    ..Usage::default()
                }),
            ]
        );
    }

    #[test]
    fn fixture_tool_call_gets_an_id_and_object_arguments_as_text() {
        let (events, error) = decode_both_ways(TOOL_CALL);
        assert_eq!(error, None);
        assert_eq!(
            events,
            [
                StreamEvent::ToolCall(ToolCall::new("t_0", "get_weather", r#"{"city":"Tokyo"}"#)),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(Usage {
                    input_tokens: 169,
                    output_tokens: 15,
                    ..Usage::default()
                }),
            ]
        );
    }

    #[test]
    fn fixture_midstream_error_keeps_the_partial_text_and_fails() {
        let (events, error) = decode_both_ways(MIDSTREAM_ERROR);
        assert_eq!(text_of(&events), " Yes.Ican");
        assert_eq!(events.len(), 4);
        assert_eq!(
            error,
            Some(DecodeError::Remote(ErrorDetail {
                message: "an error was encountered while running the model".into(),
                kind: None,
                code: None,
            }))
        );
    }

    #[test]
    fn multi_byte_characters_split_across_chunks_are_reassembled() {
        let body = "{\"message\":{\"content\":\"héllo → 世界 🦀\"},\"done\":false}\n{\"done\":true,\"done_reason\":\"stop\"}\n";
        let (events, error) = decode_both_ways(body.as_bytes());
        assert_eq!(error, None);
        assert_eq!(events[0], StreamEvent::TextDelta("héllo → 世界 🦀".into()));
    }

    #[test]
    fn thinking_text_and_calls_are_decoded() {
        let body = concat!(
            "{\"model\":\"qwen3\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Hmm\"},\"done\":false}\n",
            "{\"model\":\"qwen3\",\"message\":{\"role\":\"assistant\",\"content\":\"Sure.\"},\"done\":false}\r\n",
            "{\"model\":\"qwen3\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[",
            "{\"function\":{\"name\":\"ls\",\"arguments\":{}}},{\"function\":{\"name\":\"read\",\"arguments\":{\"path\":\"a\"}}}]},\"done\":false}\n",
            "{\"model\":\"qwen3\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":7,\"eval_count\":3}",
        );
        assert_eq!(
            decode(body).unwrap(),
            [
                StreamEvent::ReasoningDelta("Hmm".into()),
                StreamEvent::TextDelta("Sure.".into()),
                StreamEvent::ToolCall(ToolCall::new("t_0", "ls", "{}")),
                StreamEvent::ToolCall(ToolCall::new("t_1", "read", r#"{"path":"a"}"#)),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(Usage {
                    input_tokens: 7,
                    output_tokens: 3,
                    ..Usage::default()
                }),
            ]
        );
    }

    #[test]
    fn eof_before_done_is_a_cut() {
        let line = "{\"message\":{\"content\":\"Hi\"},\"done\":false}\n";
        assert_eq!(decode(line), Err(DecodeError::Cut));
        assert_eq!(decode(&line[..20]), Err(DecodeError::Cut));
        assert_eq!(decode(""), Err(DecodeError::Cut));
    }

    #[test]
    fn lines_after_done_are_ignored_and_garbage_is_malformed() {
        let body = "{\"done\":true}\n{\"message\":{\"content\":\"late\"},\"done\":false}\n";
        assert_eq!(
            decode(body).unwrap(),
            [
                StreamEvent::Finished(FinishReason::Stop),
                StreamEvent::Usage(Usage::default()),
            ]
        );
        assert!(matches!(
            decode("<html>\n"),
            Err(DecodeError::Malformed(m)) if m.contains("not JSON")
        ));
    }
}
