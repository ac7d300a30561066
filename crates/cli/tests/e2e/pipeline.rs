//! `run --strategy pipeline` through the binary: stages hand off in order, the tester sends
//! the work back to the coder once, and the stages come from `[agents] pipeline`. Each
//! agent's requests are routed to its own scripted turns by the agent line of its system
//! prompt.

use code_mesh_protocol::{Event, EventKind, SessionInfo, TurnEndReason};
use code_mesh_testkit::{ToolCall, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::*;

const REASON: &str = "the --verbose flag is parsed but never read";

/// Architect, coder, tester (sends the work back to the coder), coder again, tester, reviewer.
fn loop_back_script() -> Vec<Turn> {
    vec![
        Turn::reply("Design: a boolean --verbose flag.")
            .for_agent("architect")
            .expect_last_user_contains("add a verbose flag")
            .with_usage(50, 5),
        Turn::reply("Implemented the flag.")
            .for_agent("coder")
            .expect_last_user_contains(
                "# Output of the previous stage (architect)\nDesign: a boolean --verbose flag.",
            )
            .expect_tools_include("send_back")
            .with_usage(50, 5),
        Turn::new()
            .with_tool_call(ToolCall::new(
                "send_back",
                json!({"stage": "coder", "reason": REASON}),
            ))
            .for_agent("tester")
            .expect_last_user_contains(
                "# Output of the previous stage (coder)\nImplemented the flag.",
            )
            .with_usage(50, 5),
        Turn::reply("One test fails: --verbose changes nothing.")
            .for_agent("tester")
            .expect_tool_result_contains("The work goes back to the coder stage")
            .with_usage(50, 5),
        Turn::reply("The flag now turns on verbose output.")
            .for_agent("coder")
            .expect_last_user_contains(format!(
                "# Sent back to you by the tester stage\nReason: {REASON}"
            ))
            .with_usage(50, 5),
        Turn::reply("Tests pass.")
            .for_agent("tester")
            .expect_last_user_contains("The flag now turns on verbose output.")
            .with_usage(50, 5),
        Turn::reply("Approved: the flag is read and tested.")
            .for_agent("reviewer")
            .expect_last_user_contains("# Output of the previous stage (tester)\nTests pass.")
            .with_usage(50, 5),
    ]
}

fn events(stdout: &str) -> Vec<Event> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The profile of each started task, in order.
fn started_profiles(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskStarted { task, .. } => events.iter().find_map(|e| match &e.kind {
                EventKind::TaskCreated { task: info } if info.id == *task => {
                    Some(info.agent.clone())
                }
                _ => None,
            }),
            _ => None,
        })
        .collect()
}

fn child_agents(project: &Project, run_session: &code_mesh_protocol::SessionId) -> Vec<String> {
    let list = project
        .command(None)
        .args(["sessions", "list", "--json"])
        .output()
        .unwrap();
    let sessions: Vec<SessionInfo> = serde_json::from_slice(&list.stdout).unwrap();
    let mut children: Vec<String> = sessions
        .iter()
        .filter(|s| s.parent_id.as_ref() == Some(run_session))
        .filter_map(|s| s.agent.clone())
        .collect();
    children.sort();
    children
}

#[test]
fn stages_hand_off_in_order_and_the_tester_sends_the_work_back_to_the_coder_once() {
    let project = Project::new();
    let server = serve(loop_back_script());
    let outcome = project.run(
        &server,
        &[
            "run",
            "--json",
            "--strategy",
            "pipeline",
            "add a verbose flag",
        ],
    );
    outcome.assert_code(0);
    assert_verified(&server);
    let events = events(&outcome.stdout);
    let run_session = events[0].session_id.clone();
    assert!(events.iter().all(|e| e.session_id == run_session));
    assert_eq!(
        started_profiles(&events),
        [
            "architect",
            "coder",
            "tester",
            "coder",
            "tester",
            "reviewer"
        ]
    );
    let warnings: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Warning { message } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        warnings,
        [format!(
            "tester sent the work back to coder: {REASON} (loop 1 of 2)"
        )]
    );
    // The reviewer queued behind the first tester never ran; its task says why.
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::TaskFailed { task, reason }
            if task.0 == "task_4" && reason == "not run: tester sent the work back to coder"
    )));
    let finished = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::TurnFinished { reason, .. } => Some(*reason),
        _ => None,
    });
    assert_eq!(finished, Some(TurnEndReason::Completed));
    // The run's usage counts every agent's requests: seven of 50 input tokens (the first
    // tester asked twice: once to send the work back, once to finish).
    let last_total = events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::UsageUpdated { session_total, .. } => Some(*session_total),
            _ => None,
        })
        .unwrap();
    assert_eq!(last_total.input_tokens, 350);
    // One child session per agent, linked to the run's session.
    assert_eq!(
        child_agents(&project, &run_session),
        [
            "architect",
            "coder",
            "coder",
            "reviewer",
            "tester",
            "tester"
        ]
    );
}

#[test]
fn the_last_stages_answer_is_printed_on_stdout_with_progress_on_stderr() {
    let project = Project::new();
    let server = serve(loop_back_script());
    let outcome = project.run(
        &server,
        &["run", "--strategy", "pipeline", "add a verbose flag"],
    );
    outcome.assert_code(0);
    assert_verified(&server);
    assert!(
        outcome
            .stdout
            .ends_with("From the reviewer stage:\n\nApproved: the flag is read and tested.\n"),
        "{}",
        outcome.stdout
    );
    for line in [
        "task_1 [architect] created: stage 1 of 4: add a verbose flag",
        &format!("warning: tester sent the work back to coder: {REASON} (loop 1 of 2)"),
        "task_5 [coder] started",
        "task_7 [reviewer] done",
    ] {
        assert!(
            outcome.stderr.contains(line),
            "no `{line}` in:\n{}",
            outcome.stderr
        );
    }
}

#[test]
fn the_stages_come_from_the_config() {
    let project = Project::new();
    project.write(
        "code-mesh.toml",
        "[agents]\npipeline = [\"coder\", \"reviewer\"]\n",
    );
    let server = serve(vec![
        Turn::reply("Implemented the flag.")
            .for_agent("coder")
            .expect_last_user_contains("add a verbose flag"),
        Turn::reply("Approved.")
            .for_agent("reviewer")
            .expect_last_user_contains(
                "# Output of the previous stage (coder)\nImplemented the flag.",
            )
            .expect_system_contains("You are stage 2 of 2 in a pipeline: coder → reviewer."),
    ]);
    let outcome = project.run(
        &server,
        &[
            "run",
            "--json",
            "--strategy",
            "pipeline",
            "add a verbose flag",
        ],
    );
    outcome.assert_code(0);
    assert_verified(&server);
    let events = events(&outcome.stdout);
    assert_eq!(started_profiles(&events), ["coder", "reviewer"]);
    assert_eq!(
        child_agents(&project, &events[0].session_id),
        ["coder", "reviewer"]
    );
}

/// An unknown stage is a mistake in the config, found before any model request: exit 2,
/// the code for bad arguments or config, like an unknown key.
#[test]
fn a_stage_naming_no_profile_is_refused_as_a_config_error() {
    let project = Project::new();
    project.write(
        "code-mesh.toml",
        "[agents]\npipeline = [\"coder\", \"wizard\"]\n",
    );
    let server = serve(Vec::new());
    let outcome = project.run(&server, &["run", "--strategy", "pipeline", "hi"]);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains(
            "error: `[agents] pipeline`: there is no `wizard` agent profile; this strategy needs one"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("hint: add `[agents.profiles.wizard]`"),
        "{}",
        outcome.stderr
    );
    assert_eq!(server.requests().len(), 0);
}
