//! The `delegate` tool: the Coordinator hands tasks to specialist agents.
//!
//! One call adds a batch of tasks (with dependencies among them or on earlier tasks) to the
//! run's graph and blocks until every task of the batch has finished; the result lists each
//! task's outcome. The Coordinator may then delegate more, or answer. Invalid batches (an
//! unknown agent, a cycle, an unknown dependency, too many tasks) are refused whole as a
//! failed result the model can correct.

use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_protocol::{EventKind, TaskState, ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::Orchestra;
use super::graph::NewTask;
use super::scheduler::Request;
use crate::{Tool, ToolContext, ToolError, ToolOutput};

/// The tool's name.
pub const DELEGATE_TOOL_NAME: &str = "delegate";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Arguments {
    tasks: Vec<TaskArgument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskArgument {
    #[serde(default)]
    id: Option<String>,
    description: String,
    agent: String,
    #[serde(default)]
    depends_on: Vec<String>,
}

pub(crate) struct DelegateTool {
    pub(crate) orchestra: Arc<Orchestra>,
    pub(crate) scheduler: mpsc::UnboundedSender<Request>,
}

impl DelegateTool {
    /// The agents the Coordinator may hand tasks to (every profile but its own).
    fn agents(&self) -> impl Iterator<Item = &code_mesh_protocol::AgentProfile> {
        let top = self.orchestra.top_profile.as_str();
        self.orchestra
            .profiles
            .values()
            .filter(move |profile| profile.name != top)
    }
}

#[async_trait]
impl Tool for DelegateTool {
    fn spec(&self) -> ToolSpec {
        let agents: Vec<&str> = self.agents().map(|p| p.name.as_str()).collect();
        ToolSpec {
            name: DELEGATE_TOOL_NAME.into(),
            description: format!(
                "Hand tasks to specialist agents and wait for their results. Each task runs as a separate agent that does not see this conversation, so describe it completely. Tasks of one call run in parallel unless one depends on another (`depends_on` names an `id` of this call or a `task_N` of an earlier call); a task is given its dependencies' results. Returns every task's result. At most {} tasks per run.",
                self.orchestra.settings.max_tasks
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "tasks": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "description": "A short label other tasks of this call use in depends_on."},
                                "description": {"type": "string", "description": "What to do, with all the context the agent needs."},
                                "agent": {"type": "string", "enum": agents},
                                "depends_on": {"type": "array", "items": {"type": "string"}, "description": "Labels of tasks of this call, or task_N ids of earlier tasks, that must finish first."}
                            },
                            "required": ["description", "agent"]
                        }
                    }
                },
                "required": ["tasks"]
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        // It changes nothing itself; each agent's own tools are checked as they run.
        ToolKind::Read
    }

    fn summarize(&self, arguments: &serde_json::Value) -> String {
        let count = arguments["tasks"].as_array().map_or(0, Vec::len);
        format!("delegate {count} task(s)")
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        context: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let arguments: Arguments = serde_json::from_value(arguments).map_err(|err| {
            ToolError::new(format!(
                "the arguments are not a list of tasks ({err}); pass {{\"tasks\": [{{\"description\": …, \"agent\": …, \"depends_on\": […]}}]}}"
            ))
        })?;
        if arguments.tasks.is_empty() {
            return Err(ToolError::new(
                "no task given; pass at least one task in `tasks`",
            ));
        }
        for task in &arguments.tasks {
            if !self.agents().any(|profile| profile.name == task.agent) {
                let known: Vec<&str> = self.agents().map(|p| p.name.as_str()).collect();
                return Err(ToolError::new(format!(
                    "there is no `{}` agent to delegate to; use one of: {}",
                    task.agent,
                    known.join(", ")
                )));
            }
            if task.description.trim().is_empty() {
                return Err(ToolError::new(
                    "a task has an empty description; say what the agent should do",
                ));
            }
        }
        let batch = arguments
            .tasks
            .into_iter()
            .map(|task| NewTask {
                label: task.id,
                description: task.description,
                agent: task.agent,
                depends_on: task.depends_on,
            })
            .collect();
        let (ids, created, blocked) = {
            let mut graph = self.orchestra.graph();
            let mut ids = graph
                .add_batch(batch)
                .map_err(|err| ToolError::new(err.to_string()))?;
            ids.sort_by_key(|id| {
                id.0.trim_start_matches("task_")
                    .parse::<usize>()
                    .unwrap_or(usize::MAX)
            });
            let created: Vec<_> = ids
                .iter()
                .filter_map(|id| graph.info(id).cloned())
                .collect();
            let blocked = graph.fail_blocked();
            (ids, created, blocked)
        };
        for task in created {
            self.orchestra.emit(EventKind::TaskCreated { task }).await;
        }
        for (task, reason) in blocked {
            self.orchestra
                .emit(EventKind::TaskFailed { task, reason })
                .await;
        }
        let (reply, finished) = oneshot::channel();
        self.scheduler
            .send(Request {
                tasks: ids.clone(),
                cancel: context.cancel.clone(),
                reply,
            })
            .map_err(|_| {
                ToolError::new("the run's scheduler has stopped; answer with what you have")
            })?;
        finished.await.map_err(|_| {
            ToolError::new("the run's scheduler has stopped; answer with what you have")
        })?;
        let graph = self.orchestra.graph();
        let mut text = String::new();
        for id in &ids {
            let agent = graph
                .info(id)
                .map(|info| info.agent.as_str())
                .unwrap_or("?");
            match graph.state(id) {
                Some(TaskState::Done) => {
                    let summary = graph.outcome(id).map(|o| o.summary.as_str()).unwrap_or("");
                    let _ = write!(text, "## {id} [{agent}] done\n{}\n\n", summary.trim_end());
                }
                Some(state) => {
                    let reason = graph.failure(id).unwrap_or("no reason given");
                    let word = if state == TaskState::Cancelled {
                        "cancelled"
                    } else {
                        "failed"
                    };
                    let _ = write!(text, "## {id} [{agent}] {word}: {reason}\n\n");
                }
                None => {}
            }
        }
        Ok(ToolOutput::from(text.trim_end().to_owned()))
    }
}
