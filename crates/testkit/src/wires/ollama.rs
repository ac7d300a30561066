//! Ollama's native chat wire (`POST /api/chat`), byte for byte as Ollama writes it (compare
//! the providers crate's `tests/fixtures/ollama/*.ndjson`): one compact JSON object per line
//! (`application/x-ndjson`), a line per token, tool calls whole in one line with their
//! arguments as an object and no id, and a last line with `"done": true`, the reason and the
//! counts. Also `GET /api/tags` (the models the script names) and `POST /api/show`.
//!
//! Ollama has no tool call ids: `tool` messages answer the calls of the assistant message
//! before them in order (their `tool_name`, when given, must match). Requests are read into
//! the normalized, Chat-shaped request the checks use, calls numbered by position (the ledger
//! maps positions to the ids it issued). What Ollama refuses is refused too: arguments that
//! are a string rather than an object, unknown roles, `stream: false` (the server only
//! streams).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use crate::check::{ChatRequest, position_id, unpaired_id};
use crate::plan::{PlannedCall, StreamReply};
use crate::script::Usage;
use crate::wire::{ReplyEvents, compact_json, split_words};

/// The streaming endpoint.
pub(crate) const CHAT_PATH: &str = "/api/chat";

/// The model `/api/tags` lists when no turn names one.
pub(crate) const DEFAULT_MODEL: &str = "testkit-model:latest";

/// The content type of the stream.
pub(crate) const NDJSON: &str = "application/x-ndjson";

/// The context length `/api/show` reports.
const CONTEXT_LENGTH: u64 = 32768;

// ---------------------------------------------------------------------------------------
// Requests

/// Reads an `/api/chat` request into the normalized request; anything Ollama would refuse,
/// or a streaming client must not send, is an error naming the problem.
pub(crate) fn parse_request(body: &Value) -> Result<ChatRequest, String> {
    if !body.is_object() {
        return Err("the request body is not a JSON object".into());
    }
    let model = body["model"]
        .as_str()
        .filter(|model| !model.is_empty())
        .ok_or("model is required")?;
    let raw_messages = body["messages"]
        .as_array()
        .ok_or("the request has no `messages` array")?;
    if body["stream"] == Value::Bool(false) {
        return Err("the request sets `stream: false`; this server only streams".into());
    }
    let mut messages = Vec::new();
    let mut next_position = 0usize;
    let mut unpaired = 0usize;
    // The calls of the last assistant message, with their positions, and how many `tool`
    // messages have answered them so far.
    let mut last_calls: Vec<(String, usize)> = Vec::new();
    let mut answered = 0usize;
    for (index, message) in raw_messages.iter().enumerate() {
        let at = |problem: String| format!("`messages[{index}]`: {problem}");
        let content = match &message["content"] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            _ => {
                return Err(at(
                    "json: cannot unmarshal array into Go struct field Message.messages.content of type string".into(),
                ));
            }
        };
        match message["role"].as_str() {
            Some(role @ ("system" | "user")) => {
                last_calls.clear();
                messages.push(json!({"role": role, "content": content}));
            }
            Some("assistant") => {
                last_calls.clear();
                answered = 0;
                let mut normalized = json!({"role": "assistant", "content": content});
                if let Some(thinking) = message["thinking"].as_str() {
                    normalized["reasoning_content"] = json!(thinking);
                }
                let mut calls = Vec::new();
                for call in message["tool_calls"].as_array().into_iter().flatten() {
                    let function = &call["function"];
                    let name = function["name"]
                        .as_str()
                        .filter(|name| !name.is_empty())
                        .ok_or_else(|| at("a tool call has no `function.name`".into()))?;
                    let arguments = match &function["arguments"] {
                        Value::Null => json!({}),
                        arguments @ Value::Object(_) => arguments.clone(),
                        Value::String(_) => {
                            return Err(at(
                                "json: cannot unmarshal string into Go struct field ToolCallFunction.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments".into(),
                            ));
                        }
                        other => {
                            return Err(at(format!(
                                "tool call arguments must be an object, not {other}"
                            )));
                        }
                    };
                    last_calls.push((name.to_owned(), next_position));
                    calls.push(json!({
                        "id": position_id(next_position),
                        "type": "function",
                        "function": {"name": name, "arguments": compact_json(&arguments)},
                    }));
                    next_position += 1;
                }
                if !calls.is_empty() {
                    normalized["tool_calls"] = Value::Array(calls);
                }
                messages.push(normalized);
            }
            Some("tool") => {
                let tool_name = message["tool_name"].as_str();
                let id = match last_calls.get(answered) {
                    Some((called, position)) if tool_name.is_none_or(|name| name == called) => {
                        position_id(*position)
                    }
                    _ => {
                        unpaired += 1;
                        unpaired_id(unpaired)
                    }
                };
                answered += 1;
                let mut normalized =
                    json!({"role": "tool", "tool_call_id": id, "content": content});
                if let Some(name) = tool_name {
                    normalized["name"] = json!(name);
                }
                messages.push(normalized);
            }
            other => {
                return Err(at(format!(
                    "invalid role {}: must be system, user, assistant or tool",
                    other.map_or("(missing)".to_owned(), |role| format!("\"{role}\""))
                )));
            }
        }
    }
    let tools = match &body["tools"] {
        Value::Null => Vec::new(),
        Value::Array(tools) => tools.clone(),
        _ => return Err("`tools` is not an array".into()),
    };
    if !body["options"].is_null() && !body["options"].is_object() {
        return Err("`options` is not an object".into());
    }
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        tools,
        // The last line always carries the counts.
        include_usage: true,
    })
}

// ---------------------------------------------------------------------------------------
// Responses

#[derive(Serialize)]
struct Line<'a> {
    model: &'a str,
    created_at: String,
    message: LineMessage<'a>,
    done: bool,
}

#[derive(Serialize)]
struct LineMessage<'a> {
    role: &'static str,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<LineToolCall<'a>>>,
}

#[derive(Serialize)]
struct LineToolCall<'a> {
    function: LineFunction<'a>,
}

#[derive(Serialize)]
struct LineFunction<'a> {
    name: &'a str,
    arguments: Value,
}

/// The last line: Go's encoder writes the embedded metrics after `done`.
#[derive(Serialize)]
struct DoneLine<'a> {
    model: &'a str,
    created_at: String,
    message: LineMessage<'a>,
    done_reason: &'a str,
    done: bool,
    total_duration: u64,
    load_duration: u64,
    prompt_eval_count: u64,
    prompt_eval_duration: u64,
    eval_count: u64,
    eval_duration: u64,
}

fn line<T: Serialize>(value: &T) -> Bytes {
    let mut bytes = compact_json(value).into_bytes();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// Ollama's name for a finish reason given in OpenAI's words.
fn done_reason(reason: &str) -> &str {
    match reason {
        "stop" | "tool_calls" => "stop",
        other => other,
    }
}

/// A call's arguments object (deliberately malformed arguments, which Ollama itself never
/// sends, go as a string).
fn call_arguments(call: &PlannedCall) -> Value {
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(arguments @ Value::Object(_)) => arguments,
        _ => Value::String(call.arguments.clone()),
    }
}

/// Every line of a streamed reply; the last says `done`.
pub(crate) fn reply_events(model: &str, reply: &StreamReply, usage: Usage) -> ReplyEvents {
    let message = |content, thinking, tool_calls| LineMessage {
        role: "assistant",
        content,
        thinking,
        tool_calls,
    };
    let chunk = |message| {
        line(&Line {
            model,
            created_at: rfc3339_now(),
            message,
            done: false,
        })
    };
    let mut events = Vec::new();
    for piece in split_words(reply.reasoning.as_deref().unwrap_or_default()) {
        events.push(chunk(message("", Some(piece), None)));
    }
    for piece in split_words(reply.text.as_deref().unwrap_or_default()) {
        events.push(chunk(message(piece, None, None)));
    }
    if !reply.calls.is_empty() {
        let calls = reply
            .calls
            .iter()
            .map(|call| LineToolCall {
                function: LineFunction {
                    name: &call.name,
                    arguments: call_arguments(call),
                },
            })
            .collect();
        events.push(chunk(message("", None, Some(calls))));
    }
    let finish_index = events.len();
    // Plausible timings: 20 ms per prompt token, 50 ms per generated one.
    let prompt_eval_duration = usage.prompt_tokens * 20_000_000;
    let eval_duration = usage.completion_tokens * 50_000_000;
    let load_duration = 41_295_167;
    events.push(line(&DoneLine {
        model,
        created_at: rfc3339_now(),
        message: message("", None, None),
        done_reason: done_reason(&reply.finish_reason),
        done: true,
        total_duration: load_duration + prompt_eval_duration + eval_duration,
        load_duration,
        prompt_eval_count: usage.prompt_tokens,
        prompt_eval_duration,
        eval_count: usage.completion_tokens,
        eval_duration,
    }));
    ReplyEvents {
        events,
        finish_index,
    }
}

/// Ollama's error body: `{"error":"..."}`.
pub(crate) fn error_body(message: &str) -> Bytes {
    Bytes::from(compact_json(&json!({ "error": message })))
}

/// The body Ollama sends for a status, used when a scripted error has no `body`.
pub(crate) fn scripted_error_body(status: u16, model: &str) -> Bytes {
    let message = match status {
        404 => format!("model \"{model}\" not found, try pulling it first"),
        400 => format!("registry.ollama.ai/library/{model} does not support tools"),
        500 => "the model failed to generate a response".to_owned(),
        503 => "server busy, please try again.  maximum pending requests exceeded".to_owned(),
        status => format!("scripted error (HTTP {status})"),
    };
    error_body(&message)
}

/// `GET /api/tags`: `models` named by the script (or [`DEFAULT_MODEL`]), in order.
pub(crate) fn tags_body(models: &[String]) -> Bytes {
    let default = [DEFAULT_MODEL.to_owned()];
    let models = if models.is_empty() {
        &default[..]
    } else {
        models
    };
    let listed: Vec<Value> = models
        .iter()
        .enumerate()
        .map(|(index, name)| {
            json!({
                "name": name,
                "model": name,
                "modified_at": "2025-07-07T20:22:19.184789Z",
                "size": 4_683_087_332u64 + index as u64,
                "digest": format!("{:064x}", 0x7e57_u64 + index as u64),
                "details": details(),
            })
        })
        .collect();
    Bytes::from(compact_json(&json!({ "models": listed })))
}

/// `POST /api/show` for `model`: its details and context length.
pub(crate) fn show_body(model: &str) -> Bytes {
    Bytes::from(compact_json(&json!({
        "modelfile": format!("# Modelfile generated by testkit\nFROM {model}\n"),
        "parameters": "",
        "template": "{{ .Prompt }}",
        "details": details(),
        "model_info": {
            "general.architecture": "testkit",
            "general.parameter_count": 8_030_261_248u64,
            "testkit.context_length": CONTEXT_LENGTH,
        },
        "capabilities": ["completion", "tools"],
        "modified_at": "2025-07-07T20:22:19.184789Z",
    })))
}

fn details() -> Value {
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": "testkit",
        "families": ["testkit"],
        "parameter_size": "8.0B",
        "quantization_level": "Q4_K_M",
    })
}

/// Now as RFC 3339 with nanoseconds, as Go writes `time.Time`.
fn rfc3339_now() -> String {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(elapsed.as_secs(), elapsed.subsec_nanos())
}

fn rfc3339(seconds: u64, nanos: u32) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let fraction = format!("{nanos:09}");
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn timestamps_are_rfc3339_like_go() {
        assert_eq!(
            rfc3339(1_727_799_320, 496_531_500),
            "2024-10-01T16:15:20.4965315Z"
        );
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn reply_lines_have_the_recorded_shape() {
        let reply = StreamReply {
            text: Some("Hi there".into()),
            reasoning: None,
            calls: vec![PlannedCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Tokyo"}"#.into(),
            }],
            finish_reason: "tool_calls".into(),
            usage: None,
        };
        let usage = Usage {
            prompt_tokens: 169,
            completion_tokens: 15,
        };
        let events = reply_events("llama3.2", &reply, usage);
        let lines: Vec<Value> = events
            .events
            .iter()
            .map(|line| {
                assert!(line.ends_with(b"\n") && !line[..line.len() - 1].contains(&b'\n'));
                serde_json::from_slice(line).unwrap()
            })
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0]["message"],
            json!({"role": "assistant", "content": "Hi"})
        );
        assert_eq!(lines[1]["message"]["content"], " there");
        assert_eq!(
            lines[2]["message"],
            json!({"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}
            ]})
        );
        assert_eq!(events.finish_index, 3);
        let done = String::from_utf8_lossy(&events.events[3]);
        assert!(
            done.contains(r#""message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":"#),
            "{done}"
        );
        assert_eq!(lines[3]["prompt_eval_count"], 169);
        assert_eq!(lines[3]["eval_count"], 15);
        assert!(
            done.starts_with(r#"{"model":"llama3.2","created_at":""#),
            "{done}"
        );
    }

    #[test]
    fn requests_normalize_with_positions() {
        let body = json!({"model": "qwen3", "stream": true, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "task"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "read", "arguments": {"path": "a"}}},
                {"function": {"name": "ls", "arguments": {}}},
            ]},
            {"role": "tool", "content": "A", "tool_name": "read"},
            {"role": "tool", "content": "B", "tool_name": "grep"},
        ]});
        let request = parse_request(&body).unwrap();
        assert_eq!(request.model, "qwen3");
        assert_eq!(request.messages[2]["tool_calls"][0]["id"], position_id(0));
        assert_eq!(
            request.messages[2]["tool_calls"][1]["function"]["arguments"],
            "{}"
        );
        assert_eq!(request.messages[3]["tool_call_id"], position_id(0));
        assert_eq!(request.messages[4]["tool_call_id"], unpaired_id(1));
    }

    #[test]
    fn what_ollama_refuses_is_refused() {
        let cases = [
            (json!({"messages": []}), "model is required"),
            (json!({"model": "m"}), "`messages`"),
            (
                json!({"model": "m", "messages": [], "stream": false}),
                "stream: false",
            ),
            (
                json!({"model": "m", "messages": [{"role": "bot", "content": "x"}]}),
                "invalid role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "content": "",
                    "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]}),
                "cannot unmarshal string",
            ),
        ];
        for (body, fragment) in cases {
            let error = parse_request(&body).unwrap_err();
            assert!(error.contains(fragment), "{fragment}: {error}");
        }
    }

    #[test]
    fn tags_list_the_script_models_or_a_default() {
        let tags: Value = serde_json::from_slice(&tags_body(&[])).unwrap();
        assert_eq!(tags["models"][0]["name"], DEFAULT_MODEL);
        let tags: Value =
            serde_json::from_slice(&tags_body(&["a:1".to_owned(), "b".to_owned()])).unwrap();
        assert_eq!(tags["models"][1]["name"], "b");
        assert_eq!(tags["models"][1]["details"]["parameter_size"], "8.0B");
        let show: Value = serde_json::from_slice(&show_body("a:1")).unwrap();
        assert_eq!(show["model_info"]["testkit.context_length"], CONTEXT_LENGTH);
    }
}
