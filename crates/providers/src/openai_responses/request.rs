//! The `POST /responses` request body.
//!
//! Nothing is stored on OpenAI's side (`store: false`): the whole conversation is sent each
//! time, reasoning items included. Those come back exactly as the API returned them (id,
//! summary and `encrypted_content`), in their place before the calls that followed them, so
//! the model keeps its chain of thought across tool calls.

use code_mesh_core::ModelRequest;
use code_mesh_protocol::{Message, Part, Role};
use serde::Serialize;

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    instructions: &'a str,
    input: Vec<InputItem<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    stream: bool,
    store: bool,
    include: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
}

/// One item of `input`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum InputItem<'a> {
    Message {
        role: &'static str,
        content: Vec<ContentPart<'a>>,
    },
    Reasoning {
        id: &'a str,
        summary: Vec<SummaryText<'a>>,
        encrypted_content: &'a str,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentPart<'a> {
    InputText { text: &'a str },
    OutputText { text: &'a str },
}

#[derive(Serialize)]
struct SummaryText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    description: &'a str,
    parameters: &'a serde_json::Value,
    strict: bool,
}

/// The JSON body for `request`, streamed, unstored, with encrypted reasoning included.
pub(crate) fn body(request: &ModelRequest) -> Result<Vec<u8>, serde_json::Error> {
    let mut input = Vec::with_capacity(request.messages.len() * 2);
    for message in &request.messages {
        push_message(&mut input, message);
    }
    let tools = request
        .tools
        .iter()
        .map(|tool| WireTool {
            kind: "function",
            name: &tool.name,
            description: &tool.description,
            parameters: &tool.parameters,
            strict: false,
        })
        .collect();
    serde_json::to_vec(&Body {
        model: &request.model,
        instructions: &request.system,
        input,
        tools,
        stream: true,
        store: false,
        include: ["reasoning.encrypted_content"],
        max_output_tokens: request.max_tokens,
        temperature: request.temperature.map(shortest_f64),
    })
}

/// 0.7f32 as 0.7 rather than 0.699999988079071.
fn shortest_f64(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

fn push_message<'a>(out: &mut Vec<InputItem<'a>>, message: &'a Message) {
    // Results first: they answer the preceding assistant message, whatever role holds them.
    for result in message.tool_results() {
        out.push(InputItem::FunctionCallOutput {
            call_id: &result.call_id,
            output: &result.output,
        });
    }
    match message.role {
        Role::User | Role::Tool => {
            let content: Vec<ContentPart<'a>> = message
                .parts
                .iter()
                .filter_map(|part| match part {
                    Part::Text { text } => Some(ContentPart::InputText { text }),
                    _ => None,
                })
                .collect();
            let only_results = message.tool_results().next().is_some();
            if !content.is_empty() || (message.role == Role::User && !only_results) {
                out.push(InputItem::Message {
                    role: "user",
                    content,
                });
            }
        }
        Role::Assistant => push_assistant(out, message),
    }
}

/// The assistant's items in the order they were produced: reasoning, text, calls.
fn push_assistant<'a>(out: &mut Vec<InputItem<'a>>, message: &'a Message) {
    // Whether the last item pushed is this message's text, which further text joins.
    let mut in_text = false;
    for (index, part) in message.parts.iter().enumerate() {
        match part {
            Part::Text { text } if !text.is_empty() => {
                match out.last_mut() {
                    Some(InputItem::Message { content, .. }) if in_text => {
                        content.push(ContentPart::OutputText { text });
                    }
                    _ => out.push(InputItem::Message {
                        role: "assistant",
                        content: vec![ContentPart::OutputText { text }],
                    }),
                }
                in_text = true;
            }
            Part::Reasoning {
                text,
                signature: Some(signature),
                id: Some(id),
                ..
            } => {
                // The API refuses a reasoning item that nothing follows (an answer cut off
                // after its reasoning); reasoning from other wires has no id and is skipped.
                let followed = message.parts[index + 1..].iter().any(|later| match later {
                    Part::Text { text } => !text.is_empty(),
                    Part::ToolCall(_) => true,
                    _ => false,
                });
                if followed {
                    let summary = if text.is_empty() {
                        Vec::new()
                    } else {
                        vec![SummaryText {
                            kind: "summary_text",
                            text,
                        }]
                    };
                    out.push(InputItem::Reasoning {
                        id,
                        summary,
                        encrypted_content: signature,
                    });
                    in_text = false;
                }
            }
            Part::ToolCall(call) => {
                out.push(InputItem::FunctionCall {
                    call_id: &call.call_id,
                    name: &call.name,
                    arguments: &call.arguments,
                });
                in_text = false;
            }
            Part::Reasoning { .. } | Part::Text { .. } | Part::ToolResult(_) => {}
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

    fn reasoning(text: &str, id: Option<&str>, signature: Option<&str>) -> Part {
        Part::Reasoning {
            text: text.into(),
            signature: signature.map(Into::into),
            id: id.map(Into::into),
            redacted: text.is_empty(),
        }
    }

    fn body_json(request: &ModelRequest) -> serde_json::Value {
        serde_json::from_slice(&body(request).unwrap()).unwrap()
    }

    #[test]
    fn messages_reasoning_tools_and_options_map_to_the_responses_wire() {
        let request = ModelRequest {
            model: "gpt-5".into(),
            system: "You are terse.".into(),
            messages: vec![
                message(Role::User, vec![text("List files")]),
                message(
                    Role::Assistant,
                    vec![
                        reasoning("", Some("rs_1"), Some("gAAAA-one")),
                        reasoning("Look first.", Some("rs_2"), Some("gAAAA-two")),
                        reasoning("from another wire", None, None),
                        text("Looking."),
                        Part::ToolCall(ToolCall::new("call_1", "ls", "{\"path\": \".\"}")),
                        Part::ToolCall(ToolCall::new("call_2", "read", "{not json")),
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
                message(Role::User, vec![text("Thanks")]),
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
            body_json(&request),
            json!({
                "model": "gpt-5",
                "instructions": "You are terse.",
                "input": [
                    {"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": "List files"}]},
                    {"type": "reasoning", "id": "rs_1", "summary": [],
                     "encrypted_content": "gAAAA-one"},
                    {"type": "reasoning", "id": "rs_2",
                     "summary": [{"type": "summary_text", "text": "Look first."}],
                     "encrypted_content": "gAAAA-two"},
                    {"type": "message", "role": "assistant",
                     "content": [{"type": "output_text", "text": "Looking."}]},
                    {"type": "function_call", "call_id": "call_1", "name": "ls",
                     "arguments": "{\"path\": \".\"}"},
                    {"type": "function_call", "call_id": "call_2", "name": "read",
                     "arguments": "{not json"},
                    {"type": "function_call_output", "call_id": "call_1", "output": "a.rs\nb.rs"},
                    {"type": "function_call_output", "call_id": "call_2",
                     "output": "arguments are not JSON"},
                    {"type": "message", "role": "assistant",
                     "content": [{"type": "output_text", "text": "Two files."}]},
                    {"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": "Thanks"}]},
                ],
                "tools": [{
                    "type": "function",
                    "name": "ls",
                    "description": "List a directory",
                    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
                    "strict": false,
                }],
                "stream": true,
                "store": false,
                "include": ["reasoning.encrypted_content"],
                "max_output_tokens": 1000,
                "temperature": 0.7,
            })
        );
    }

    #[test]
    fn reasoning_with_nothing_after_it_and_empty_text_are_left_out() {
        let request = ModelRequest {
            model: "gpt-5".into(),
            system: String::new(),
            messages: vec![
                message(Role::User, vec![text("hi")]),
                message(
                    Role::Assistant,
                    vec![reasoning("cut off", Some("rs_1"), Some("enc")), text("")],
                ),
                message(Role::User, vec![text("again")]),
            ],
            tools: vec![],
            temperature: None,
            max_tokens: None,
        };
        assert_eq!(
            body_json(&request),
            json!({
                "model": "gpt-5",
                "input": [
                    {"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": "hi"}]},
                    {"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": "again"}]},
                ],
                "stream": true,
                "store": false,
                "include": ["reasoning.encrypted_content"],
            })
        );
    }
}
