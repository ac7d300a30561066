//! `run --strategy hierarchical` through the binary: the Coordinator delegates a diamond of
//! tasks; each agent's requests are routed to its own scripted turns by the agent line of its
//! system prompt.

use code_mesh_protocol::{Event, EventKind, SessionInfo, TurnEndReason};
use code_mesh_testkit::{ToolCall, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::*;

pub(crate) fn diamond_script() -> Vec<Turn> {
    vec![
        Turn::new()
            .with_tool_call(ToolCall::new(
                "delegate",
                json!({"tasks": [
                    {"id": "a", "description": "design the flag", "agent": "architect"},
                    {"id": "b", "description": "implement the flag", "agent": "coder", "depends_on": ["a"]},
                    {"id": "c", "description": "test the flag", "agent": "tester", "depends_on": ["a"]},
                    {"id": "d", "description": "review the flag", "agent": "reviewer", "depends_on": ["b", "c"]}
                ]}),
            ))
            .for_agent("coordinator")
            .expect_tools_include("delegate")
            .with_usage(100, 10),
        Turn::reply("Design: a boolean flag.")
            .for_agent("architect")
            .expect_last_user_contains("design the flag")
            .with_usage(50, 5),
        Turn::reply("Implemented the flag.")
            .for_agent("coder")
            .expect_last_user_contains("Design: a boolean flag.")
            .with_usage(50, 5),
        Turn::reply("Tests pass.")
            .for_agent("tester")
            .expect_last_user_contains("Design: a boolean flag.")
            .with_usage(50, 5),
        Turn::reply("Approved.")
            .for_agent("reviewer")
            .expect_last_user_contains("Implemented the flag.")
            .expect_last_user_contains("Tests pass.")
            .with_usage(50, 5),
        Turn::reply("The flag is designed, implemented, tested and approved.")
            .for_agent("coordinator")
            .expect_tool_result_contains("## task_4 [reviewer] done\nApproved.")
            .with_usage(200, 20),
    ]
}

fn events(stdout: &str) -> Vec<Event> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_coordinator_delegates_a_diamond_that_runs_in_dependency_order_in_child_sessions() {
    let project = Project::new();
    let server = serve(diamond_script());
    let outcome = project.run(
        &server,
        &["run", "--json", "--strategy", "hierarchical", "add a flag"],
    );
    outcome.assert_code(0);
    assert_verified(&server);
    let events = events(&outcome.stdout);
    let run_session = events[0].session_id.clone();
    assert!(events.iter().all(|e| e.session_id == run_session));
    let lines: Vec<String> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskCreated { task } => Some(format!("created {}", task.id)),
            EventKind::TaskStarted { task, .. } => Some(format!("started {task}")),
            EventKind::TaskCompleted { task, .. } => Some(format!("done {task}")),
            EventKind::TaskFailed { task, .. } => Some(format!("failed {task}")),
            _ => None,
        })
        .collect();
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("no `{line}` in {lines:?}"))
    };
    assert_eq!(
        &lines[..4],
        [
            "created task_1",
            "created task_2",
            "created task_3",
            "created task_4"
        ]
    );
    assert!(at("started task_1") < at("done task_1"));
    for middle in ["task_2", "task_3"] {
        assert!(at("done task_1") < at(&format!("started {middle}")));
        assert!(at(&format!("done {middle}")) < at("started task_4"));
    }
    assert!(at("started task_4") < at("done task_4"));
    assert!(!lines.iter().any(|l| l.starts_with("failed")));
    let finished = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::TurnFinished { reason, .. } => Some(*reason),
        _ => None,
    });
    assert_eq!(finished, Some(TurnEndReason::Completed));

    // The run's usage counts every agent: 300 + 30 from the Coordinator, 200 + 20 from four.
    let last_total = events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::UsageUpdated { session_total, .. } => Some(*session_total),
            _ => None,
        })
        .unwrap();
    assert_eq!(last_total.input_tokens, 500);
    assert_eq!(last_total.output_tokens, 50);

    // Four child sessions, one per agent, linked to the run's session.
    let list = project
        .command(None)
        .args(["sessions", "list", "--json"])
        .output()
        .unwrap();
    let sessions: Vec<SessionInfo> = serde_json::from_slice(&list.stdout).unwrap();
    let mut children: Vec<String> = sessions
        .iter()
        .filter(|s| s.parent_id.as_ref() == Some(&run_session))
        .filter_map(|s| s.agent.clone())
        .collect();
    children.sort();
    assert_eq!(children, ["architect", "coder", "reviewer", "tester"]);
}

#[test]
fn task_progress_is_shown_on_stderr_and_the_answer_on_stdout() {
    let project = Project::new();
    let server = serve(diamond_script());
    let outcome = project.run(
        &server,
        &["run", "--strategy", "hierarchical", "add a flag"],
    );
    outcome.assert_code(0);
    assert!(
        outcome
            .stdout
            .ends_with("The flag is designed, implemented, tested and approved.\n"),
        "{}",
        outcome.stdout
    );
    for line in [
        "task_1 [architect] created: design the flag",
        "task_2 [coder] started",
        "task_4 [reviewer] done (<$0.0001)",
        // The agent tree when the turn ends: each agent under the Coordinator, with its task.
        "agents:\n└─ agent_1 coordinator (",
        ") · task_1 done · 55 tokens, <$0.0001\n",
        "   └─ agent_5 reviewer (",
        "agents used 220 tokens",
    ] {
        assert!(
            outcome.stderr.contains(line),
            "no `{line}` in:\n{}",
            outcome.stderr
        );
    }
}

#[test]
fn a_profile_with_its_own_model_runs_its_agent_on_that_model() {
    let project = Project::new();
    project.write(
        "code-mesh.toml",
        "[agents.profiles.documenter]\nmodel = \"openai/cheap-docs-model\"\n",
    );
    let server = serve(vec![
        Turn::new()
            .with_tool_call(ToolCall::new(
                "delegate",
                json!({"tasks": [
                    {"description": "document the flag", "agent": "documenter"},
                    {"description": "review the flag", "agent": "reviewer"}
                ]}),
            ))
            .for_agent("coordinator")
            .for_model("run-model"),
        Turn::reply("Documented.")
            .for_agent("documenter")
            .for_model("cheap-docs-model"),
        Turn::reply("Reviewed.")
            .for_agent("reviewer")
            .for_model("run-model"),
        Turn::reply("Both done.")
            .for_agent("coordinator")
            .for_model("run-model")
            .expect_tool_result_contains("Documented."),
    ]);
    let outcome = project.run(
        &server,
        &[
            "run",
            "--json",
            "--strategy",
            "hierarchical",
            "-m",
            "openai/run-model",
            "document it",
        ],
    );
    outcome.assert_code(0);
    assert_verified(&server);
    let models: Vec<(String, String)> = events(&outcome.stdout)
        .into_iter()
        .filter_map(|event| match event.kind {
            EventKind::AgentSpawned { agent } => Some((agent.profile, agent.model)),
            _ => None,
        })
        .collect();
    let model_of = |profile: &str| {
        models
            .iter()
            .find(|(p, _)| p == profile)
            .map(|(_, m)| m.as_str())
            .unwrap_or_else(|| panic!("no {profile} in {models:?}"))
    };
    assert_eq!(model_of("coordinator"), "openai/run-model");
    assert_eq!(model_of("documenter"), "openai/cheap-docs-model");
    assert_eq!(model_of("reviewer"), "openai/run-model");
}

#[test]
fn agents_without_the_swarm_strategy_is_refused_with_a_clear_message() {
    let project = Project::new();
    let server = serve(Vec::new());
    let outcome = project.run(
        &server,
        &["run", "--strategy", "hierarchical", "--agents", "3", "hi"],
    );
    outcome.assert_code(2);
    assert!(
        outcome
            .stderr
            .contains("--agents sets how many candidates a swarm tries; it needs --strategy swarm"),
        "{}",
        outcome.stderr
    );
    assert_eq!(server.requests().len(), 0);
}
