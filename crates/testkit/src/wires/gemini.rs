//! Google Gemini's streaming wire (`POST /v1beta/models/{model}:streamGenerateContent?alt=sse`),
//! byte for byte as the real API writes it (compare the providers crate's
//! `tests/fixtures/gemini/*.sse`): `data: ` events separated by `\r\n\r\n`, payloads with
//! `"key": value` spacing (a space after each colon, none after commas), `usageMetadata` on
//! every chunk but complete only on the last, `finishReason: "STOP"` also after function calls,
//! no `[DONE]`: the stream just ends.
//!
//! Gemini has no tool call ids. A `functionCall` part comes whole, its `thoughtSignature`
//! beside it on the first call of a turn (as Gemini 2.5 and 3 send it); a later request must
//! bring the call back with that signature unchanged, and answer it with a `functionResponse`
//! of the same name at the same position in the next `user` turn. Requests are read into the
//! normalized, Chat-shaped request the checks use, calls numbered by position (the ledger maps
//! positions to the ids it issued). What the real API refuses with a 400 is refused here too:
//! unknown fields (in the body and in tool schemas, e.g. `additionalProperties`), `args` that
//! are not an object, a first call of a turn without its `thoughtSignature`, and a testkit
//! signature that does not match its call.

use std::io;

use axum::http::Uri;
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use crate::check::{ChatRequest, position_id, unpaired_id};
use crate::plan::{PlannedCall, StreamReply};
use crate::script::Usage;
use crate::wire::{ReplyEvents, compact_json, split_words};

/// The path prefix and method suffix of the streaming endpoint.
const PATH_PREFIX: &str = "/v1beta/models/";
const PATH_SUFFIX: &str = ":streamGenerateContent";

/// Words per text chunk: Gemini sends a few tokens at a time.
const WORDS_PER_CHUNK: usize = 3;

/// The start of every thought signature this server issues (base64-looking, like Gemini's).
const SIGNATURE_PREFIX: &str = "EtestkitGeminiSig";

/// Top-level request fields Gemini knows; any other is refused.
const BODY_FIELDS: [&str; 7] = [
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
];

/// `Schema` fields Gemini knows; any other in a tool's parameters is refused.
const SCHEMA_FIELDS: [&str; 22] = [
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// Whether `path` is a model's streaming endpoint.
pub(crate) fn is_stream_path(path: &str) -> bool {
    model_of(path).is_some()
}

/// The model named by a streaming path.
fn model_of(path: &str) -> Option<&str> {
    path.strip_prefix(PATH_PREFIX)?
        .strip_suffix(PATH_SUFFIX)
        .filter(|model| !model.is_empty() && !model.contains('/'))
}

/// The deterministic signature of a call: depends on its name and arguments only, so a
/// signature moved to another call, or altered, no longer matches.
pub(crate) fn signature_for(name: &str, args: &Value) -> String {
    let text = format!("{name}\u{0}{}", compact_json(args));
    // FNV-1a, twice with different seeds: stable across runs and Rust versions.
    let fnv = |seed: u64| {
        text.bytes().fold(seed, |hash, byte| {
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

/// Reads a `streamGenerateContent` request into the normalized request; anything the real
/// API would refuse, or a streaming client must not send, is an error naming the problem.
pub(crate) fn parse_request(body: &Value, uri: &Uri) -> Result<ChatRequest, String> {
    let model = model_of(uri.path()).ok_or("the path names no model")?;
    let streams_sse = uri
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair == "alt=sse"));
    if !streams_sse {
        return Err(
            "the request does not ask for `?alt=sse` (without it Gemini streams a JSON array)"
                .into(),
        );
    }
    let Value::Object(fields) = body else {
        return Err("the request body is not a JSON object".into());
    };
    if let Some(unknown) = fields
        .keys()
        .find(|key| !BODY_FIELDS.contains(&key.as_str()))
    {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        ));
    }
    let mut messages = Vec::new();
    match &body["systemInstruction"] {
        Value::Null => {}
        instruction => {
            let text = parts_text(instruction, "systemInstruction")?;
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    let contents = body["contents"]
        .as_array()
        .filter(|contents| !contents.is_empty())
        .ok_or("the request has no `contents` (at least one is required)")?;
    let mut next_position = 0usize;
    let mut unpaired = 0usize;
    // The names of the calls of the last model turn, with their positions.
    let mut last_calls: Vec<(String, usize)> = Vec::new();
    for (index, content) in contents.iter().enumerate() {
        let at = |problem: String| format!("`contents[{index}]`: {problem}");
        let parts = content["parts"]
            .as_array()
            .filter(|parts| !parts.is_empty())
            .ok_or_else(|| at("`parts` must not be empty".into()))?;
        match content["role"].as_str() {
            Some("model") => {
                let mut text = String::new();
                let mut calls = Vec::new();
                last_calls.clear();
                for (part_index, part) in parts.iter().enumerate() {
                    let at = |problem: String| at(format!("`parts[{part_index}]`: {problem}"));
                    check_part(part).map_err(at)?;
                    if let Some(call) = part.get("functionCall") {
                        let name = call["name"]
                            .as_str()
                            .filter(|name| !name.is_empty())
                            .ok_or_else(|| at("a `functionCall` has no `name`".into()))?;
                        let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
                        if !args.is_object() {
                            return Err(at(format!(
                                "Invalid value at 'functionCall.args' (type.googleapis.com/google.protobuf.Struct): `args` of `{name}` must be a JSON object, not {}",
                                compact_json(&args)
                            )));
                        }
                        check_signature(part, name, &args, calls.is_empty()).map_err(at)?;
                        last_calls.push((name.to_owned(), next_position));
                        calls.push(json!({
                            "id": position_id(next_position),
                            "type": "function",
                            "function": {"name": name, "arguments": compact_json(&args)},
                        }));
                        next_position += 1;
                    } else if part["thought"] != Value::Bool(true)
                        && let Some(piece) = part["text"].as_str()
                    {
                        text.push_str(piece);
                    }
                }
                let mut message = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    message["tool_calls"] = Value::Array(calls);
                }
                messages.push(message);
            }
            Some("user") => {
                let mut text = String::new();
                let mut answered = 0usize;
                for (part_index, part) in parts.iter().enumerate() {
                    let at = |problem: String| at(format!("`parts[{part_index}]`: {problem}"));
                    check_part(part).map_err(at)?;
                    if let Some(response) = part.get("functionResponse") {
                        let name = response["name"]
                            .as_str()
                            .ok_or_else(|| at("a `functionResponse` has no `name`".into()))?;
                        let output = match &response["response"] {
                            Value::Object(fields) => ["output", "content", "error", "result"]
                                .iter()
                                .find_map(|key| fields.get(*key).and_then(Value::as_str))
                                .map_or_else(|| compact_json(&response["response"]), str::to_owned),
                            _ => {
                                return Err(at(format!(
                                    "the `response` of the `functionResponse` for `{name}` must be a JSON object"
                                )));
                            }
                        };
                        // Paired by position: the n-th response answers the n-th call of the
                        // model turn before, when the names agree.
                        let id = match last_calls.get(answered) {
                            Some((called, position)) if called == name => position_id(*position),
                            _ => {
                                unpaired += 1;
                                unpaired_id(unpaired)
                            }
                        };
                        answered += 1;
                        messages.push(json!({
                            "role": "tool",
                            "tool_call_id": id,
                            "name": name,
                            "content": output,
                        }));
                    } else if let Some(piece) = part["text"].as_str() {
                        text.push_str(piece);
                    }
                }
                last_calls.clear();
                if !text.is_empty() || answered == 0 {
                    messages.push(json!({"role": "user", "content": text}));
                }
            }
            other => {
                return Err(at(format!(
                    "`role` must be \"user\" or \"model\", not {}",
                    other.map_or("missing".to_owned(), |role| format!("\"{role}\""))
                )));
            }
        }
    }
    let tools = match &body["tools"] {
        Value::Null => Vec::new(),
        Value::Array(tools) => normalize_tools(tools)?,
        _ => return Err("`tools` is not an array".into()),
    };
    if !body["generationConfig"].is_null() && !body["generationConfig"].is_object() {
        return Err("`generationConfig` is not an object".into());
    }
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        tools,
        // Gemini sends usage on every chunk.
        include_usage: true,
    })
}

/// The text of a `{"parts": [{"text": ...}]}` object.
fn parts_text(content: &Value, field: &str) -> Result<String, String> {
    let parts = content["parts"]
        .as_array()
        .ok_or_else(|| format!("`{field}` has no `parts` array"))?;
    parts
        .iter()
        .map(|part| {
            part["text"]
                .as_str()
                .ok_or_else(|| format!("`{field}` has a part without `text`"))
        })
        .collect()
}

/// A part holds exactly one kind of data.
fn check_part(part: &Value) -> Result<(), String> {
    const DATA: [&str; 7] = [
        "text",
        "functionCall",
        "functionResponse",
        "inlineData",
        "fileData",
        "executableCode",
        "codeExecutionResult",
    ];
    let Value::Object(fields) = part else {
        return Err("a part is not an object".into());
    };
    let kinds: Vec<&str> = DATA
        .iter()
        .copied()
        .filter(|kind| fields.contains_key(*kind))
        .collect();
    match kinds.len() {
        1 => {}
        0 => return Err("a part holds no data (`text`, `functionCall`, ...)".into()),
        _ => {
            return Err(format!(
                "a part holds more than one kind of data: {kinds:?}"
            ));
        }
    }
    if let Some(unknown) = fields.keys().find(|key| {
        !DATA.contains(&key.as_str())
            && !matches!(
                key.as_str(),
                "thought" | "thoughtSignature" | "videoMetadata"
            )
    }) {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\" in a part: Cannot find field."
        ));
    }
    Ok(())
}

/// The first call of a model turn must carry its signature; a testkit signature must be the
/// one issued for this very call.
fn check_signature(part: &Value, name: &str, args: &Value, first: bool) -> Result<(), String> {
    match part.get("thoughtSignature") {
        None | Some(Value::Null) if first => Err(format!(
            "Function call is missing a thought_signature in functionCall parts. This is \
             required for tools to work correctly. Function call `{name}` (send back the \
             `thoughtSignature` that came with it)"
        )),
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(signature)) if signature.starts_with(SIGNATURE_PREFIX) => {
            if *signature == signature_for(name, args) {
                Ok(())
            } else {
                Err(format!(
                    "Corrupted thought signature: the `thoughtSignature` of the call to `{name}` \
                     is not the one issued with it (it must come back unchanged, with the same \
                     call and arguments)"
                ))
            }
        }
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err("`thoughtSignature` is not a string".into()),
    }
}

/// Gemini tools in the Chat shape the checks read (`function.name`); schemas with fields
/// Gemini does not know are refused.
fn normalize_tools(tools: &[Value]) -> Result<Vec<Value>, String> {
    let mut normalized = Vec::new();
    for (index, tool) in tools.iter().enumerate() {
        let Some(declarations) = tool["functionDeclarations"].as_array() else {
            // Built-in tools (`googleSearch`, `codeExecution`) have no declarations.
            continue;
        };
        for (position, declaration) in declarations.iter().enumerate() {
            let at = format!("tools[{index}].function_declarations[{position}]");
            declaration["name"]
                .as_str()
                .filter(|name| !name.is_empty())
                .ok_or_else(|| format!("`{at}` has no `name`"))?;
            if let Some(parameters) = declaration.get("parameters") {
                check_schema(parameters, &format!("{at}.parameters"))?;
            }
            normalized.push(json!({"type": "function", "function": declaration}));
        }
    }
    Ok(normalized)
}

/// Gemini's `Schema`: known fields only, `type` a single name.
fn check_schema(schema: &Value, at: &str) -> Result<(), String> {
    let Value::Object(fields) = schema else {
        return Err(format!("`{at}` is not an object"));
    };
    for (key, value) in fields {
        if !SCHEMA_FIELDS.contains(&key.as_str()) {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{key}\" at '{at}': Cannot find field."
            ));
        }
        match key.as_str() {
            "type" if !value.is_string() => {
                return Err(format!("`{at}.type` must be one type name, not {value}"));
            }
            "properties" => {
                let properties = value
                    .as_object()
                    .ok_or_else(|| format!("`{at}.properties` is not an object"))?;
                for (name, property) in properties {
                    check_schema(property, &format!("{at}.properties[{name}]"))?;
                }
            }
            "items" => check_schema(value, &format!("{at}.items"))?,
            "anyOf" => {
                for (index, option) in value.as_array().into_iter().flatten().enumerate() {
                    check_schema(option, &format!("{at}.anyOf[{index}]"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Responses

/// Writes JSON as Google's servers do: `"key": value`, no space after commas.
struct GoogleFormatter;

impl serde_json::ser::Formatter for GoogleFormatter {
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// Serializes `value` with [`GoogleFormatter`].
fn google_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, GoogleFormatter);
    if value.serialize(&mut serializer).is_err() {
        return compact_json(value).into_bytes();
    }
    bytes
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Chunk<'a> {
    candidates: [Candidate<'a>; 1],
    usage_metadata: UsageMetadata,
    model_version: &'a str,
    response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Candidate<'a> {
    content: Content<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'a str>,
    index: u32,
}

#[derive(Serialize)]
struct Content<'a> {
    parts: Vec<WirePart<'a>>,
    role: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WirePart<'a> {
    Text {
        text: &'a str,
    },
    Thought {
        text: &'a str,
        thought: bool,
    },
    #[serde(rename_all = "camelCase")]
    Call {
        function_call: FunctionCall<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        thought_signature: Option<String>,
    },
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    name: &'a str,
    args: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidates_token_count: Option<u64>,
    total_token_count: u64,
    prompt_tokens_details: [ModalityCount; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    thoughts_token_count: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModalityCount {
    modality: &'static str,
    token_count: u64,
}

impl UsageMetadata {
    /// What chunks before the last carry: the prompt only.
    fn partial(prompt: u64) -> Self {
        UsageMetadata {
            prompt_token_count: prompt,
            candidates_token_count: None,
            total_token_count: prompt,
            prompt_tokens_details: [ModalityCount {
                modality: "TEXT",
                token_count: prompt,
            }],
            thoughts_token_count: None,
        }
    }

    fn complete(usage: Usage, thoughts: Option<u64>) -> Self {
        let total = usage.prompt_tokens + usage.completion_tokens + thoughts.unwrap_or(0);
        UsageMetadata {
            candidates_token_count: Some(usage.completion_tokens),
            total_token_count: total,
            thoughts_token_count: thoughts,
            ..UsageMetadata::partial(usage.prompt_tokens)
        }
    }
}

/// Gemini's name for a finish reason given in OpenAI's words.
fn finish_reason(reason: &str) -> String {
    match reason {
        "stop" | "tool_calls" => "STOP".to_owned(),
        "length" => "MAX_TOKENS".to_owned(),
        "content_filter" => "SAFETY".to_owned(),
        other => other.to_ascii_uppercase(),
    }
}

/// A call's `args`: the arguments object, or (for deliberately malformed arguments, which
/// Gemini itself never sends) the raw text as a string.
fn call_args(call: &PlannedCall) -> Value {
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(args @ Value::Object(_)) => args,
        _ => Value::String(call.arguments.clone()),
    }
}

/// Every event of a streamed reply; the last carries the finish reason and the usage.
pub(crate) fn reply_events(
    turn: usize,
    model: &str,
    reply: &StreamReply,
    usage: Usage,
) -> ReplyEvents {
    let response_id = format!("testkit{turn:0>16}");
    let thoughts = reply
        .reasoning
        .as_deref()
        .map(|reasoning| (reasoning.len() as u64).div_ceil(4).max(1));
    let finish = finish_reason(&reply.finish_reason);
    let event = |parts: Vec<WirePart<'_>>, last: bool| {
        let chunk = Chunk {
            candidates: [Candidate {
                content: Content {
                    parts,
                    role: "model",
                },
                finish_reason: last.then_some(finish.as_str()),
                index: 0,
            }],
            usage_metadata: if last {
                UsageMetadata::complete(usage, thoughts)
            } else {
                UsageMetadata::partial(usage.prompt_tokens)
            },
            model_version: model,
            response_id: &response_id,
        };
        let mut bytes = b"data: ".to_vec();
        bytes.extend(google_json(&chunk));
        bytes.extend_from_slice(b"\r\n\r\n");
        Bytes::from(bytes)
    };
    let mut events = Vec::new();
    if let Some(reasoning) = reply.reasoning.as_deref().filter(|r| !r.is_empty()) {
        events.push(event(
            vec![WirePart::Thought {
                text: reasoning,
                thought: true,
            }],
            false,
        ));
    }
    let text = reply.text.as_deref().unwrap_or_default();
    let words = split_words(text);
    let pieces: Vec<String> = words
        .chunks(WORDS_PER_CHUNK)
        .map(|chunk| chunk.concat())
        .collect();
    let calls: Vec<WirePart<'_>> = reply
        .calls
        .iter()
        .enumerate()
        .map(|(position, call)| {
            let args = call_args(call);
            let thought_signature = (position == 0).then(|| signature_for(&call.name, &args));
            WirePart::Call {
                function_call: FunctionCall {
                    name: &call.name,
                    args,
                },
                thought_signature,
            }
        })
        .collect();
    // Text chunks, the last one with the finish reason unless calls follow; calls come whole
    // in the last chunk.
    let text_chunks = if calls.is_empty() {
        pieces.len().saturating_sub(1)
    } else {
        pieces.len()
    };
    for piece in &pieces[..text_chunks] {
        events.push(event(vec![WirePart::Text { text: piece }], false));
    }
    let finish_index = events.len();
    let last_parts = if !calls.is_empty() {
        calls
    } else {
        let last = pieces.last().map_or("", String::as_str);
        vec![WirePart::Text { text: last }]
    };
    events.push(event(last_parts, true));
    ReplyEvents {
        events,
        finish_index,
    }
}

/// A Google error body, indented by two spaces as the API sends it
/// (`error_429_resource_exhausted.json`).
pub(crate) fn error_body(status: u16, message: &str) -> Bytes {
    let status_name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ if status >= 500 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    };
    let envelope = json!({"error": {"code": status, "message": message, "status": status_name}});
    let mut bytes = serde_json::to_vec_pretty(&envelope)
        .unwrap_or_else(|_| compact_json(&envelope).into_bytes());
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// The body the real API sends for a status, used when a scripted error has no `body`.
pub(crate) fn scripted_error_body(status: u16, model: &str) -> Bytes {
    let message = match status {
        400 => "API key not valid. Please pass a valid API key.".to_owned(),
        403 => "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.".to_owned(),
        404 => format!(
            "models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
        ),
        429 => "Resource has been exhausted (e.g. check quota).".to_owned(),
        500 => "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting".to_owned(),
        503 => "The model is overloaded. Please try again later.".to_owned(),
        status => format!("Scripted error (HTTP {status})."),
    };
    error_body(status, &message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn uri(path: &str) -> Uri {
        path.parse().unwrap()
    }

    const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

    fn text(events: &[Bytes]) -> Vec<String> {
        events
            .iter()
            .map(|event| String::from_utf8_lossy(event).into_owned())
            .collect()
    }

    #[test]
    fn paths_name_the_model() {
        assert!(is_stream_path(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        ));
        assert!(!is_stream_path(
            "/v1beta/models/gemini-2.5-flash:generateContent"
        ));
        assert!(!is_stream_path("/v1beta/models/:streamGenerateContent"));
    }

    #[test]
    fn text_reply_matches_the_recorded_layout() {
        let reply = StreamReply {
            text: Some("The capital of France is Paris.".into()),
            reasoning: None,
            calls: vec![],
            finish_reason: "stop".into(),
            usage: None,
        };
        let usage = Usage {
            prompt_tokens: 13,
            completion_tokens: 8,
        };
        let events = reply_events(1, "gemini-2.0-flash", &reply, usage);
        let id = "testkit0000000000000001";
        assert_eq!(
            text(&events.events),
            vec![
                format!(
                    "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \"The capital of\"}}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 13,\"totalTokenCount\": 13,\"promptTokensDetails\": [{{\"modality\": \"TEXT\",\"tokenCount\": 13}}]}},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"{id}\"}}\r\n\r\n"
                ),
                format!(
                    "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \" France is Paris.\"}}],\"role\": \"model\"}},\"finishReason\": \"STOP\",\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 13,\"candidatesTokenCount\": 8,\"totalTokenCount\": 21,\"promptTokensDetails\": [{{\"modality\": \"TEXT\",\"tokenCount\": 13}}]}},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"{id}\"}}\r\n\r\n"
                ),
            ]
        );
        assert_eq!(events.finish_index, 1);
    }

    #[test]
    fn calls_come_whole_with_a_signature_on_the_first() {
        let reply = StreamReply {
            text: Some("Checking.".into()),
            reasoning: Some("think".into()),
            calls: vec![
                PlannedCall {
                    id: "call_1".into(),
                    name: "read".into(),
                    arguments: r#"{"path":"a"}"#.into(),
                },
                PlannedCall {
                    id: "call_2".into(),
                    name: "ls".into(),
                    arguments: "{}".into(),
                },
            ],
            finish_reason: "tool_calls".into(),
            usage: None,
        };
        let usage = Usage {
            prompt_tokens: 5,
            completion_tokens: 6,
        };
        let events = text(&reply_events(2, "m", &reply, usage).events);
        assert_eq!(events.len(), 3);
        assert!(
            events[0].contains(r#"{"text": "think","thought": true}"#),
            "{}",
            events[0]
        );
        assert!(
            events[1].contains(r#"{"text": "Checking."}"#),
            "{}",
            events[1]
        );
        let signature = signature_for("read", &json!({"path": "a"}));
        assert!(
            events[2].contains(&format!(
                r#"[{{"functionCall": {{"name": "read","args": {{"path": "a"}}}},"thoughtSignature": "{signature}"}},{{"functionCall": {{"name": "ls","args": {{}}}}}}]"#
            )),
            "{}",
            events[2]
        );
        assert!(events[2].contains(r#""finishReason": "STOP""#));
        assert!(events[2].contains(r#""thoughtsTokenCount": 2"#));
    }

    fn call_turn(signature: Option<&str>) -> Value {
        let mut part = json!({"functionCall": {"name": "read", "args": {"path": "a"}}});
        if let Some(signature) = signature {
            part["thoughtSignature"] = json!(signature);
        }
        json!({"contents": [
            {"role": "user", "parts": [{"text": "task"}]},
            {"role": "model", "parts": [part, {"functionCall": {"name": "ls", "args": {}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "read", "response": {"output": "A"}}},
                {"functionResponse": {"name": "ls", "response": {"error": "denied"}}},
            ]},
        ]})
    }

    #[test]
    fn requests_normalize_with_positions_and_checked_signatures() {
        let signature = signature_for("read", &json!({"path": "a"}));
        let mut body = call_turn(Some(&signature));
        body["systemInstruction"] = json!({"parts": [{"text": "Be brief."}]});
        body["tools"] = json!([{"functionDeclarations": [{"name": "read", "description": "Read",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}]}]);
        let request = parse_request(&body, &uri(STREAM)).unwrap();
        assert_eq!(request.model, "gemini-2.5-flash");
        assert_eq!(
            request.messages,
            vec![
                json!({"role": "system", "content": "Be brief."}),
                json!({"role": "user", "content": "task"}),
                json!({"role": "assistant", "content": "", "tool_calls": [
                    {"id": position_id(0), "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}},
                    {"id": position_id(1), "type": "function", "function": {"name": "ls", "arguments": "{}"}},
                ]}),
                json!({"role": "tool", "tool_call_id": position_id(0), "name": "read", "content": "A"}),
                json!({"role": "tool", "tool_call_id": position_id(1), "name": "ls", "content": "denied"}),
            ]
        );
        assert_eq!(request.tools[0]["function"]["name"], "read");

        let missing = parse_request(&call_turn(None), &uri(STREAM)).unwrap_err();
        assert!(missing.contains("missing a thought_signature"), "{missing}");
        let other = signature_for("read", &json!({"path": "b"}));
        let altered = parse_request(&call_turn(Some(&other)), &uri(STREAM)).unwrap_err();
        assert!(altered.contains("Corrupted thought signature"), "{altered}");
        // Signatures of the real API cannot be checked and are taken as they are.
        assert!(parse_request(&call_turn(Some("EpwICpkIAXLI")), &uri(STREAM)).is_ok());
    }

    #[test]
    fn what_gemini_refuses_is_refused() {
        let ok = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
        let no_sse =
            parse_request(&ok, &uri("/v1beta/models/m:streamGenerateContent")).unwrap_err();
        assert!(no_sse.contains("alt=sse"), "{no_sse}");
        let cases = [
            (json!({"contents": [], }), "no `contents`"),
            (
                json!({"model": "m", "contents": ok["contents"]}),
                "Unknown name \"model\"",
            ),
            (
                json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
                "`role`",
            ),
            (
                json!({"contents": [{"role": "user", "parts": []}]}),
                "must not be empty",
            ),
            (
                json!({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": "{}"}, "thoughtSignature": "x"}]}]}),
                "must be a JSON object",
            ),
            (
                json!({"contents": ok["contents"], "tools": [{"functionDeclarations": [{"name": "f",
                    "parameters": {"type": "object", "additionalProperties": false, "properties": {}}}]}]}),
                "Unknown name \"additionalProperties\"",
            ),
            (
                json!({"contents": ok["contents"], "tools": [{"functionDeclarations": [{"name": "f",
                    "parameters": {"type": "object", "properties": {"p": {"type": ["string", "null"]}}}}]}]}),
                "one type name",
            ),
        ];
        for (body, fragment) in cases {
            let error = parse_request(&body, &uri(STREAM)).unwrap_err();
            assert!(error.contains(fragment), "{fragment}: {error}");
        }
    }

    #[test]
    fn error_bodies_are_indented_like_the_api() {
        assert_eq!(
            String::from_utf8_lossy(&scripted_error_body(429, "m")),
            "{\n  \"error\": {\n    \"code\": 429,\n    \"message\": \"Resource has been exhausted (e.g. check quota).\",\n    \"status\": \"RESOURCE_EXHAUSTED\"\n  }\n}\n"
        );
    }
}
