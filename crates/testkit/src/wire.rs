//! The OpenAI Chat Completions streaming wire, byte for byte as the real API writes it
//! (compare `tests/fixtures/*.sse`). Field order, `null`s and the way content is split
//! all matter: clients are tested against these bytes, so the structs below mirror the
//! recordings field by field instead of going through `serde_json::Value`, whose maps
//! would sort the keys.

use bytes::Bytes;
use serde::Serialize;

use crate::plan::StreamReply;
use crate::script::Usage;

/// The stream terminator.
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

/// Characters per tool-arguments fragment: small enough that JSON tokens and escapes
/// are cut in the middle, as the real API does, so clients must reassemble.
const ARGUMENT_PIECE_CHARS: usize = 6;

/// What every chunk of one reply repeats.
pub(crate) struct ChunkHeader<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
}

/// The events of one streamed reply.
pub(crate) struct ReplyEvents {
    pub events: Vec<Bytes>,
    /// Index of the event carrying the finish reason: once it is about to be sent the
    /// reply counts as complete (its tool calls are issued).
    pub finish_index: usize,
}

#[derive(Serialize)]
struct Chunk<'a, D> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: [Choice<'a, D>; 1],
}

#[derive(Serialize)]
struct Choice<'a, D> {
    index: u32,
    delta: D,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct UsageChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: [(); 0],
    usage: UsageCounts,
}

#[derive(Serialize)]
struct UsageCounts {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

/// First delta of a reply with content: `{"role":"assistant","content":"","refusal":null}`.
#[derive(Serialize)]
struct StartWithContent {
    role: &'static str,
    content: &'static str,
    refusal: Option<()>,
}

/// First delta of a tool-calls-only reply: `{"role":"assistant","content":null}`.
#[derive(Serialize)]
struct StartWithoutContent {
    role: &'static str,
    content: Option<()>,
}

#[derive(Serialize)]
struct ContentDelta<'a> {
    content: &'a str,
}

#[derive(Serialize)]
struct ReasoningDelta<'a> {
    reasoning_content: &'a str,
}

#[derive(Serialize)]
struct ToolCallsDelta<'a> {
    tool_calls: [ToolCallFragment<'a>; 1],
}

/// `id`, `type` and `name` appear only in a call's first fragment.
#[derive(Serialize)]
struct ToolCallFragment<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionFragment<'a>,
}

#[derive(Serialize)]
struct FunctionFragment<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct EmptyDelta {}

impl ChunkHeader<'_> {
    fn event<D: Serialize>(&self, delta: D, finish_reason: Option<&str>) -> Bytes {
        data_event(&Chunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model,
            system_fingerprint: "fp_testkit",
            choices: [Choice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }],
        })
    }

    fn usage_event(&self, usage: Usage) -> Bytes {
        data_event(&UsageChunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model,
            system_fingerprint: "fp_testkit",
            choices: [],
            usage: UsageCounts {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                total_tokens: usage.prompt_tokens + usage.completion_tokens,
            },
        })
    }
}

/// Every event of a streamed reply, `[DONE]` included; `usage` adds the usage chunk
/// (sent only when the request asked for `stream_options.include_usage`).
pub(crate) fn reply_events(
    header: &ChunkHeader<'_>,
    reply: &StreamReply,
    usage: Option<Usage>,
) -> ReplyEvents {
    let mut events = Vec::new();
    if reply.text.is_none() && !reply.calls.is_empty() {
        events.push(header.event(
            StartWithoutContent {
                role: "assistant",
                content: None,
            },
            None,
        ));
    } else {
        events.push(header.event(
            StartWithContent {
                role: "assistant",
                content: "",
                refusal: None,
            },
            None,
        ));
    }
    for piece in split_words(reply.reasoning.as_deref().unwrap_or_default()) {
        events.push(header.event(
            ReasoningDelta {
                reasoning_content: piece,
            },
            None,
        ));
    }
    for piece in split_words(reply.text.as_deref().unwrap_or_default()) {
        events.push(header.event(ContentDelta { content: piece }, None));
    }
    for (index, call) in reply.calls.iter().enumerate() {
        events.push(tool_fragment(header, index, Some(call), ""));
        for piece in split_chars(&call.arguments, ARGUMENT_PIECE_CHARS) {
            events.push(tool_fragment(header, index, None, piece));
        }
    }
    let finish_index = events.len();
    events.push(header.event(EmptyDelta {}, Some(&reply.finish_reason)));
    if let Some(usage) = usage {
        events.push(header.usage_event(usage));
    }
    events.push(Bytes::from_static(DONE));
    ReplyEvents {
        events,
        finish_index,
    }
}

fn tool_fragment(
    header: &ChunkHeader<'_>,
    index: usize,
    first: Option<&crate::plan::PlannedCall>,
    arguments: &str,
) -> Bytes {
    header.event(
        ToolCallsDelta {
            tool_calls: [ToolCallFragment {
                index,
                id: first.map(|call| call.id.as_str()),
                kind: first.map(|_| "function"),
                function: FunctionFragment {
                    name: first.map(|call| call.name.as_str()),
                    arguments,
                },
            }],
        },
        None,
    )
}

/// `data: <compact json>\n\n`.
fn data_event<T: Serialize>(value: &T) -> Bytes {
    let mut bytes = b"data: ".to_vec();
    bytes.extend_from_slice(compact_json(value).as_bytes());
    bytes.extend_from_slice(b"\n\n");
    Bytes::from(bytes)
}

/// Compact JSON. The types serialized here have string keys only, which cannot fail;
/// should that ever change the error still reaches the client as visible JSON text.
pub(crate) fn compact_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|error| format!("\"testkit: cannot encode JSON: {error}\""))
}

/// Splits text like the API's tokens: each piece is a word with the whitespace before
/// it (`"I'm"`, `" unable"`, `" to"`), so concatenating the pieces gives the text back.
pub(crate) fn split_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut previous_was_space = false;
    for (at, character) in text.char_indices() {
        let is_space = character.is_whitespace();
        if is_space && !previous_was_space && at > start {
            pieces.push(&text[start..at]);
            start = at;
        }
        previous_was_space = is_space;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Splits into pieces of at most `size` characters, on character boundaries.
pub(crate) fn split_chars(text: &str, size: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (count, (at, _)) in text.char_indices().enumerate() {
        if count > 0 && count % size.max(1) == 0 {
            pieces.push(&text[start..at]);
            start = at;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Splits a recorded stream after each blank line (`\n\n` or `\r\n\r\n`), keeping every
/// byte, so replayed streams can be delayed and cut per event.
pub(crate) fn split_events(bytes: &Bytes) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let end = if rest.starts_with(b"\r\n\r\n") {
            Some(at + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(at + 2)
        } else {
            None
        };
        match end {
            Some(end) => {
                events.push(bytes.slice(start..end));
                start = end;
                at = end;
            }
            None => at += 1,
        }
    }
    if start < bytes.len() {
        events.push(bytes.slice(start..));
    }
    events
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<()>,
    code: Option<&'a str>,
}

/// An OpenAI error body, indented by four spaces and ending in a newline as the API
/// sends it (`error_429_insufficient_quota.json`).
pub(crate) fn error_body(message: &str, kind: &str, code: Option<&str>) -> Bytes {
    let envelope = ErrorEnvelope {
        error: ErrorBody {
            message,
            kind,
            param: None,
            code,
        },
    };
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    if envelope.serialize(&mut serializer).is_err() {
        bytes = compact_json(&envelope).into_bytes();
    }
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// The body the real API sends for a status, used when a scripted error has no `body`.
pub(crate) fn scripted_error_body(status: u16, model: &str) -> Bytes {
    match status {
        401 => error_body(
            "Incorrect API key provided: sk-testkit. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        404 => error_body(
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            Some("model_not_found"),
        ),
        429 => error_body(
            &format!(
                "Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s."
            ),
            "requests",
            Some("rate_limit_exceeded"),
        ),
        500 => error_body(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        503 => error_body(
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
        ),
        status if status >= 500 => error_body(
            &format!("Scripted server error (HTTP {status})."),
            "server_error",
            None,
        ),
        status => error_body(
            &format!("Scripted request error (HTTP {status})."),
            "invalid_request_error",
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlannedCall;

    fn header() -> ChunkHeader<'static> {
        ChunkHeader {
            id: "chatcmpl-testkit1",
            created: 1727346168,
            model: "gpt-x",
        }
    }

    fn text(events: &[Bytes]) -> Vec<String> {
        events
            .iter()
            .map(|event| String::from_utf8_lossy(event).into_owned())
            .collect()
    }

    #[test]
    fn words_keep_their_leading_whitespace() {
        assert_eq!(
            split_words("I'm unable  to\nhelp. "),
            vec!["I'm", " unable", "  to", "\nhelp.", " "]
        );
        assert_eq!(split_words(" hi"), vec![" hi"]);
        assert!(split_words("").is_empty());
    }

    #[test]
    fn chars_split_on_boundaries_and_join_back() {
        let text = "{\"path\":\"é/ü.rs\"}";
        let pieces = split_chars(text, 6);
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|piece| piece.chars().count() <= 6));
        assert_eq!(pieces[0], "{\"path");
        assert!(split_chars("", 6).is_empty());
    }

    #[test]
    fn events_split_after_blank_lines_keeping_every_byte() {
        let raw = Bytes::from_static(b"data: a\n\ndata: b\r\n\r\n: comment\ndata: c");
        let events = split_events(&raw);
        assert_eq!(
            text(&events),
            vec!["data: a\n\n", "data: b\r\n\r\n", ": comment\ndata: c"]
        );
    }

    #[test]
    fn text_reply_matches_the_recorded_layout() {
        let reply = StreamReply {
            text: Some("Hi there".into()),
            reasoning: None,
            calls: vec![],
            finish_reason: "stop".into(),
            usage: None,
        };
        let usage = Usage {
            prompt_tokens: 14,
            completion_tokens: 30,
        };
        let events = reply_events(&header(), &reply, Some(usage));
        let prefix = r#"data: {"id":"chatcmpl-testkit1","object":"chat.completion.chunk","created":1727346168,"model":"gpt-x","system_fingerprint":"fp_testkit","choices":"#;
        let expected = vec![
            format!(
                "{prefix}[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
            ),
            format!(
                "{prefix}[{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
            ),
            format!(
                "{prefix}[{{\"index\":0,\"delta\":{{\"content\":\" there\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
            ),
            format!(
                "{prefix}[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]}}\n\n"
            ),
            format!(
                "{prefix}[],\"usage\":{{\"prompt_tokens\":14,\"completion_tokens\":30,\"total_tokens\":44}}}}\n\n"
            ),
            "data: [DONE]\n\n".to_owned(),
        ];
        pretty_assertions::assert_eq!(text(&events.events), expected);
        assert_eq!(events.finish_index, 3);
    }

    #[test]
    fn tool_call_reply_sends_id_and_name_once_then_fragments() {
        let reply = StreamReply {
            text: None,
            reasoning: Some("think".into()),
            calls: vec![PlannedCall {
                id: "call_1".into(),
                name: "read".into(),
                arguments: r#"{"path":"a"}"#.into(),
            }],
            finish_reason: "tool_calls".into(),
            usage: None,
        };
        let events = text(&reply_events(&header(), &reply, None).events);
        let deltas: Vec<&str> = events
            .iter()
            .map(|event| {
                let start = event.find("\"delta\":").map_or(0, |at| at + 8);
                let end = event.find(",\"logprobs\"").unwrap_or(event.len());
                &event[start..end]
            })
            .collect();
        pretty_assertions::assert_eq!(
            deltas,
            vec![
                r#"{"role":"assistant","content":null}"#,
                r#"{"reasoning_content":"think"}"#,
                r#"{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read","arguments":""}}]}"#,
                r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"path"}}]}"#,
                r#"{"tool_calls":[{"index":0,"function":{"arguments":"\":\"a\"}"}}]}"#,
                r#"{}"#,
                "data: [DONE]\n\n",
            ]
        );
    }

    #[test]
    fn error_bodies_are_indented_like_the_api() {
        let body = error_body("quota", "insufficient_quota", Some("insufficient_quota"));
        assert_eq!(
            String::from_utf8_lossy(&body),
            "{\n    \"error\": {\n        \"message\": \"quota\",\n        \"type\": \"insufficient_quota\",\n        \"param\": null,\n        \"code\": \"insufficient_quota\"\n    }\n}\n"
        );
    }
}
