//! The Anthropic Messages streaming wire (`POST /v1/messages`), byte for byte as the real API
//! writes it (compare the providers crate's `tests/fixtures/anthropic/*.sse`): named events
//! (`event: content_block_delta` over `data: {"type":"content_block_delta",...}`), a `ping`
//! after the first block starts, `input_json_delta` fragments that cut JSON tokens in the
//! middle after a first empty one, thinking blocks closed by a `signature_delta`, usage
//! split between `message_start` and `message_delta`, and no `[DONE]`.
//!
//! Requests are read into the same normalized, Chat-shaped request the checks use: `system`
//! becomes a system message, `tool_use` blocks assistant tool calls, `tool_result` blocks
//! `tool` messages and thinking text `reasoning_content`, so tool pairing and `expect` work
//! unchanged. What the real API refuses with a 400 is refused here too: a `tool_use` not
//! answered by the very next message, `tool_result` blocks after text, empty text blocks,
//! more than four `cache_control` breakpoints, a temperature with thinking on, a thinking
//! block without its signature, and a testkit thinking block whose signature does not match
//! its text (thinking must come back unchanged).

use std::collections::HashSet;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::check::ChatRequest;
use crate::plan::StreamReply;
use crate::script::Usage;
use crate::wire::{compact_json, split_chars, split_words};

/// Characters per `input_json_delta` fragment: JSON tokens get cut in the middle.
const ARGUMENT_PIECE_CHARS: usize = 6;

/// The start of every signature this server issues.
const SIGNATURE_PREFIX: &str = "EtestkitSig";

/// Most `cache_control` breakpoints one request may carry.
const MAX_CACHE_BREAKPOINTS: usize = 4;

/// The deterministic signature of a thinking block with this text.
pub(crate) fn signature_for(thinking: &str) -> String {
    // FNV-1a, twice with different seeds: stable across runs and Rust versions.
    let fnv = |seed: u64| {
        thinking.bytes().fold(seed, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{SIGNATURE_PREFIX}{:016x}{:016x}==",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x8422_2325_cbf2_9ce4)
    )
}

// ---------------------------------------------------------------------------------------
// Requests

/// Reads a Messages request into the normalized request; anything the real API would
/// refuse, or a streaming client must not send, is an error naming the problem.
pub(crate) fn parse_request(body: &Value) -> Result<ChatRequest, String> {
    if !body.is_object() {
        return Err("the request body is not a JSON object".into());
    }
    let model = body["model"]
        .as_str()
        .filter(|model| !model.is_empty())
        .ok_or("the request has no `model` string")?;
    if body["max_tokens"].as_u64().is_none_or(|max| max == 0) {
        return Err("`max_tokens`: Field required (a positive integer)".into());
    }
    if body["stream"] != Value::Bool(true) {
        return Err("the request does not set `stream: true`".into());
    }
    let thinking_on = body["thinking"]["type"] == "enabled";
    if thinking_on && !body["temperature"].is_null() && body["temperature"] != json!(1) {
        return Err(
            "`temperature` may only be set to 1 when thinking is enabled (leave it out)".into(),
        );
    }
    let mut breakpoints = 0;
    let mut messages = Vec::new();
    match &body["system"] {
        Value::Null => {}
        Value::String(text) => messages.push(json!({"role": "system", "content": text})),
        Value::Array(blocks) => {
            let mut text = String::new();
            for (index, block) in blocks.iter().enumerate() {
                let at = format!("`system[{index}]`");
                if block["type"] != "text" {
                    return Err(format!("{at}: only `text` blocks may be system blocks"));
                }
                text.push_str(&non_empty_text(block, &at)?);
                breakpoints += cache_breakpoint(block, &at)?;
            }
            messages.push(json!({"role": "system", "content": text}));
        }
        _ => return Err("`system` is neither a string nor a list of text blocks".into()),
    }
    let wire_messages = body["messages"]
        .as_array()
        .filter(|messages| !messages.is_empty())
        .ok_or("the request has no `messages` array (or it is empty)")?;
    for (index, message) in wire_messages.iter().enumerate() {
        let at = format!("`messages[{index}]`");
        let next = wire_messages.get(index + 1);
        let previous = index.checked_sub(1).and_then(|i| wire_messages.get(i));
        let (normalized, marks) = match message["role"].as_str() {
            Some("user") => normalize_user(message, previous, &at)?,
            Some("assistant") => normalize_assistant(message, next, &at)?,
            _ => return Err(format!("{at}: `role` must be `user` or `assistant`")),
        };
        breakpoints += marks;
        messages.extend(normalized);
    }
    let tools = match &body["tools"] {
        Value::Null => Vec::new(),
        Value::Array(tools) => {
            let mut normalized = Vec::with_capacity(tools.len());
            for (index, tool) in tools.iter().enumerate() {
                let at = format!("`tools[{index}]`");
                let name = tool["name"]
                    .as_str()
                    .filter(|name| !name.is_empty())
                    .ok_or_else(|| format!("{at}: `name` is missing"))?;
                if tool["input_schema"]["type"] != "object" {
                    return Err(format!(
                        "{at}: `input_schema` must be a JSON schema of `type: object`"
                    ));
                }
                breakpoints += cache_breakpoint(tool, &at)?;
                normalized.push(json!({"type": "function", "function": {
                    "name": name,
                    "description": tool["description"],
                    "parameters": tool["input_schema"],
                }}));
            }
            normalized
        }
        _ => return Err("`tools` is not a list".into()),
    };
    if breakpoints > MAX_CACHE_BREAKPOINTS {
        return Err(format!(
            "a maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided; found {breakpoints}"
        ));
    }
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        tools,
        // The Messages API always reports usage.
        include_usage: true,
    })
}

/// The blocks of a message: a string content is one text block.
fn blocks_of(message: &Value, at: &str) -> Result<Vec<Value>, String> {
    match &message["content"] {
        Value::String(text) if !text.is_empty() => Ok(vec![json!({"type": "text", "text": text})]),
        Value::Array(blocks) if !blocks.is_empty() => Ok(blocks.clone()),
        _ => Err(format!(
            "{at}: all messages must have non-empty content (a string or a list of blocks)"
        )),
    }
}

fn non_empty_text(block: &Value, at: &str) -> Result<String, String> {
    block["text"]
        .as_str()
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{at}: text content blocks must be non-empty"))
}

/// 1 when the block is a (valid) cache breakpoint.
fn cache_breakpoint(block: &Value, at: &str) -> Result<usize, String> {
    match &block["cache_control"] {
        Value::Null => Ok(0),
        control if control["type"] == "ephemeral" => Ok(1),
        _ => Err(format!("{at}: `cache_control.type` must be `ephemeral`")),
    }
}

/// The `tool_use` ids of an assistant message.
fn tool_use_ids(message: &Value) -> HashSet<&str> {
    message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "tool_use")
        .filter_map(|block| block["id"].as_str())
        .collect()
}

fn normalize_user(
    message: &Value,
    previous: Option<&Value>,
    at: &str,
) -> Result<(Vec<Value>, usize), String> {
    let offered = previous
        .filter(|previous| previous["role"] == "assistant")
        .map(tool_use_ids)
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut marks = 0;
    let mut seen_other = false;
    for (index, block) in blocks_of(message, at)?.iter().enumerate() {
        let at = format!("{at}.content[{index}]");
        marks += cache_breakpoint(block, &at)?;
        match block["type"].as_str() {
            Some("tool_result") => {
                if seen_other {
                    return Err(format!(
                        "{at}: `tool_result` blocks must come first in the user message, before any other content"
                    ));
                }
                let id = block["tool_use_id"]
                    .as_str()
                    .ok_or_else(|| format!("{at}: `tool_use_id` is missing"))?;
                if !offered.contains(id) {
                    return Err(format!(
                        "{at}: unexpected `tool_use_id` `{id}` in `tool_result` blocks: each \
                         `tool_result` must have a corresponding `tool_use` block in the previous message"
                    ));
                }
                if !matches!(&block["is_error"], Value::Null | Value::Bool(_)) {
                    return Err(format!("{at}: `is_error` must be a boolean"));
                }
                let content = match &block["content"] {
                    Value::Null => String::new(),
                    Value::String(content) => content.clone(),
                    Value::Array(parts) => parts
                        .iter()
                        .filter_map(|part| part["text"].as_str())
                        .collect(),
                    _ => return Err(format!("{at}: `content` must be a string or a list")),
                };
                out.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
            }
            Some("text") => {
                seen_other = true;
                text.push_str(&non_empty_text(block, &at)?);
            }
            Some("image" | "document") => seen_other = true,
            Some(other) => {
                return Err(format!("{at}: a user message cannot hold `{other}` blocks"));
            }
            None => return Err(format!("{at}: the block has no `type`")),
        }
    }
    if !text.is_empty() || out.is_empty() {
        out.push(json!({"role": "user", "content": text}));
    }
    Ok((out, marks))
}

fn normalize_assistant(
    message: &Value,
    next: Option<&Value>,
    at: &str,
) -> Result<(Vec<Value>, usize), String> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let mut marks = 0;
    for (index, block) in blocks_of(message, at)?.iter().enumerate() {
        let at = format!("{at}.content[{index}]");
        match block["type"].as_str() {
            Some("text") => {
                text.push_str(&non_empty_text(block, &at)?);
                marks += cache_breakpoint(block, &at)?;
            }
            Some("tool_use") => {
                let id = block["id"].as_str().filter(|id| !id.is_empty());
                let name = block["name"].as_str().filter(|name| !name.is_empty());
                let (Some(id), Some(name)) = (id, name) else {
                    return Err(format!("{at}: a `tool_use` block needs `id` and `name`"));
                };
                if !block["input"].is_object() {
                    return Err(format!("{at}: `input` must be a JSON object"));
                }
                marks += cache_breakpoint(block, &at)?;
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": compact_json(&block["input"])},
                }));
            }
            Some("thinking") => {
                if !block["cache_control"].is_null() {
                    return Err(format!("{at}: thinking blocks cannot have `cache_control`"));
                }
                let thinking = block["thinking"]
                    .as_str()
                    .ok_or_else(|| format!("{at}: `thinking` is missing"))?;
                let signature = block["signature"]
                    .as_str()
                    .filter(|signature| !signature.is_empty())
                    .ok_or_else(|| format!("{at}: `signature`: Field required"))?;
                if signature.starts_with(SIGNATURE_PREFIX) && signature != signature_for(thinking) {
                    return Err(format!(
                        "{at}: invalid `signature` in `thinking` block: thinking blocks must be \
                         sent back exactly as they were received"
                    ));
                }
                reasoning.push_str(thinking);
            }
            Some("redacted_thinking") => {
                if block["data"].as_str().is_none_or(str::is_empty) {
                    return Err(format!("{at}: `data`: Field required"));
                }
            }
            Some(other) => {
                return Err(format!(
                    "{at}: an assistant message cannot hold `{other}` blocks"
                ));
            }
            None => return Err(format!("{at}: the block has no `type`")),
        }
    }
    let called = tool_use_ids(message);
    if !called.is_empty() {
        let answered: HashSet<&str> = next
            .filter(|next| next["role"] == "user")
            .and_then(|next| next["content"].as_array())
            .into_iter()
            .flatten()
            .filter(|block| block["type"] == "tool_result")
            .filter_map(|block| block["tool_use_id"].as_str())
            .collect();
        let mut missing: Vec<&str> = called.difference(&answered).copied().collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            return Err(format!(
                "{at}: `tool_use` ids were found without `tool_result` blocks immediately after: {}",
                missing.join(", ")
            ));
        }
    }
    let mut normalized = Map::new();
    normalized.insert("role".into(), json!("assistant"));
    normalized.insert(
        "content".into(),
        if text.is_empty() {
            Value::Null
        } else {
            json!(text)
        },
    );
    if !reasoning.is_empty() {
        normalized.insert("reasoning_content".into(), json!(reasoning));
    }
    if !calls.is_empty() {
        normalized.insert("tool_calls".into(), Value::Array(calls));
    }
    Ok((vec![Value::Object(normalized)], marks))
}

// ---------------------------------------------------------------------------------------
// Replies

/// The events of one streamed reply.
pub(crate) struct ReplyEvents {
    pub events: Vec<Bytes>,
    /// Index of the `message_delta` event: once it is about to be sent the reply counts
    /// as complete (its tool calls are issued).
    pub finish_index: usize,
    /// The ids of the `tool_use` blocks sent.
    pub call_ids: Vec<String>,
}

#[derive(Serialize)]
struct MessageStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: StartMessage<'a>,
}

#[derive(Serialize)]
struct StartMessage<'a> {
    model: &'a str,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: StartUsage,
}

#[derive(Serialize)]
struct StartUsage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation: CacheCreation,
    output_tokens: u64,
    service_tier: &'static str,
}

#[derive(Serialize)]
struct CacheCreation {
    ephemeral_5m_input_tokens: u64,
    ephemeral_1h_input_tokens: u64,
}

#[derive(Serialize)]
struct BlockStart<B> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
    content_block: B,
}

#[derive(Serialize)]
struct TextStart {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'static str,
}

#[derive(Serialize)]
struct ThinkingStart {
    #[serde(rename = "type")]
    kind: &'static str,
    thinking: &'static str,
    signature: &'static str,
}

#[derive(Serialize)]
struct ToolUseStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    name: &'a str,
    input: Map<String, Value>,
}

#[derive(Serialize)]
struct BlockDelta<D> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
    delta: D,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct ThinkingDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    thinking: &'a str,
}

#[derive(Serialize)]
struct SignatureDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    signature: &'a str,
}

#[derive(Serialize)]
struct InputJsonDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    partial_json: &'a str,
}

#[derive(Serialize)]
struct BlockStop {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
}

#[derive(Serialize)]
struct MessageDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: StopDelta<'a>,
    usage: FinalUsage,
}

#[derive(Serialize)]
struct StopDelta<'a> {
    stop_reason: &'a str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct FinalUsage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
}

#[derive(Serialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `event: <name>\ndata: <compact json>\n\n`.
fn event<T: Serialize>(name: &str, value: &T) -> Bytes {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(b"event: ");
    bytes.extend_from_slice(name.as_bytes());
    bytes.extend_from_slice(b"\ndata: ");
    bytes.extend_from_slice(compact_json(value).as_bytes());
    bytes.extend_from_slice(b"\n\n");
    Bytes::from(bytes)
}

/// The real `ping`, whose payload alone has spaces.
const PING: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";

/// Pushes a `content_block_start`; the real API pings right after the first one.
fn push_start(events: &mut Vec<Bytes>, index: usize, start: Bytes) {
    events.push(start);
    if index == 0 {
        events.push(Bytes::from_static(PING));
    }
}

fn block_start<B: Serialize>(index: usize, block: B) -> Bytes {
    event(
        "content_block_start",
        &BlockStart {
            kind: "content_block_start",
            index,
            content_block: block,
        },
    )
}

fn block_delta<D: Serialize>(index: usize, delta: D) -> Bytes {
    event(
        "content_block_delta",
        &BlockDelta {
            kind: "content_block_delta",
            index,
            delta,
        },
    )
}

fn block_stop(index: usize) -> Bytes {
    event(
        "content_block_stop",
        &BlockStop {
            kind: "content_block_stop",
            index,
        },
    )
}

/// The Messages `stop_reason` for a scripted finish reason (Chat names are translated,
/// others pass as written).
fn stop_reason(finish_reason: &str) -> &str {
    match finish_reason {
        "stop" => "end_turn",
        "tool_calls" => "tool_use",
        "length" => "max_tokens",
        "content_filter" => "refusal",
        other => other,
    }
}

/// Every event of a streamed reply: thinking, text, then `tool_use` blocks.
pub(crate) fn reply_events(
    turn: usize,
    model: &str,
    reply: &StreamReply,
    usage: Usage,
) -> ReplyEvents {
    let id = format!("msg_testkit{turn:013}");
    let mut events = vec![event(
        "message_start",
        &MessageStart {
            kind: "message_start",
            message: StartMessage {
                model,
                id: &id,
                kind: "message",
                role: "assistant",
                content: [],
                stop_reason: None,
                stop_sequence: None,
                usage: StartUsage {
                    input_tokens: usage.prompt_tokens,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: 0,
                    cache_creation: CacheCreation {
                        ephemeral_5m_input_tokens: 0,
                        ephemeral_1h_input_tokens: 0,
                    },
                    output_tokens: 1,
                    service_tier: "standard",
                },
            },
        },
    )];
    let mut index = 0;
    if let Some(reasoning) = reply.reasoning.as_deref() {
        push_start(
            &mut events,
            index,
            block_start(
                index,
                ThinkingStart {
                    kind: "thinking",
                    thinking: "",
                    signature: "",
                },
            ),
        );
        for piece in split_words(reasoning) {
            events.push(block_delta(
                index,
                ThinkingDelta {
                    kind: "thinking_delta",
                    thinking: piece,
                },
            ));
        }
        let signature = signature_for(reasoning);
        events.push(block_delta(
            index,
            SignatureDelta {
                kind: "signature_delta",
                signature: &signature,
            },
        ));
        events.push(block_stop(index));
        index += 1;
    }
    if let Some(text) = reply.text.as_deref() {
        push_start(
            &mut events,
            index,
            block_start(
                index,
                TextStart {
                    kind: "text",
                    text: "",
                },
            ),
        );
        for piece in split_words(text) {
            events.push(block_delta(
                index,
                TextDelta {
                    kind: "text_delta",
                    text: piece,
                },
            ));
        }
        events.push(block_stop(index));
        index += 1;
    }
    for call in &reply.calls {
        push_start(
            &mut events,
            index,
            block_start(
                index,
                ToolUseStart {
                    kind: "tool_use",
                    id: &call.id,
                    name: &call.name,
                    input: Map::new(),
                },
            ),
        );
        let pieces = std::iter::once("").chain(split_chars(&call.arguments, ARGUMENT_PIECE_CHARS));
        for piece in pieces {
            events.push(block_delta(
                index,
                InputJsonDelta {
                    kind: "input_json_delta",
                    partial_json: piece,
                },
            ));
        }
        events.push(block_stop(index));
        index += 1;
    }
    if index == 0 {
        events.push(Bytes::from_static(PING));
    }
    let finish_index = events.len();
    events.push(event(
        "message_delta",
        &MessageDelta {
            kind: "message_delta",
            delta: StopDelta {
                stop_reason: stop_reason(&reply.finish_reason),
                stop_sequence: None,
            },
            usage: FinalUsage {
                input_tokens: usage.prompt_tokens,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
                output_tokens: usage.completion_tokens,
            },
        },
    ));
    events.push(event(
        "message_stop",
        &TypeOnly {
            kind: "message_stop",
        },
    ));
    ReplyEvents {
        events,
        finish_index,
        call_ids: reply.calls.iter().map(|call| call.id.clone()).collect(),
    }
}

/// `tool_use` ids announced in recorded Messages events, in order, without repeats.
pub(crate) fn raw_call_ids(events: &[Bytes]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for event in events {
        let text = String::from_utf8_lossy(event);
        for line in text.lines() {
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let Ok(payload) = serde_json::from_str::<Value>(data.trim()) else {
                continue;
            };
            let block = &payload["content_block"];
            if block["type"] == "tool_use"
                && let Some(id) = block["id"].as_str()
                && seen.insert(id.to_owned())
            {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

// ---------------------------------------------------------------------------------------
// Errors

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorBody<'a>,
    request_id: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// The Anthropic error type for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// An Anthropic error body (compact, as the API sends it) for `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Bytes {
    let envelope = ErrorEnvelope {
        kind: "error",
        error: ErrorBody {
            kind: error_type(status),
            message,
        },
        request_id: format!("req_testkit{status:03}"),
    };
    Bytes::from(compact_json(&envelope))
}

/// The body the real API sends for a status, used when a scripted error has no `body`.
pub(crate) fn scripted_error_body(status: u16, model: &str) -> Bytes {
    let message = match status {
        401 => "invalid x-api-key".to_owned(),
        403 => "Your API key does not have permission to use the specified resource.".to_owned(),
        404 => format!("model: {model}"),
        413 => "Request exceeds the maximum allowed number of bytes.".to_owned(),
        429 => "This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.".to_owned(),
        500 => "Internal server error".to_owned(),
        529 => "Overloaded".to_owned(),
        status => format!("Scripted error (HTTP {status})."),
    };
    error_body(status, &message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlannedCall;
    use pretty_assertions::assert_eq;

    fn text(events: &[Bytes]) -> String {
        events
            .iter()
            .map(|event| String::from_utf8_lossy(event).into_owned())
            .collect()
    }

    fn reply(text: Option<&str>, reasoning: Option<&str>, calls: Vec<PlannedCall>) -> StreamReply {
        let finish_reason = if calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        StreamReply {
            text: text.map(str::to_owned),
            reasoning: reasoning.map(str::to_owned),
            calls,
            finish_reason: finish_reason.to_owned(),
            usage: None,
        }
    }

    fn usage(prompt: u64, completion: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
        }
    }

    #[test]
    fn a_text_reply_has_the_real_stream_shape() {
        let events = reply_events(
            1,
            "claude-sonnet-4-5",
            &reply(Some("Hello there!"), None, vec![]),
            usage(11, 6),
        );
        assert_eq!(
            text(&events.events),
            concat!(
                "event: message_start\n",
                "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"id\":\"msg_testkit0000000000001\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":11,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n",
                "event: content_block_start\n",
                "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
                "event: ping\n",
                "data: {\"type\": \"ping\"}\n\n",
                "event: content_block_delta\n",
                "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
                "event: content_block_delta\n",
                "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there!\"}}\n\n",
                "event: content_block_stop\n",
                "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
                "event: message_delta\n",
                "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":11,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":6}}\n\n",
                "event: message_stop\n",
                "data: {\"type\":\"message_stop\"}\n\n",
            )
        );
        assert_eq!(events.finish_index, 6);
        assert!(events.call_ids.is_empty());
    }

    #[test]
    fn thinking_and_tool_use_blocks_follow_the_recordings() {
        let call = PlannedCall {
            id: "toolu_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"location":"Paris"}"#.into(),
        };
        let events = reply_events(
            2,
            "claude-sonnet-4-5",
            &reply(None, Some("Let me check."), vec![call]),
            usage(5, 9),
        );
        let all = text(&events.events);
        let signature = signature_for("Let me check.");
        assert!(all.contains(
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n"
        ));
        assert!(all.contains(&format!(
            "data: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"signature_delta\",\"signature\":\"{signature}\"}}}}\n\n"
        )));
        assert!(all.contains(
            "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
        ));
        let fragments: Vec<String> = events
            .events
            .iter()
            .filter_map(|event| {
                let text = String::from_utf8_lossy(event);
                let data = text.split_once("data: ")?.1.trim().to_owned();
                let value: Value = serde_json::from_str(&data).ok()?;
                value["delta"]["partial_json"].as_str().map(str::to_owned)
            })
            .collect();
        assert_eq!(fragments, ["", "{\"loca", "tion\":", "\"Paris", "\"}"]);
        assert!(all.contains("\"stop_reason\":\"tool_use\""));
        assert_eq!(events.call_ids, ["toolu_1"]);
        assert_eq!(raw_call_ids(&events.events), ["toolu_1"]);
        assert!(signature.starts_with(SIGNATURE_PREFIX));
        assert_ne!(signature, signature_for("Let me check!"));
    }

    fn request(messages: Value) -> Value {
        json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": true,
               "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
               "messages": messages})
    }

    #[test]
    fn a_tool_round_trip_normalizes_to_chat_messages() {
        let signature = signature_for("hmm");
        let parsed = parse_request(&request(json!([
            {"role": "user", "content": "List files"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": signature},
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"path": "."}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.rs", "is_error": false},
                {"type": "text", "text": "go on", "cache_control": {"type": "ephemeral"}},
            ]},
        ])))
        .unwrap();
        assert_eq!(
            parsed.messages,
            vec![
                json!({"role": "system", "content": "Be brief."}),
                json!({"role": "user", "content": "List files"}),
                json!({"role": "assistant", "content": "Listing.", "reasoning_content": "hmm",
                       "tool_calls": [{"id": "toolu_1", "type": "function",
                                       "function": {"name": "ls", "arguments": "{\"path\":\".\"}"}}]}),
                json!({"role": "tool", "tool_call_id": "toolu_1", "content": "a.rs"}),
                json!({"role": "user", "content": "go on"}),
            ]
        );
        assert!(parsed.include_usage);
    }

    #[test]
    fn what_the_real_api_refuses_is_refused() {
        let call = json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]});
        let cases = [
            (
                json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]}),
                "max_tokens",
            ),
            (
                request(json!([{"role": "user", "content": ""}])),
                "non-empty content",
            ),
            (
                request(json!([{"role": "user", "content": [{"type": "text", "text": ""}]}])),
                "non-empty",
            ),
            (
                request(json!([{"role": "user", "content": "q"}, call.clone()])),
                "without `tool_result`",
            ),
            (
                request(json!([{"role": "user", "content": "q"}, call.clone(),
                {"role": "user", "content": [{"type": "text", "text": "hi"},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}])),
                "must come first",
            ),
            (
                request(json!([{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}])),
                "unexpected `tool_use_id`",
            ),
            (
                request(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t"}]}]),
                ),
                "signature",
            ),
            (
                request(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "changed", "signature": signature_for("t")}]}]),
                ),
                "exactly as they were received",
            ),
            (
                request(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [
                {"type": "tool_call", "id": "x"}]}]),
                ),
                "cannot hold `tool_call`",
            ),
            (
                request(json!([{"role": "user", "content": [
                {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "c", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "d", "cache_control": {"type": "ephemeral"}}]}])),
                "maximum of 4",
            ),
        ];
        for (body, fragment) in cases {
            let error = parse_request(&body).unwrap_err();
            assert!(error.contains(fragment), "{fragment}: {error}");
        }
        let mut thinking_with_temperature = request(json!([{"role": "user", "content": "q"}]));
        thinking_with_temperature["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
        thinking_with_temperature["temperature"] = json!(0.5);
        assert!(parse_request(&thinking_with_temperature).is_err());
    }

    #[test]
    fn error_bodies_have_the_anthropic_shape() {
        assert_eq!(
            scripted_error_body(529, "m"),
            Bytes::from_static(
                b"{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"},\"request_id\":\"req_testkit529\"}"
            )
        );
        let not_found: Value =
            serde_json::from_slice(&scripted_error_body(404, "claude-x")).unwrap();
        assert_eq!(not_found["error"]["type"], "not_found_error");
        assert_eq!(not_found["error"]["message"], "model: claude-x");
    }
}
