//! The `POST /chat/completions` request body.

use code_mesh_core::ModelRequest;
use code_mesh_protocol::{Message, Part, Role};
use serde::Serialize;

/// How the output limit is named: OpenAI's own API wants `max_completion_tokens` (its
/// reasoning models refuse `max_tokens`); compatible servers know `max_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MaxTokensField {
    MaxTokens,
    MaxCompletionTokens,
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum WireMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: String,
    },
    Assistant {
        /// `null` when the message is only tool calls.
        content: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a serde_json::Value,
}

/// The JSON body for `request`, streamed with usage.
pub(crate) fn body(
    request: &ModelRequest,
    max_tokens_field: MaxTokensField,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(WireMessage::System {
            content: &request.system,
        });
    }
    for message in &request.messages {
        push_message(&mut messages, message);
    }
    let tools = request
        .tools
        .iter()
        .map(|tool| WireTool {
            kind: "function",
            function: WireFunction {
                name: &tool.name,
                description: &tool.description,
                parameters: &tool.parameters,
            },
        })
        .collect();
    let (max_tokens, max_completion_tokens) = match max_tokens_field {
        MaxTokensField::MaxTokens => (request.max_tokens, None),
        MaxTokensField::MaxCompletionTokens => (None, request.max_tokens),
    };
    serde_json::to_vec(&Body {
        model: &request.model,
        messages,
        tools,
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
        },
        temperature: request.temperature.map(shortest_f64),
        max_tokens,
        max_completion_tokens,
    })
}

/// 0.7f32 as 0.7 rather than 0.699999988079071.
fn shortest_f64(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

fn push_message<'a>(out: &mut Vec<WireMessage<'a>>, message: &'a Message) {
    // Results first: they answer the preceding assistant message, whatever role holds them.
    for result in message.tool_results() {
        out.push(WireMessage::Tool {
            tool_call_id: &result.call_id,
            content: &result.output,
        });
    }
    let has_text = message.parts.iter().any(|p| matches!(p, Part::Text { .. }));
    match message.role {
        Role::User => {
            if has_text || message.tool_results().next().is_none() {
                out.push(WireMessage::User {
                    content: message.text(),
                });
            }
        }
        Role::Assistant => {
            let tool_calls: Vec<_> = message
                .tool_calls()
                .map(|call| WireToolCall {
                    id: &call.call_id,
                    kind: "function",
                    function: WireFunctionCall {
                        name: &call.name,
                        arguments: &call.arguments,
                    },
                })
                .collect();
            let text = message.text();
            let content = if text.is_empty() && !tool_calls.is_empty() {
                None
            } else {
                Some(text)
            };
            out.push(WireMessage::Assistant {
                content,
                tool_calls,
            });
        }
        Role::Tool => {
            if has_text {
                out.push(WireMessage::User {
                    content: message.text(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{ToolCall, ToolResult, ToolSpec};
    use pretty_assertions::assert_eq;
    use serde_json::json;

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

    fn text(text: &str) -> Part {
        Part::Text { text: text.into() }
    }

    fn body_json(request: &ModelRequest, field: MaxTokensField) -> serde_json::Value {
        serde_json::from_slice(&body(request, field).unwrap()).unwrap()
    }

    #[test]
    fn messages_tools_and_options_map_to_the_chat_wire() {
        let request = ModelRequest {
            model: "gpt-5-mini".into(),
            system: "You are terse.".into(),
            messages: vec![
                message(Role::User, vec![text("List files")]),
                message(
                    Role::Assistant,
                    vec![
                        Part::Reasoning {
                            text: "thinking".into(),
                            signature: None,
                            id: None,
                            redacted: false,
                        },
                        Part::ToolCall(ToolCall {
                            call_id: "call_1".into(),
                            name: "ls".into(),
                            arguments: "{\"path\": \".\"}".into(),
                            signature: None,
                        }),
                        Part::ToolCall(ToolCall {
                            call_id: "call_2".into(),
                            name: "read".into(),
                            arguments: "{not json".into(),
                            signature: None,
                        }),
                    ],
                ),
                message(
                    Role::Tool,
                    vec![
                        Part::ToolResult(ToolResult {
                            call_id: "call_1".into(),
                            name: "ls".into(),
                            output: "a.rs\nb.rs".into(),
                            is_error: false,
                        }),
                        Part::ToolResult(ToolResult {
                            call_id: "call_2".into(),
                            name: "read".into(),
                            output: "arguments are not JSON".into(),
                            is_error: true,
                        }),
                    ],
                ),
                message(Role::Assistant, vec![text("Two files.")]),
            ],
            tools: vec![ToolSpec {
                name: "ls".into(),
                description: "List a directory".into(),
                parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            }],
            temperature: Some(0.7),
            max_tokens: Some(1000),
        };
        assert_eq!(
            body_json(&request, MaxTokensField::MaxTokens),
            json!({
                "model": "gpt-5-mini",
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "List files"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "ls", "arguments": "{\"path\": \".\"}"}},
                        {"id": "call_2", "type": "function",
                         "function": {"name": "read", "arguments": "{not json"}},
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "a.rs\nb.rs"},
                    {"role": "tool", "tool_call_id": "call_2", "content": "arguments are not JSON"},
                    {"role": "assistant", "content": "Two files."},
                ],
                "tools": [{"type": "function", "function": {
                    "name": "ls",
                    "description": "List a directory",
                    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
                }}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "temperature": 0.7,
                "max_tokens": 1000,
            })
        );
    }

    #[test]
    fn openai_itself_gets_max_completion_tokens() {
        let request = ModelRequest {
            model: "gpt-5-mini".into(),
            system: String::new(),
            messages: vec![message(Role::User, vec![text("hi")])],
            tools: vec![],
            temperature: None,
            max_tokens: Some(50),
        };
        assert_eq!(
            body_json(&request, MaxTokensField::MaxCompletionTokens),
            json!({
                "model": "gpt-5-mini",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "max_completion_tokens": 50,
            })
        );
    }
}
