//! The agent tree of a run, folded from its events: who was started by whom, on which model,
//! working on which task, in which state, at what cost. Front ends show it (`run`'s summary,
//! the terminal UI's agent view, the HTTP API's agents route) from the live events or from a
//! stored session's events alike, so there is one reading of what the events mean.

use code_mesh_protocol::{AgentId, EventKind, RunAgents, TaskId, TaskState, Usage};
// The nodes are protocol types so the HTTP API can send them as they are.
pub use code_mesh_protocol::{AgentNode, TaskNode};

/// The agents and tasks of a run, in the order they appeared.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunTree {
    agents: Vec<AgentNode>,
    tasks: Vec<TaskNode>,
}

impl RunTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in one event of the run's session; events that say nothing about agents and
    /// tasks are ignored.
    pub fn apply(&mut self, event: &EventKind) {
        match event {
            EventKind::AgentSpawned { agent } => {
                self.agents.retain(|node| node.info.id != agent.id);
                self.agents.push(AgentNode {
                    info: agent.clone(),
                    succeeded: None,
                    usage: Usage::default(),
                });
            }
            EventKind::AgentTerminated {
                agent,
                succeeded,
                outcome,
            } => {
                if let Some(node) = self.agent_mut(agent) {
                    node.succeeded = Some(*succeeded);
                    node.usage = outcome.usage;
                }
                let usage = outcome.usage;
                if let Some(task) = self
                    .tasks
                    .iter_mut()
                    .rev()
                    .find(|task| task.agents.contains(agent))
                {
                    task.usage += usage;
                }
            }
            EventKind::TaskCreated { task } => {
                self.tasks.retain(|node| node.info.id != task.id);
                self.tasks.push(TaskNode {
                    info: task.clone(),
                    state: TaskState::Waiting,
                    agents: Vec::new(),
                    failure: None,
                    usage: Usage::default(),
                });
            }
            EventKind::TaskStarted { task, agent } => {
                if let Some(node) = self.task_mut(task) {
                    node.state = TaskState::Running;
                    node.agents.push(agent.clone());
                }
            }
            EventKind::TaskCompleted { task, .. } => {
                if let Some(node) = self.task_mut(task) {
                    node.state = TaskState::Done;
                }
            }
            EventKind::TaskFailed { task, reason } => {
                if let Some(node) = self.task_mut(task) {
                    // The scheduler's words for a cancel ("cancelled", "cancelled before it
                    // started"); a failure for any other reason.
                    node.state = if reason.starts_with("cancelled") {
                        TaskState::Cancelled
                    } else {
                        TaskState::Failed
                    };
                    node.failure = Some(reason.clone());
                }
            }
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty() && self.tasks.is_empty()
    }

    pub fn agents(&self) -> &[AgentNode] {
        &self.agents
    }

    pub fn tasks(&self) -> &[TaskNode] {
        &self.tasks
    }

    pub fn agent(&self, id: &AgentId) -> Option<&AgentNode> {
        self.agents.iter().find(|node| &node.info.id == id)
    }

    pub fn task(&self, id: &TaskId) -> Option<&TaskNode> {
        self.tasks.iter().find(|node| &node.info.id == id)
    }

    /// The agents `parent` started (`None`: the run's top-level agents), in order.
    pub fn children(&self, parent: Option<&AgentId>) -> impl Iterator<Item = &AgentNode> {
        self.agents
            .iter()
            .filter(move |node| node.info.parent.as_ref() == parent)
    }

    /// The task an agent worked on, if any.
    pub fn task_of(&self, agent: &AgentId) -> Option<&TaskNode> {
        self.tasks.iter().find(|task| task.agents.contains(agent))
    }

    /// The agents and tasks, copied out for a front end to send (the HTTP API's agents route).
    pub fn to_agents(&self) -> RunAgents {
        RunAgents {
            agents: self.agents.clone(),
            tasks: self.tasks.clone(),
        }
    }

    /// What every agent used, summed.
    pub fn total_usage(&self) -> Usage {
        let mut total = Usage::default();
        for node in &self.agents {
            total += node.usage;
        }
        total
    }

    fn agent_mut(&mut self, id: &AgentId) -> Option<&mut AgentNode> {
        self.agents.iter_mut().find(|node| &node.info.id == id)
    }

    fn task_mut(&mut self, id: &TaskId) -> Option<&mut TaskNode> {
        self.tasks.iter_mut().find(|node| &node.info.id == id)
    }
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{AgentInfo, AgentOutcome, SessionId, TaskInfo};

    use super::*;

    fn spawned(id: &str, profile: &str, parent: Option<&str>) -> EventKind {
        EventKind::AgentSpawned {
            agent: AgentInfo {
                id: AgentId(id.into()),
                profile: profile.into(),
                parent: parent.map(|p| AgentId(p.into())),
                session_id: SessionId(format!("ses_{id}")),
                model: "openai/m".into(),
            },
        }
    }

    fn created(id: &str, agent: &str) -> EventKind {
        EventKind::TaskCreated {
            task: TaskInfo {
                id: TaskId(id.into()),
                description: format!("do {id}"),
                agent: agent.into(),
                dependencies: Vec::new(),
            },
        }
    }

    fn terminated(id: &str, succeeded: bool, tokens: u64) -> EventKind {
        EventKind::AgentTerminated {
            agent: AgentId(id.into()),
            succeeded,
            outcome: AgentOutcome {
                summary: String::new(),
                usage: Usage {
                    input_tokens: tokens,
                    ..Usage::default()
                },
            },
        }
    }

    #[test]
    fn states_follow_the_events_and_retries_add_up_on_their_task() {
        let mut tree = RunTree::new();
        for event in [
            spawned("agent_1", "coordinator", None),
            created("task_1", "coder"),
            created("task_2", "tester"),
            created("task_3", "reviewer"),
            spawned("agent_2", "coder", Some("agent_1")),
            EventKind::TaskStarted {
                task: TaskId("task_1".into()),
                agent: AgentId("agent_2".into()),
            },
            terminated("agent_2", false, 10),
            spawned("agent_3", "coder", Some("agent_1")),
            EventKind::TaskStarted {
                task: TaskId("task_1".into()),
                agent: AgentId("agent_3".into()),
            },
            terminated("agent_3", true, 5),
            EventKind::TaskCompleted {
                task: TaskId("task_1".into()),
                outcome: AgentOutcome {
                    summary: "done".into(),
                    usage: Usage::default(),
                },
            },
            EventKind::TaskFailed {
                task: TaskId("task_2".into()),
                reason: "cancelled before it started".into(),
            },
            EventKind::TaskFailed {
                task: TaskId("task_3".into()),
                reason: "timed out after 5s".into(),
            },
        ] {
            tree.apply(&event);
        }
        let state = |id: &str| tree.task(&TaskId(id.into())).unwrap().state;
        assert_eq!(state("task_1"), TaskState::Done);
        assert_eq!(state("task_2"), TaskState::Cancelled);
        assert_eq!(state("task_3"), TaskState::Failed);
        let task_1 = tree.task(&TaskId("task_1".into())).unwrap();
        assert_eq!(task_1.agents.len(), 2);
        assert_eq!(task_1.usage.input_tokens, 15);
        assert_eq!(tree.total_usage().input_tokens, 15);
        let top: Vec<_> = tree.children(None).map(|n| n.info.id.0.as_str()).collect();
        assert_eq!(top, ["agent_1"]);
        let under: Vec<_> = tree
            .children(Some(&AgentId("agent_1".into())))
            .map(|n| n.info.id.0.as_str())
            .collect();
        assert_eq!(under, ["agent_2", "agent_3"]);
        assert_eq!(
            tree.task_of(&AgentId("agent_3".into())).unwrap().info.id.0,
            "task_1"
        );
        assert_eq!(
            tree.agent(&AgentId("agent_2".into())).unwrap().succeeded,
            Some(false)
        );
        let copied = tree.to_agents();
        assert_eq!(copied.agents, tree.agents());
        assert_eq!(copied.tasks, tree.tasks());
    }
}
