//! The tools through which a model uses the bus. Each instance belongs to one agent, whose id
//! it sends from.
//!
//! They are [`ToolKind::Read`]: they touch no file, run no command and reach no network, only
//! the run's in-memory bus, so the permission policy has nothing to guard (asking the user
//! before every message would make a mesh unusable) and they may run beside other reads in one
//! step — an `ask` waiting for its answer then does not hold up the step's other reads.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_protocol::{AgentId, ToolKind, ToolSpec};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::bus::describe;
use super::{MeshBus, inbox_notice};
use crate::{Tool, ToolContext, ToolError, ToolOutput};

/// The names of the mesh tools, for profiles' tool lists.
pub const MESH_TOOL_NAMES: [&str; 7] = [
    "send_message",
    "broadcast",
    "publish",
    "subscribe",
    "ask",
    "reply",
    "read_inbox",
];

/// How long `ask` waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AskTimeouts {
    /// When the model gives no `timeout_s`.
    pub default: Duration,
    /// The longest `timeout_s` accepted.
    pub max: Duration,
}

impl Default for AskTimeouts {
    fn default() -> Self {
        AskTimeouts {
            default: Duration::from_secs(120),
            max: Duration::from_secs(1800),
        }
    }
}

/// The seven mesh tools for `agent`, with the default ask timeouts.
pub fn mesh_tools(bus: &MeshBus, agent: &AgentId) -> Vec<Arc<dyn Tool>> {
    mesh_tools_with(bus, agent, AskTimeouts::default())
}

/// The seven mesh tools for `agent`.
pub fn mesh_tools_with(
    bus: &MeshBus,
    agent: &AgentId,
    timeouts: AskTimeouts,
) -> Vec<Arc<dyn Tool>> {
    [
        Operation::Send,
        Operation::Broadcast,
        Operation::Publish,
        Operation::Subscribe,
        Operation::Ask,
        Operation::Reply,
        Operation::ReadInbox,
    ]
    .into_iter()
    .map(|operation| {
        Arc::new(MeshTool {
            bus: bus.clone(),
            agent: agent.clone(),
            operation,
            timeouts,
        }) as Arc<dyn Tool>
    })
    .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Send,
    Broadcast,
    Publish,
    Subscribe,
    Ask,
    Reply,
    ReadInbox,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Send => "send_message",
            Operation::Broadcast => "broadcast",
            Operation::Publish => "publish",
            Operation::Subscribe => "subscribe",
            Operation::Ask => "ask",
            Operation::Reply => "reply",
            Operation::ReadInbox => "read_inbox",
        }
    }
}

/// One mesh tool of one agent.
struct MeshTool {
    bus: MeshBus,
    agent: AgentId,
    operation: Operation,
    timeouts: AskTimeouts,
}

#[derive(Deserialize)]
struct SendParams {
    to: String,
    text: String,
}

#[derive(Deserialize)]
struct BroadcastParams {
    text: String,
}

#[derive(Deserialize)]
struct PublishParams {
    topic: String,
    text: String,
}

#[derive(Deserialize)]
struct SubscribeParams {
    topic: String,
}

#[derive(Deserialize)]
struct AskParams {
    to: String,
    question: String,
    #[serde(default)]
    timeout_s: Option<f64>,
}

#[derive(Deserialize)]
struct ReplyParams {
    request_id: String,
    text: String,
}

const ADDRESS: &str = "the agent's id (e.g. `agent_2`) or its profile name (e.g. `tester`) when \
                       only one agent has it";

impl MeshTool {
    fn parse<T: DeserializeOwned>(&self, arguments: serde_json::Value) -> Result<T, ToolError> {
        serde_json::from_value(arguments).map_err(|err| {
            ToolError::new(format!(
                "the arguments of this `{}` call are invalid ({err}); send the fields its \
                 schema lists",
                self.operation.name()
            ))
        })
    }

    fn labels(&self, agents: &[AgentId]) -> String {
        agents
            .iter()
            .map(|id| self.bus.label(id))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn ask_timeout(&self, seconds: Option<f64>) -> Result<Duration, ToolError> {
        let Some(seconds) = seconds else {
            return Ok(self.timeouts.default);
        };
        let max = self.timeouts.max.as_secs_f64();
        if !(seconds > 0.0 && seconds <= max) {
            return Err(ToolError::new(format!(
                "`timeout_s` must be more than 0 and at most {max} seconds, not {seconds}; \
                 leave it out to wait {}",
                describe(self.timeouts.default)
            )));
        }
        Ok(Duration::from_secs_f64(seconds))
    }
}

fn failed(err: super::MeshError) -> ToolError {
    ToolError::new(err.to_string())
}

#[async_trait]
impl Tool for MeshTool {
    fn spec(&self) -> ToolSpec {
        let (description, parameters) = match self.operation {
            Operation::Send => (
                "Send a message to one other agent of this run. It reaches that agent's inbox \
                 and is shown to it before its next model request.",
                json!({
                    "type": "object",
                    "properties": {
                        "to": {"type": "string", "description": ADDRESS},
                        "text": {"type": "string", "description": "The message."}
                    },
                    "required": ["to", "text"]
                }),
            ),
            Operation::Broadcast => (
                "Send a message to every other agent of this run.",
                json!({
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "description": "The message."}
                    },
                    "required": ["text"]
                }),
            ),
            Operation::Publish => (
                "Publish a message on a topic: every agent subscribed to it (but you) gets it. \
                 Nobody gets it when nobody subscribes.",
                json!({
                    "type": "object",
                    "properties": {
                        "topic": {"type": "string", "description": "A topic name without spaces, e.g. `api`."},
                        "text": {"type": "string", "description": "The message."}
                    },
                    "required": ["topic", "text"]
                }),
            ),
            Operation::Subscribe => (
                "Subscribe to a topic: messages published on it from now on reach your inbox.",
                json!({
                    "type": "object",
                    "properties": {
                        "topic": {"type": "string", "description": "A topic name without spaces, e.g. `api`."}
                    },
                    "required": ["topic"]
                }),
            ),
            Operation::Ask => (
                "Ask another agent a question and wait for its answer (it answers with `reply`). \
                 While you wait you cannot answer questions yourself, so keep the timeout short \
                 and do not ask an agent that may be asking you.",
                json!({
                    "type": "object",
                    "properties": {
                        "to": {"type": "string", "description": ADDRESS},
                        "question": {"type": "string", "description": "The question."},
                        "timeout_s": {"type": "number", "description": format!(
                            "Seconds to wait for the answer (default {}, at most {}).",
                            self.timeouts.default.as_secs(),
                            self.timeouts.max.as_secs()
                        )}
                    },
                    "required": ["to", "question"]
                }),
            ),
            Operation::Reply => (
                "Answer a question another agent asked you (shown as `[question q_N from …]`).",
                json!({
                    "type": "object",
                    "properties": {
                        "request_id": {"type": "string", "description": "The question's id, e.g. `q_3`."},
                        "text": {"type": "string", "description": "Your answer."}
                    },
                    "required": ["request_id", "text"]
                }),
            ),
            Operation::ReadInbox => (
                "Read and clear the messages waiting for you. Messages are also shown to you \
                 before each model request, so call this only when waiting for one.",
                json!({"type": "object", "properties": {}}),
            ),
        };
        ToolSpec {
            name: self.operation.name().into(),
            description: description.into(),
            parameters,
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &serde_json::Value) -> String {
        let field = |name: &str| arguments[name].as_str().unwrap_or("?").to_owned();
        match self.operation {
            Operation::Send => format!("send a message to {}", field("to")),
            Operation::Broadcast => "send a message to every agent".into(),
            Operation::Publish => format!("publish on topic {}", field("topic")),
            Operation::Subscribe => format!("subscribe to topic {}", field("topic")),
            Operation::Ask => format!("ask {} a question", field("to")),
            Operation::Reply => format!("answer question {}", field("request_id")),
            Operation::ReadInbox => "read the inbox".into(),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        _context: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let text = match self.operation {
            Operation::Send => {
                let params: SendParams = self.parse(arguments)?;
                let to = self
                    .bus
                    .send(&self.agent, &params.to, &params.text)
                    .map_err(failed)?;
                format!("Sent to {}.", self.bus.label(&to))
            }
            Operation::Broadcast => {
                let params: BroadcastParams = self.parse(arguments)?;
                let reached = self
                    .bus
                    .broadcast(&self.agent, &params.text)
                    .map_err(failed)?;
                if reached.is_empty() {
                    "No other agent is on the mesh, so nobody got the message.".into()
                } else {
                    format!("Sent to {}.", self.labels(&reached))
                }
            }
            Operation::Publish => {
                let params: PublishParams = self.parse(arguments)?;
                let reached = self
                    .bus
                    .publish(&self.agent, &params.topic, &params.text)
                    .map_err(failed)?;
                if reached.is_empty() {
                    format!(
                        "Nobody else subscribes to topic {}, so nobody got the message; agents \
                         hear a topic only after subscribing to it.",
                        params.topic.trim()
                    )
                } else {
                    format!(
                        "Published on topic {} to {}.",
                        params.topic.trim(),
                        self.labels(&reached)
                    )
                }
            }
            Operation::Subscribe => {
                let params: SubscribeParams = self.parse(arguments)?;
                let topic = params.topic.trim();
                if self.bus.subscribe(&self.agent, topic).map_err(failed)? {
                    format!(
                        "Subscribed to topic {topic}; what is published there from now on reaches your inbox."
                    )
                } else {
                    format!("You already subscribe to topic {topic}.")
                }
            }
            Operation::Ask => {
                let params: AskParams = self.parse(arguments)?;
                let timeout = self.ask_timeout(params.timeout_s)?;
                let answer = self
                    .bus
                    .ask(&self.agent, &params.to, &params.question, timeout)
                    .await
                    .map_err(failed)?;
                format!(
                    "{} answered {}: {}",
                    self.bus.label(&answer.from),
                    answer.request_id,
                    answer.text
                )
            }
            Operation::Reply => {
                let params: ReplyParams = self.parse(arguments)?;
                let asker = self
                    .bus
                    .reply(&self.agent, &params.request_id, &params.text)
                    .map_err(failed)?;
                format!(
                    "Answered {}; {} has your answer.",
                    params.request_id.trim(),
                    self.bus.label(&asker)
                )
            }
            Operation::ReadInbox => {
                let messages = self.bus.take_inbox(&self.agent).map_err(failed)?;
                inbox_notice(&messages).unwrap_or_else(|| "No new messages.".into())
            }
        };
        Ok(ToolOutput { text })
    }
}
