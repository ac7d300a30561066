//! The script: the turns the server plays, read from TOML (see `load`) or built in Rust.
//!
//! Every struct denies unknown fields so a typo in a script is an error, not a silently
//! ignored check.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

/// A list of turns; each answers one `POST /v1/chat/completions`, in order.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// The turns, written `[[turn]]` in TOML.
    #[serde(default, rename = "turn")]
    pub turns: Vec<Turn>,
    /// How strictly tool-call results are demanded back (see [`Pairing`]).
    #[serde(default)]
    pub pairing: Pairing,
}

/// Which later requests must carry a tool call the server issued, with its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pairing {
    /// Requests of the same conversation (same first user message), and any request that
    /// mentions the call id. Lets parallel agents with different tasks share one server.
    #[default]
    Conversation,
    /// Every later request, whatever conversation it belongs to.
    Global,
    /// No pairing checks (e.g. tests of history compaction).
    Off,
}

/// One model turn: a streamed reply, an HTTP error, or raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// Assistant text, streamed as one delta per word.
    pub text: Option<String>,
    /// Sent as `delta.reasoning_content` chunks before the text (DeepSeek/vLLM style).
    pub reasoning: Option<String>,
    /// Tool calls, streamed after the text.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Only requests whose `model` equals this are answered by this turn.
    pub model: Option<String>,
    /// Only requests whose system prompt has the line `Code Mesh agent: <agent>` are
    /// answered by this turn.
    pub agent: Option<String>,
    /// Wait before sending the response headers.
    #[serde(default)]
    pub delay_ms: u64,
    /// Wait between stream chunks.
    #[serde(default)]
    pub chunk_delay_ms: u64,
    /// Close the connection abruptly after this many `data:` events.
    pub cut_after: Option<usize>,
    /// Answer with this HTTP status and [`Turn::body`] instead of a stream.
    pub status: Option<u16>,
    /// Raw response body; with no `status` it is sent with 200.
    pub body: Option<String>,
    /// Content type of `body` (default: JSON when it parses as JSON, else plain text).
    pub content_type: Option<String>,
    /// Extra response headers, e.g. `retry-after`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A recorded event stream sent verbatim (TOML: a path relative to the script).
    pub raw_sse: Option<RawSse>,
    /// Overrides the finish reason (default `tool_calls` with tool calls, else `stop`).
    pub finish_reason: Option<String>,
    /// Overrides the reported usage (default: an estimate from the sizes).
    pub usage: Option<Usage>,
    /// Checks on the request this turn answers.
    #[serde(default)]
    pub expect: Expect,
}

/// A tool call the model makes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The call id; `call_<n>` (unique in the script) when absent.
    pub id: Option<String>,
    /// The tool name.
    pub name: String,
    /// Arguments object, sent as compact JSON (default `{}`).
    pub arguments: Option<Value>,
    /// The exact arguments string instead, possibly malformed on purpose.
    pub raw_arguments: Option<String>,
}

/// Token counts reported in the final usage chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Reported `prompt_tokens`.
    pub prompt_tokens: u64,
    /// Reported `completion_tokens`.
    pub completion_tokens: u64,
}

/// Checks on a request; each failure is recorded as a violation, the turn is still played.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Some system (or developer) message contains each string.
    #[serde(default)]
    pub system_contains: Vec<String>,
    /// The last user message contains each string.
    #[serde(default)]
    pub last_user_contains: Vec<String>,
    /// Some `tool` message contains each string.
    #[serde(default)]
    pub tool_result_contains: Vec<String>,
    /// The compact JSON of the `messages` array contains each string (JSON-escaped).
    #[serde(default)]
    pub messages_contain: Vec<String>,
    /// The request offers a tool with each of these names.
    #[serde(default)]
    pub tools_include: Vec<String>,
}

/// A recorded event stream to replay byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "PathBuf")]
pub enum RawSse {
    /// Read from this file when the server starts (TOML paths are made absolute on load).
    File(PathBuf),
    /// These bytes.
    Bytes(Vec<u8>),
}

impl From<PathBuf> for RawSse {
    fn from(path: PathBuf) -> Self {
        RawSse::File(path)
    }
}

impl Script {
    /// An empty script with conversation-scoped pairing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a turn.
    pub fn with_turn(mut self, turn: Turn) -> Self {
        self.turns.push(turn);
        self
    }

    /// Sets the pairing mode.
    pub fn with_pairing(mut self, pairing: Pairing) -> Self {
        self.pairing = pairing;
        self
    }
}

impl FromIterator<Turn> for Script {
    fn from_iter<I: IntoIterator<Item = Turn>>(turns: I) -> Self {
        Script {
            turns: turns.into_iter().collect(),
            pairing: Pairing::default(),
        }
    }
}

impl ToolCall {
    /// A call whose arguments are this JSON object.
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        ToolCall {
            name: name.into(),
            arguments: Some(arguments),
            ..Self::default()
        }
    }

    /// A call whose arguments string is sent exactly as given.
    pub fn raw(name: impl Into<String>, raw_arguments: impl Into<String>) -> Self {
        ToolCall {
            name: name.into(),
            raw_arguments: Some(raw_arguments.into()),
            ..Self::default()
        }
    }

    /// Sets the call id instead of a generated `call_<n>`.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

impl Turn {
    /// An empty turn (streams an empty assistant message).
    pub fn new() -> Self {
        Self::default()
    }

    /// A turn answering with text.
    pub fn reply(text: impl Into<String>) -> Self {
        Self::new().with_text(text)
    }

    /// A turn making one tool call.
    pub fn call(name: impl Into<String>, arguments: Value) -> Self {
        Self::new().with_tool_call(ToolCall::new(name, arguments))
    }

    /// A turn answering with an HTTP error status and an OpenAI-style error body.
    pub fn error(status: u16) -> Self {
        Turn {
            status: Some(status),
            ..Self::default()
        }
    }

    /// A turn replaying a recorded event stream verbatim.
    pub fn raw_sse(bytes: impl Into<Vec<u8>>) -> Self {
        Turn {
            raw_sse: Some(RawSse::Bytes(bytes.into())),
            ..Self::default()
        }
    }

    /// Sets the assistant text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Sets the reasoning text.
    pub fn with_reasoning(mut self, reasoning: impl Into<String>) -> Self {
        self.reasoning = Some(reasoning.into());
        self
    }

    /// Appends a tool call.
    pub fn with_tool_call(mut self, call: ToolCall) -> Self {
        self.tool_calls.push(call);
        self
    }

    /// Answers only requests for this model.
    pub fn for_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Answers only requests of this agent: those whose system prompt has the line
    /// `Code Mesh agent: <agent>`. Combines with [`Turn::for_model`].
    pub fn for_agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Waits before the response headers.
    pub fn with_delay_ms(mut self, delay_ms: u64) -> Self {
        self.delay_ms = delay_ms;
        self
    }

    /// Waits between stream chunks.
    pub fn with_chunk_delay_ms(mut self, chunk_delay_ms: u64) -> Self {
        self.chunk_delay_ms = chunk_delay_ms;
        self
    }

    /// Cuts the connection after this many `data:` events.
    pub fn with_cut_after(mut self, events: usize) -> Self {
        self.cut_after = Some(events);
        self
    }

    /// Sends this body instead of a stream (status 200 unless set).
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the content type of the body.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Overrides the finish reason.
    pub fn with_finish_reason(mut self, finish_reason: impl Into<String>) -> Self {
        self.finish_reason = Some(finish_reason.into());
        self
    }

    /// Overrides the reported usage.
    pub fn with_usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        self.usage = Some(Usage {
            prompt_tokens,
            completion_tokens,
        });
        self
    }

    /// Expects a system message containing `text`.
    pub fn expect_system_contains(mut self, text: impl Into<String>) -> Self {
        self.expect.system_contains.push(text.into());
        self
    }

    /// Expects the last user message to contain `text`.
    pub fn expect_last_user_contains(mut self, text: impl Into<String>) -> Self {
        self.expect.last_user_contains.push(text.into());
        self
    }

    /// Expects a tool result containing `text`.
    pub fn expect_tool_result_contains(mut self, text: impl Into<String>) -> Self {
        self.expect.tool_result_contains.push(text.into());
        self
    }

    /// Expects the serialized messages to contain `text`.
    pub fn expect_messages_contain(mut self, text: impl Into<String>) -> Self {
        self.expect.messages_contain.push(text.into());
        self
    }

    /// Expects the request to offer a tool named `name`.
    pub fn expect_tools_include(mut self, name: impl Into<String>) -> Self {
        self.expect.tools_include.push(name.into());
        self
    }
}
