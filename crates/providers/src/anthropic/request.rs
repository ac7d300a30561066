//! The `POST /v1/messages` request body.
//!
//! - `system` is a list with one text block; `tools` carry `input_schema`. Prompt caching
//!   puts `cache_control: {"type":"ephemeral"}` on the system block, on the last tool and on
//!   the last cacheable block of the conversation, so each request reads the prefix the
//!   previous one wrote (three of the four breakpoints the API allows).
//! - Messages alternate `user`/`assistant`: engine messages of the same role in a row are
//!   merged, `tool` messages become `user` messages of `tool_result` blocks (results before
//!   any text, as the API requires), and messages left without content are dropped.
//! - An assistant message starts with its thinking blocks, signatures sent back unchanged
//!   (`redacted_thinking` carries its `data` in the part's `signature`). Reasoning without a
//!   signature, or written by another provider (the message's model names it), is left out:
//!   the API rejects thinking blocks it cannot verify.
//! - A tool call's `input` must be a JSON object. Arguments that are not one (a call cut
//!   off by `max_tokens`, malformed model output) are sent as `{}`, and the arguments as
//!   written are quoted at the start of that call's `tool_result`, so the model still sees
//!   what it wrote without a made-up key appearing in the call. A key such as `_raw` inside
//!   the input would look like a real parameter the model might imitate; an input that is
//!   not an object would be refused by the API.

use std::borrow::Cow;
use std::collections::HashMap;

use code_mesh_core::ModelRequest;
use code_mesh_protocol::{Message, Part, Role};
use serde::Serialize;
use serde_json::Value;

/// `max_tokens` when the request sets none: every current Claude model can write this
/// much, and a larger value only counts against the context window.
pub const DEFAULT_MAX_TOKENS: u32 = 8192;

/// Claude 3 models (other than 3.5 and 3.7) write at most 4096 tokens.
const CLAUDE_3_MAX_TOKENS: u32 = 4096;

/// Options of the provider that shape the body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyOptions<'a> {
    /// The provider's name: reasoning written under another provider is not sent back.
    pub provider: &'a str,
    /// Extended thinking with this token budget; `None` leaves thinking off.
    pub thinking_budget: Option<u32>,
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Block<'a>>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking>,
    stream: bool,
}

#[derive(Serialize)]
struct Thinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u32,
}

#[derive(Clone, Copy, Serialize)]
struct CacheControl {
    #[serde(rename = "type")]
    kind: &'static str,
}

const EPHEMERAL: Option<CacheControl> = Some(CacheControl { kind: "ephemeral" });

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<Cow<'a, str>>,
        is_error: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
}

impl Block<'_> {
    /// Marks the block as a cache breakpoint; `false` for thinking blocks, which cannot
    /// be one.
    fn set_cache_control(&mut self) -> bool {
        match self {
            Block::Text { cache_control, .. }
            | Block::ToolUse { cache_control, .. }
            | Block::ToolResult { cache_control, .. } => {
                *cache_control = EPHEMERAL;
                true
            }
            Block::Thinking { .. } | Block::RedactedThinking { .. } => false,
        }
    }

    /// Where the block goes within its message: thinking first in assistant messages,
    /// tool results first in user messages.
    fn rank(&self) -> u8 {
        match self {
            Block::Thinking { .. } | Block::RedactedThinking { .. } | Block::ToolResult { .. } => 0,
            Block::Text { .. } | Block::ToolUse { .. } => 1,
        }
    }
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

/// The `max_tokens` sent when the request sets none.
pub(crate) fn default_max_tokens(model: &str) -> u32 {
    let claude_3 = model.starts_with("claude-3-")
        && !model.starts_with("claude-3-5")
        && !model.starts_with("claude-3-7");
    if claude_3 {
        CLAUDE_3_MAX_TOKENS
    } else {
        DEFAULT_MAX_TOKENS
    }
}

/// The JSON body for `request`.
pub(crate) fn body(
    request: &ModelRequest,
    options: BodyOptions<'_>,
) -> Result<Vec<u8>, serde_json::Error> {
    let system = if request.system.is_empty() {
        Vec::new()
    } else {
        vec![Block::Text {
            text: Cow::Borrowed(&request.system),
            cache_control: EPHEMERAL,
        }]
    };
    let mut tools: Vec<WireTool<'_>> = request
        .tools
        .iter()
        .map(|tool| WireTool {
            name: &tool.name,
            description: &tool.description,
            input_schema: &tool.parameters,
            cache_control: None,
        })
        .collect();
    if let Some(last) = tools.last_mut() {
        last.cache_control = EPHEMERAL;
    }
    let mut messages = messages(&request.messages, options.provider);
    if let Some(last) = messages.last_mut() {
        for block in last.content.iter_mut().rev() {
            if block.set_cache_control() {
                break;
            }
        }
    }
    let max_tokens = request.max_tokens.unwrap_or_else(|| {
        default_max_tokens(&request.model).saturating_add(options.thinking_budget.unwrap_or(0))
    });
    let thinking = options.thinking_budget.map(|budget_tokens| Thinking {
        kind: "enabled",
        budget_tokens,
    });
    // The API refuses a temperature with thinking on.
    let temperature = request
        .temperature
        .filter(|_| thinking.is_none())
        .map(shortest_f64);
    serde_json::to_vec(&Body {
        model: &request.model,
        max_tokens,
        system,
        messages,
        tools,
        temperature,
        thinking,
        stream: true,
    })
}

/// 0.7f32 as 0.7 rather than 0.699999988079071.
fn shortest_f64(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// The engine's messages as alternating `user`/`assistant` messages.
fn messages<'a>(history: &'a [Message], provider: &str) -> Vec<WireMessage<'a>> {
    // Calls whose arguments are not a JSON object, by id: their results quote them.
    let mut unsendable: HashMap<&str, &str> = HashMap::new();
    let mut out: Vec<WireMessage<'a>> = Vec::with_capacity(history.len());
    for message in history {
        let (role, blocks) = match message.role {
            Role::Assistant => (
                "assistant",
                assistant_blocks(message, provider, &mut unsendable),
            ),
            Role::User | Role::Tool => ("user", user_blocks(message, &unsendable)),
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(previous) if previous.role == role => previous.content.extend(blocks),
            _ => out.push(WireMessage {
                role,
                content: blocks,
            }),
        }
    }
    for message in &mut out {
        // Stable: the order within each rank is kept.
        message.content.sort_by_key(Block::rank);
    }
    out
}

fn assistant_blocks<'a>(
    message: &'a Message,
    provider: &str,
    unsendable: &mut HashMap<&'a str, &'a str>,
) -> Vec<Block<'a>> {
    let own_reasoning = message
        .model
        .as_deref()
        .is_none_or(|model| model.split('/').next() == Some(provider));
    let mut blocks = Vec::with_capacity(message.parts.len());
    for part in &message.parts {
        match part {
            Part::Reasoning {
                text,
                signature: Some(signature),
                redacted,
                ..
            } if own_reasoning && !signature.is_empty() => blocks.push(if *redacted {
                Block::RedactedThinking { data: signature }
            } else {
                Block::Thinking {
                    thinking: text,
                    signature,
                }
            }),
            Part::Reasoning { .. } | Part::ToolResult(_) => {}
            Part::Text { text } if !text.is_empty() => blocks.push(Block::Text {
                text: Cow::Borrowed(text),
                cache_control: None,
            }),
            Part::Text { .. } => {}
            Part::ToolCall(call) => {
                let input = match serde_json::from_str::<Value>(&call.arguments) {
                    Ok(input @ Value::Object(_)) => input,
                    _ if call.arguments.trim().is_empty() => Value::Object(Default::default()),
                    _ => {
                        unsendable.insert(&call.call_id, &call.arguments);
                        Value::Object(Default::default())
                    }
                };
                blocks.push(Block::ToolUse {
                    id: &call.call_id,
                    name: &call.name,
                    input,
                    cache_control: None,
                });
            }
        }
    }
    blocks
}

fn user_blocks<'a>(message: &'a Message, unsendable: &HashMap<&str, &str>) -> Vec<Block<'a>> {
    let mut blocks = Vec::with_capacity(message.parts.len());
    for result in message.tool_results() {
        let content = match unsendable.get(result.call_id.as_str()) {
            Some(arguments) => Some(Cow::Owned(format!(
                "(The arguments of this call were not a JSON object, so the call above shows \
                 `{{}}`; as written they were: {arguments})\n\n{}",
                result.output
            ))),
            None if result.output.is_empty() => None,
            None => Some(Cow::Borrowed(result.output.as_str())),
        };
        blocks.push(Block::ToolResult {
            tool_use_id: &result.call_id,
            content,
            is_error: result.is_error,
            cache_control: None,
        });
    }
    for part in &message.parts {
        if let Part::Text { text } = part
            && !text.is_empty()
        {
            blocks.push(Block::Text {
                text: Cow::Borrowed(text),
                cache_control: None,
            });
        }
    }
    blocks
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

    fn options() -> BodyOptions<'static> {
        BodyOptions {
            provider: "anthropic",
            thinking_budget: None,
        }
    }

    fn body_json(request: &ModelRequest, options: BodyOptions<'_>) -> Value {
        serde_json::from_slice(&body(request, options).unwrap()).unwrap()
    }

    fn request(messages: Vec<Message>) -> ModelRequest {
        ModelRequest {
            model: "claude-sonnet-4-5".into(),
            system: String::new(),
            messages,
            tools: vec![],
            temperature: None,
            max_tokens: None,
        }
    }

    #[test]
    fn a_tool_using_conversation_maps_to_the_messages_wire() {
        let request = ModelRequest {
            model: "claude-sonnet-4-5".into(),
            system: "You are terse.".into(),
            messages: vec![
                message(Role::User, vec![text("List files")]),
                message(
                    Role::Assistant,
                    vec![
                        text("Listing."),
                        Part::Reasoning {
                            text: "I should list.".into(),
                            signature: Some("sig/+==".into()),
                            id: None,
                            redacted: false,
                        },
                        Part::Reasoning {
                            text: String::new(),
                            signature: Some("ENCRYPTED".into()),
                            id: None,
                            redacted: true,
                        },
                        Part::ToolCall(ToolCall::new("toolu_1", "ls", r#"{"path": "."}"#)),
                        Part::ToolCall(ToolCall::new("toolu_2", "read", "{\"path\": \"a")),
                    ],
                ),
                message(
                    Role::Tool,
                    vec![
                        Part::ToolResult(ToolResult {
                            call_id: "toolu_1".into(),
                            name: "ls".into(),
                            output: "a.rs\nb.rs".into(),
                            is_error: false,
                        }),
                        Part::ToolResult(ToolResult {
                            call_id: "toolu_2".into(),
                            name: "read".into(),
                            output: "the arguments are not valid JSON".into(),
                            is_error: true,
                        }),
                    ],
                ),
                message(Role::User, vec![text("And then?")]),
            ],
            tools: vec![
                ToolSpec {
                    name: "ls".into(),
                    description: "List a directory".into(),
                    parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
                },
                ToolSpec {
                    name: "read".into(),
                    description: "Read a file".into(),
                    parameters: json!({"type": "object"}),
                },
            ],
            temperature: Some(0.7),
            max_tokens: Some(1000),
        };
        assert_eq!(
            body_json(&request, options()),
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 1000,
                "system": [{"type": "text", "text": "You are terse.",
                            "cache_control": {"type": "ephemeral"}}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "List files"}]},
                    {"role": "assistant", "content": [
                        {"type": "thinking", "thinking": "I should list.", "signature": "sig/+=="},
                        {"type": "redacted_thinking", "data": "ENCRYPTED"},
                        {"type": "text", "text": "Listing."},
                        {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"path": "."}},
                        {"type": "tool_use", "id": "toolu_2", "name": "read", "input": {}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1",
                         "content": "a.rs\nb.rs", "is_error": false},
                        {"type": "tool_result", "tool_use_id": "toolu_2",
                         "content": "(The arguments of this call were not a JSON object, so the call above shows `{}`; as written they were: {\"path\": \"a)\n\nthe arguments are not valid JSON",
                         "is_error": true},
                        {"type": "text", "text": "And then?",
                         "cache_control": {"type": "ephemeral"}},
                    ]},
                ],
                "tools": [
                    {"name": "ls", "description": "List a directory",
                     "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
                    {"name": "read", "description": "Read a file",
                     "input_schema": {"type": "object"},
                     "cache_control": {"type": "ephemeral"}},
                ],
                "temperature": 0.7,
                "stream": true,
            })
        );
    }

    #[test]
    fn defaults_without_system_tools_or_limits() {
        assert_eq!(
            body_json(
                &request(vec![message(Role::User, vec![text("hi")])]),
                options()
            ),
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 8192,
                "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
                ]}],
                "stream": true,
            })
        );
        assert_eq!(default_max_tokens("claude-3-haiku-20240307"), 4096);
        assert_eq!(default_max_tokens("claude-3-5-haiku-latest"), 8192);
        assert_eq!(default_max_tokens("claude-opus-4-1"), 8192);
    }

    #[test]
    fn thinking_drops_temperature_and_raises_the_default_limit() {
        let mut request = request(vec![message(Role::User, vec![text("hi")])]);
        request.temperature = Some(0.2);
        let body = body_json(
            &request,
            BodyOptions {
                provider: "anthropic",
                thinking_budget: Some(2048),
            },
        );
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        assert_eq!(body["max_tokens"], 8192 + 2048);
        assert_eq!(body.get("temperature"), None);
    }

    #[test]
    fn same_roles_merge_and_empty_messages_drop() {
        let with_results = message(
            Role::Tool,
            vec![Part::ToolResult(ToolResult {
                call_id: "t1".into(),
                name: "bash".into(),
                output: String::new(),
                is_error: false,
            })],
        );
        let request = request(vec![
            message(Role::User, vec![text("one")]),
            message(Role::User, vec![text("two")]),
            message(Role::Assistant, vec![text("")]),
            message(
                Role::Assistant,
                vec![Part::ToolCall(ToolCall::new("t1", "bash", ""))],
            ),
            message(Role::User, vec![text("interrupting")]),
            with_results,
        ]);
        assert_eq!(
            body_json(&request, options())["messages"],
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "one"},
                    {"type": "text", "text": "two"},
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "bash", "input": {}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "is_error": false},
                    {"type": "text", "text": "interrupting",
                     "cache_control": {"type": "ephemeral"}},
                ]},
            ])
        );
    }

    #[test]
    fn reasoning_of_other_providers_and_unsigned_reasoning_stay_behind() {
        let reasoning = |signature: Option<&str>| Part::Reasoning {
            text: "thought".into(),
            signature: signature.map(str::to_owned),
            id: None,
            redacted: false,
        };
        let mut from_openai = message(Role::Assistant, vec![reasoning(Some("enc")), text("a")]);
        from_openai.model = Some("openai/gpt-5".into());
        let mut own = message(Role::Assistant, vec![reasoning(Some("sig")), text("b")]);
        own.model = Some("anthropic/claude-sonnet-4-5".into());
        let unsigned = message(Role::Assistant, vec![reasoning(None), text("c")]);
        let request = request(vec![
            message(Role::User, vec![text("q1")]),
            from_openai,
            message(Role::User, vec![text("q2")]),
            own,
            message(Role::User, vec![text("q3")]),
            unsigned,
            message(Role::User, vec![text("q4")]),
        ]);
        let body = body_json(&request, options());
        let assistant_content: Vec<&Value> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "assistant")
            .map(|m| &m["content"])
            .collect();
        assert_eq!(
            assistant_content,
            [
                &json!([{"type": "text", "text": "a"}]),
                &json!([
                    {"type": "thinking", "thinking": "thought", "signature": "sig"},
                    {"type": "text", "text": "b"},
                ]),
                &json!([{"type": "text", "text": "c"}]),
            ]
        );
    }

    #[test]
    fn the_breakpoint_skips_a_trailing_thinking_block() {
        let request = request(vec![
            message(Role::User, vec![text("q")]),
            message(
                Role::Assistant,
                vec![
                    text("partial"),
                    Part::Reasoning {
                        text: "t".into(),
                        signature: Some("s".into()),
                        id: None,
                        redacted: false,
                    },
                ],
            ),
        ]);
        assert_eq!(
            body_json(&request, options())["messages"][1]["content"],
            json!([
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "text", "text": "partial", "cache_control": {"type": "ephemeral"}},
            ])
        );
    }
}
