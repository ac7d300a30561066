use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{SessionId, Usage};

/// The seed's specialist agent types. Built-in profiles exist for each; users may add their own
/// profiles under other names (see [`AgentName`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentType {
    /// Plans, delegates and writes the final answer.
    Coordinator,
    /// System design and architectural decisions.
    Architect,
    /// Implements and changes code.
    Coder,
    /// Analyses code and performance; changes nothing.
    Analyst,
    /// Writes and runs tests.
    Tester,
    /// Writes documentation.
    Documenter,
    /// Security review and hardening.
    Security,
    /// Builds, deployment and infrastructure.
    DevOps,
    /// UI and UX design and styling.
    Designer,
    /// Reviews changes; changes nothing.
    Reviewer,
}

impl AgentType {
    pub const ALL: [AgentType; 10] = [
        AgentType::Coordinator,
        AgentType::Architect,
        AgentType::Coder,
        AgentType::Analyst,
        AgentType::Tester,
        AgentType::Documenter,
        AgentType::Security,
        AgentType::DevOps,
        AgentType::Designer,
        AgentType::Reviewer,
    ];

    /// The name used in config, on the command line and in events.
    pub fn name(self) -> &'static str {
        match self {
            AgentType::Coordinator => "coordinator",
            AgentType::Architect => "architect",
            AgentType::Coder => "coder",
            AgentType::Analyst => "analyst",
            AgentType::Tester => "tester",
            AgentType::Documenter => "documenter",
            AgentType::Security => "security",
            AgentType::DevOps => "devops",
            AgentType::Designer => "designer",
            AgentType::Reviewer => "reviewer",
        }
    }

    pub fn from_name(name: &str) -> Option<AgentType> {
        AgentType::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for AgentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Identifies one running agent within a run, e.g. `agent_3`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct AgentId(pub String);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies one task of a run's task graph, e.g. `task_2`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct TaskId(pub String);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its dependencies or for a free agent slot.
    Waiting,
    Running,
    Done,
    Failed,
    /// Stopped by a cancel before it finished.
    Cancelled,
}

impl TaskState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Done | TaskState::Failed | TaskState::Cancelled
        )
    }
}

/// A task as the orchestrator reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskInfo {
    pub id: TaskId,
    /// What the agent is asked to do.
    pub description: String,
    /// The profile that does it (an [`AgentType`] name or a user profile's name).
    pub agent: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<TaskId>,
}

/// How an agent's work ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentOutcome {
    /// The agent's final answer (or why it failed).
    pub summary: String,
    pub usage: Usage,
}

/// An agent of a run, for `agent_spawned` and the agent tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentInfo {
    pub id: AgentId,
    /// Its profile's name.
    pub profile: String,
    /// The agent that started it; `None` for the run's top agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<AgentId>,
    /// The session holding its conversation (a child of the run's session).
    pub session_id: SessionId,
    /// `provider/model` it runs on.
    pub model: String,
}

/// A kind of agent: what it is told, what it may use, what it runs on. The ten built-in
/// profiles ship with the binary; config (`[agents.profiles.NAME]`) and
/// `.code-mesh/agents/NAME.md` override them or add new ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentProfile {
    /// The profile's name: an [`AgentType`] name for the built-ins, any name for the user's.
    pub name: String,
    /// One line saying what the agent is for (shown by `agents list` and to the Coordinator).
    pub description: String,
    /// The agent's own instructions, added to the base system prompt.
    pub prompt: String,
    /// The tools it may use, by name; `None` means every tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// `provider/model` to run on; `None` uses the run's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Model requests allowed per task; `None` uses the run's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    /// Where the profile comes from: "built-in", a config file, or an agent file; the layers
    /// that changed it joined by " + ", lowest first (`built-in + /repo/code-mesh.toml`).
    #[serde(default)]
    pub origin: String,
}

/// One agent of a run, as the run's agent tree holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentNode {
    pub info: AgentInfo,
    /// `None` while it works; then whether it finished its task.
    // Sent as null while it works, so always present.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub succeeded: Option<bool>,
    /// What its model requests used (known once it ended).
    pub usage: Usage,
}

/// One task of a run, as the run's agent tree holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskNode {
    pub info: TaskInfo,
    pub state: TaskState,
    /// The agents that worked on it, in order (a provider failure is retried by a new one).
    pub agents: Vec<AgentId>,
    /// The reason it failed or was cancelled.
    // Sent as null until then, so always present.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub failure: Option<String>,
    pub usage: Usage,
}

/// The agents and tasks of a run, as the HTTP API's agents route returns them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunAgents {
    /// The run's agents, in the order they were started.
    pub agents: Vec<AgentNode>,
    /// The run's tasks, in the order they were created.
    pub tasks: Vec<TaskNode>,
}
