//! The `POST /api/chat` request body.
//!
//! Ollama's tool calls carry no id: a `tool` message answers the calls of the preceding
//! assistant message in order and names its tool in `tool_name`.

use code_mesh_core::ModelRequest;
use code_mesh_protocol::{Message, Part, Role};
use serde_json::{Map, Value, json};

use crate::body_stream::{arguments_object, shortest_f64};

/// The JSON body for `request`, streamed.
pub(crate) fn body(request: &ModelRequest) -> Result<Vec<u8>, serde_json::Error> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({ "role": "system", "content": request.system }));
    }
    for message in &request.messages {
        push_message(&mut messages, message);
    }
    let mut body = Map::new();
    body.insert("model".into(), Value::String(request.model.clone()));
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    body.insert("stream".into(), Value::Bool(true));
    let mut options = Map::new();
    if let Some(temperature) = request.temperature {
        options.insert("temperature".into(), json!(shortest_f64(temperature)));
    }
    if let Some(max_tokens) = request.max_tokens {
        options.insert("num_predict".into(), json!(max_tokens));
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    serde_json::to_vec(&Value::Object(body))
}

fn push_message(out: &mut Vec<Value>, message: &Message) {
    // Results first: they answer the preceding assistant message, whatever role holds them.
    for result in message.tool_results() {
        out.push(json!({ "role": "tool", "content": result.output, "tool_name": result.name }));
    }
    let has_text = message.parts.iter().any(|p| matches!(p, Part::Text { .. }));
    match message.role {
        Role::User => {
            if has_text || message.tool_results().next().is_none() {
                out.push(json!({ "role": "user", "content": message.text() }));
            }
        }
        Role::Assistant => {
            let mut assistant = Map::new();
            assistant.insert("role".into(), Value::String("assistant".into()));
            assistant.insert("content".into(), Value::String(message.text()));
            let calls: Vec<Value> = message
                .tool_calls()
                .map(|call| {
                    json!({ "function": {
                        "name": call.name,
                        "arguments": arguments_object(&call.arguments),
                    }})
                })
                .collect();
            if !calls.is_empty() {
                assistant.insert("tool_calls".into(), Value::Array(calls));
            }
            out.push(Value::Object(assistant));
        }
        Role::Tool => {
            if has_text {
                out.push(json!({ "role": "user", "content": message.text() }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{ToolCall, ToolResult, ToolSpec};
    use pretty_assertions::assert_eq;

    use super::*;

    fn message(role: Role, parts: Vec<Part>) -> Message {
        Message {
            seq: 1,
            role,
            parts,
            model: None,
            usage: None,
            interrupted: false,
            created_at: 0,
        }
    }

    #[test]
    fn conversation_maps_to_the_chat_api() {
        let request = ModelRequest {
            model: "qwen3-coder".into(),
            system: "You are terse.".into(),
            messages: vec![
                message(
                    Role::User,
                    vec![Part::Text {
                        text: "List files".into(),
                    }],
                ),
                message(
                    Role::Assistant,
                    vec![
                        Part::ToolCall(ToolCall::new("call_cm1_0", "ls", r#"{"path":"."}"#)),
                        Part::ToolCall(ToolCall::new("call_cm1_1", "read", "{oops")),
                    ],
                ),
                message(
                    Role::Tool,
                    vec![
                        Part::ToolResult(ToolResult {
                            call_id: "call_cm1_0".into(),
                            name: "ls".into(),
                            output: "a.rs".into(),
                            is_error: false,
                        }),
                        Part::ToolResult(ToolResult {
                            call_id: "call_cm1_1".into(),
                            name: "read".into(),
                            output: "arguments are not JSON".into(),
                            is_error: true,
                        }),
                    ],
                ),
                message(
                    Role::Assistant,
                    vec![Part::Text {
                        text: "One file.".into(),
                    }],
                ),
            ],
            tools: vec![ToolSpec {
                name: "ls".into(),
                description: "List".into(),
                parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            }],
            temperature: Some(0.2),
            max_tokens: Some(64),
        };
        let body: Value = serde_json::from_slice(&body(&request).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "qwen3-coder",
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "List files"},
                    {"role": "assistant", "content": "", "tool_calls": [
                        {"function": {"name": "ls", "arguments": {"path": "."}}},
                        {"function": {"name": "read", "arguments": {"raw_arguments": "{oops"}}},
                    ]},
                    {"role": "tool", "content": "a.rs", "tool_name": "ls"},
                    {"role": "tool", "content": "arguments are not JSON", "tool_name": "read"},
                    {"role": "assistant", "content": "One file."},
                ],
                "tools": [{"type": "function", "function": {
                    "name": "ls",
                    "description": "List",
                    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
                }}],
                "stream": true,
                "options": {"temperature": 0.2, "num_predict": 64},
            })
        );
    }
}
