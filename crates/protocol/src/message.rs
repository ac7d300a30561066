use serde::{Deserialize, Serialize};

use crate::Usage;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    /// The results of the tool calls of the preceding assistant message.
    Tool,
}

/// One message of a conversation, made of parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// Position of the message in its session, starting at 1.
    pub seq: u64,
    pub role: Role,
    #[serde(deserialize_with = "exact_parts")]
    pub parts: Vec<Part>,
    /// For assistant messages: the model that wrote it, `provider/model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// For assistant messages: the tokens its request used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// True when the message was cut short (cancelled, or its stream failed) and holds only
    /// what arrived before that.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
}

/// Reads a message's parts into a list no longer than they are. A JSON array gives no length
/// up front, so a growing list keeps room for four parts where most messages have one or two:
/// about 300 bytes wasted a message, 3 MiB over a 10,000-message session held in memory.
fn exact_parts<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Part>, D::Error> {
    let mut parts = Vec::<Part>::deserialize(deserializer)?;
    parts.shrink_to_fit();
    Ok(parts)
}

impl Message {
    /// The concatenated text parts.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            if let Part::Text { text } = part {
                out.push_str(text);
            }
        }
        out
    }

    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.parts.iter().filter_map(|part| match part {
            Part::ToolCall(call) => Some(call),
            _ => None,
        })
    }

    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        self.parts.iter().filter_map(|part| match part {
            Part::ToolResult(result) => Some(result),
            _ => None,
        })
    }
}

/// A piece of a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    /// The model's reasoning. `signature` is an opaque provider token (Anthropic's thinking
    /// signature, OpenAI's encrypted reasoning content) that must be sent back unchanged with
    /// the reasoning on later requests; `id` is the provider's id for the reasoning item;
    /// `redacted` marks reasoning the provider only returns encrypted (its text is empty).
    Reasoning {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        redacted: bool,
    },
    ToolCall(ToolCall),
    ToolResult(ToolResult),
}

/// A tool call as the model made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolCall {
    /// The provider's id for the call; its result carries the same id.
    pub call_id: String,
    pub name: String,
    /// The arguments exactly as the model wrote them: usually a JSON object, but kept as text
    /// because malformed output must be replayed to the model as it was.
    pub arguments: String,
    /// An opaque provider token sent back with the call on later requests (Gemini's
    /// `thoughtSignature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl ToolCall {
    pub fn new(
        call_id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCall {
            call_id: call_id.into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: None,
        }
    }
}

/// The outcome of a tool call, sent back to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolResult {
    pub call_id: String,
    pub name: String,
    pub output: String,
    /// True when the call failed; `output` then says why and what to do instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}
