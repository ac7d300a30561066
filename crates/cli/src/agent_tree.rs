//! The agent tree `run` prints when an orchestrated turn ends: every agent under the one that
//! started it, with its task, the task's state and what the agent used; then the tasks no
//! agent ever worked on.

use std::fmt::Write as _;

use code_mesh_core::orchestra::{AgentNode, RunTree};
use code_mesh_protocol::{AgentId, TaskState, Usage};

use crate::output::{dollars, one_line};

/// The tree as text lines (empty when the run had no agents).
pub fn render(tree: &RunTree) -> String {
    if tree.is_empty() {
        return String::new();
    }
    let mut text = String::from("agents:\n");
    let top: Vec<&AgentNode> = tree.children(None).collect();
    write_level(tree, &top, "", &mut text);
    let idle: Vec<_> = tree
        .tasks()
        .iter()
        .filter(|task| task.agents.is_empty())
        .collect();
    for task in idle {
        let _ = writeln!(
            text,
            "{} [{}] {}",
            task.info.id,
            task.info.agent,
            state_text(task.state, task.failure.as_deref())
        );
    }
    let total = tree.total_usage();
    if !total.is_zero() {
        let _ = writeln!(text, "agents used {}", spent(&total));
    }
    text
}

fn write_level(tree: &RunTree, nodes: &[&AgentNode], indent: &str, text: &mut String) {
    for (index, node) in nodes.iter().enumerate() {
        let last = index + 1 == nodes.len();
        let (branch, next) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        let _ = writeln!(text, "{indent}{branch}{}", agent_line(tree, node));
        let children: Vec<&AgentNode> = tree.children(Some(&node.info.id)).collect();
        write_level(tree, &children, &format!("{indent}{next}"), text);
    }
}

/// `agent_3 coder (openai/gpt-5-mini) · task_2 done · 1.2k tokens`
fn agent_line(tree: &RunTree, node: &AgentNode) -> String {
    let mut line = format!(
        "{} {} ({})",
        node.info.id, node.info.profile, node.info.model
    );
    match tree.task_of(&node.info.id) {
        Some(task) => {
            // A task retried by a new agent: the earlier agent's attempt failed.
            let state = if is_last_agent(&task.agents, &node.info.id) {
                state_text(task.state, task.failure.as_deref())
            } else {
                "failed, retried".to_owned()
            };
            let _ = write!(line, " · {} {state}", task.info.id);
        }
        None => {
            if node.succeeded == Some(false) {
                line.push_str(" · failed");
            }
        }
    }
    if !node.usage.is_zero() {
        let _ = write!(line, " · {}", spent(&node.usage));
    }
    line
}

fn is_last_agent(agents: &[AgentId], agent: &AgentId) -> bool {
    agents.last() == Some(agent)
}

fn state_text(state: TaskState, failure: Option<&str>) -> String {
    match state {
        TaskState::Waiting => "waiting".into(),
        TaskState::Running => "running".into(),
        TaskState::Done => "done".into(),
        TaskState::Failed => format!("failed: {}", one_line(failure.unwrap_or("?"), 100)),
        TaskState::Cancelled => "cancelled".into(),
    }
}

/// `1234 tokens`, and `, $0.0012` when priced.
fn spent(usage: &Usage) -> String {
    let cost = usage.cost_usd.map(dollars).unwrap_or_default();
    format!("{} tokens{cost}", usage.total_tokens())
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{
        AgentInfo, AgentOutcome, EventKind, SessionId, TaskId, TaskInfo, Usage,
    };

    use super::*;

    fn agent(id: &str, profile: &str, parent: Option<&str>) -> EventKind {
        EventKind::AgentSpawned {
            agent: AgentInfo {
                id: AgentId(id.into()),
                profile: profile.into(),
                parent: parent.map(|p| AgentId(p.into())),
                session_id: SessionId(format!("ses_{id}")),
                model: "openai/gpt-5-mini".into(),
            },
        }
    }

    fn task(id: &str, profile: &str) -> EventKind {
        EventKind::TaskCreated {
            task: TaskInfo {
                id: TaskId(id.into()),
                description: "work".into(),
                agent: profile.into(),
                dependencies: Vec::new(),
            },
        }
    }

    fn started(task: &str, agent: &str) -> EventKind {
        EventKind::TaskStarted {
            task: TaskId(task.into()),
            agent: AgentId(agent.into()),
        }
    }

    fn ended(agent: &str, succeeded: bool, tokens: u64, cost: Option<f64>) -> EventKind {
        EventKind::AgentTerminated {
            agent: AgentId(agent.into()),
            succeeded,
            outcome: AgentOutcome {
                summary: String::new(),
                usage: Usage {
                    input_tokens: tokens,
                    cost_usd: cost,
                    ..Usage::default()
                },
            },
        }
    }

    #[test]
    fn a_hierarchical_run_prints_agents_under_their_coordinator() {
        let mut tree = RunTree::new();
        let done = |id: &str| EventKind::TaskCompleted {
            task: TaskId(id.into()),
            outcome: AgentOutcome {
                summary: String::new(),
                usage: Usage::default(),
            },
        };
        let failed = |id: &str, reason: &str| EventKind::TaskFailed {
            task: TaskId(id.into()),
            reason: reason.into(),
        };
        for event in [
            agent("agent_1", "coordinator", None),
            task("task_1", "architect"),
            task("task_2", "coder"),
            task("task_3", "tester"),
            task("task_4", "reviewer"),
            agent("agent_2", "architect", Some("agent_1")),
            started("task_1", "agent_2"),
            ended("agent_2", true, 120, Some(0.0012)),
            done("task_1"),
            agent("agent_3", "coder", Some("agent_1")),
            started("task_2", "agent_3"),
            ended("agent_3", false, 40, None),
            agent("agent_4", "coder", Some("agent_1")),
            started("task_2", "agent_4"),
            ended("agent_4", true, 60, None),
            done("task_2"),
            agent("agent_5", "tester", Some("agent_1")),
            started("task_3", "agent_5"),
            ended("agent_5", false, 0, None),
            failed("task_3", "timed out after 5s"),
            failed("task_4", "cancelled before it started"),
        ] {
            tree.apply(&event);
        }
        insta::assert_snapshot!(render(&tree), @r"
        agents:
        └─ agent_1 coordinator (openai/gpt-5-mini)
           ├─ agent_2 architect (openai/gpt-5-mini) · task_1 done · 120 tokens, $0.0012
           ├─ agent_3 coder (openai/gpt-5-mini) · task_2 failed, retried · 40 tokens
           ├─ agent_4 coder (openai/gpt-5-mini) · task_2 done · 60 tokens
           └─ agent_5 tester (openai/gpt-5-mini) · task_3 failed: timed out after 5s
        task_4 [reviewer] cancelled
        agents used 220 tokens, $0.0012
        ");
    }

    #[test]
    fn a_run_without_agents_prints_nothing() {
        assert_eq!(render(&RunTree::new()), "");
    }
}
