//! `run --strategy mesh` through the binary: four agents talk directly (a direct message, a
//! broadcast, a topic, questions and their answers), then the lead declares the run done.
//!
//! Agents run at once, so the script orders them by cause: the coder, tester and reviewer
//! each start by asking the lead a question and wait for its answer, which the lead gives
//! only after sending its messages, so each finds them all in the request after its answer.
//! The scripted server cannot wait for another agent's request, so the lead's first and
//! third answers are held back (3 s) to let the others' quick first steps (ask, subscribe)
//! and their reports come in first.

use code_mesh_protocol::{Event, EventKind, Role, TurnEndReason};
use code_mesh_testkit::{ToolCall, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::*;

const GO_AHEAD: &str = "Go ahead: your instructions are in your inbox.";
const ANSWER: &str = "--verbose is implemented, tested and approved.";

fn call(name: &str, arguments: serde_json::Value) -> Turn {
    Turn::new().with_tool_call(ToolCall::new(name, arguments))
}

fn ask_lead(question: &str) -> Turn {
    call(
        "ask",
        json!({"to": "coordinator", "question": question, "timeout_s": 60}),
    )
}

fn mesh_script() -> Vec<Turn> {
    vec![
        // The lead: its messages, then its answers, then the reports, then the end.
        Turn::new()
            .with_tool_call(ToolCall::new(
                "send_message",
                json!({"to": "coder", "text": "Implement the --verbose flag."}),
            ))
            .with_tool_call(ToolCall::new(
                "broadcast",
                json!({"text": "Plan: the coder implements, the tester tests, the reviewer reviews."}),
            ))
            .with_tool_call(ToolCall::new(
                "publish",
                json!({"topic": "api", "text": "The flag is --verbose."}),
            ))
            .for_agent("coordinator")
            .with_delay_ms(3000)
            .expect_tools_include("finish_run")
            .expect_system_contains("- agent_4 (reviewer)")
            .expect_last_user_contains("add a --verbose flag"),
        Turn::new()
            .with_tool_call(ToolCall::new("reply", json!({"request_id": "q_1", "text": GO_AHEAD})))
            .with_tool_call(ToolCall::new("reply", json!({"request_id": "q_2", "text": GO_AHEAD})))
            .with_tool_call(ToolCall::new("reply", json!({"request_id": "q_3", "text": GO_AHEAD})))
            .for_agent("coordinator")
            .expect_messages_contain("from agent_2 (coder)] Coder here: what should I build?")
            .expect_messages_contain(
                "from agent_3 (tester)] Tester here, subscribed to api: what should I test?",
            )
            .expect_messages_contain("from agent_4 (reviewer)] Reviewer here: what should I review?")
            .expect_tool_result_contains("Sent to agent_2 (coder).")
            .expect_tool_result_contains("Published on topic api to agent_3 (tester)."),
        call("read_inbox", json!({}))
            .for_agent("coordinator")
            .with_delay_ms(3000)
            .expect_tool_result_contains("Answered q_3"),
        call("finish_run", json!({"answer": ANSWER}))
            .for_agent("coordinator")
            .expect_messages_contain("[from agent_2 (coder)] Coder: --verbose is implemented.")
            .expect_messages_contain("[from agent_3 (tester)] Tester: the tests pass.")
            .expect_messages_contain("[from agent_4 (reviewer)] Reviewer: approved."),
        Turn::reply("Run finished.")
            .for_agent("coordinator")
            .expect_tool_result_contains("The run is done"),
        // The coder: asks, then finds its direct message and the broadcast.
        ask_lead("Coder here: what should I build?")
            .for_agent("coder")
            .expect_tools_include("send_message")
            .expect_system_contains("agent_1 (coordinator) leads"),
        call(
            "send_message",
            json!({"to": "coordinator", "text": "Coder: --verbose is implemented."}),
        )
        .for_agent("coder")
        .expect_tool_result_contains("agent_1 (coordinator) answered q_")
        .expect_tool_result_contains(GO_AHEAD)
        .expect_messages_contain("[from agent_1 (coordinator)] Implement the --verbose flag.")
        .expect_messages_contain(
            "[broadcast from agent_1 (coordinator)] Plan: the coder implements, the tester tests, the reviewer reviews.",
        ),
        Turn::reply("Coder done.").for_agent("coder"),
        // The tester: listens on `api`, asks, then finds the topic message and the broadcast.
        call("subscribe", json!({"topic": "api"})).for_agent("tester"),
        ask_lead("Tester here, subscribed to api: what should I test?")
            .for_agent("tester")
            .expect_tool_result_contains("Subscribed to topic api"),
        call(
            "send_message",
            json!({"to": "coordinator", "text": "Tester: the tests pass."}),
        )
        .for_agent("tester")
        .expect_tool_result_contains(GO_AHEAD)
        .expect_messages_contain("[topic api from agent_1 (coordinator)] The flag is --verbose.")
        .expect_messages_contain("[broadcast from agent_1 (coordinator)] Plan:"),
        Turn::reply("Tester done.").for_agent("tester"),
        // The reviewer: asks, then finds the broadcast.
        ask_lead("Reviewer here: what should I review?").for_agent("reviewer"),
        call(
            "send_message",
            json!({"to": "coordinator", "text": "Reviewer: approved."}),
        )
        .for_agent("reviewer")
        .expect_tool_result_contains(GO_AHEAD)
        .expect_messages_contain("[broadcast from agent_1 (coordinator)] Plan:"),
        Turn::reply("Reviewer done.").for_agent("reviewer"),
    ]
}

fn events(stdout: &str) -> Vec<Event> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// An `agent_message` event's kind, as its fields tell it: a topic, no recipient (broadcast),
/// a question, an answer, or a direct message.
fn kind(to: Option<&str>, topic: Option<&str>, text: &str) -> &'static str {
    match (to, topic) {
        (_, Some(_)) => "topic",
        (None, None) => "broadcast",
        (Some(_), None) if text.starts_with("question q_") => "ask",
        (Some(_), None) if text.starts_with("answer to q_") => "reply",
        (Some(_), None) => "direct",
    }
}

#[test]
fn a_mesh_delivers_direct_broadcast_ask_and_topic_messages_and_the_lead_finishes() {
    let project = Project::new();
    let server = serve(mesh_script());
    let outcome = project.run(
        &server,
        &[
            "run",
            "--json",
            "--strategy",
            "mesh",
            "add a --verbose flag",
        ],
    );
    outcome.assert_code(0);
    assert_verified(&server);
    let events = events(&outcome.stdout);
    let run_session = events[0].session_id.clone();
    assert!(events.iter().all(|e| e.session_id == run_session));

    let mut messages: Vec<String> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::AgentMessage {
                from,
                to,
                topic,
                text,
            } => Some(format!(
                "{} {from} -> {}: {text}",
                kind(to.as_ref().map(|t| t.0.as_str()), topic.as_deref(), text),
                to.as_ref()
                    .map(|t| t.0.clone())
                    .or_else(|| topic.clone())
                    .unwrap_or_else(|| "all".into()),
            )),
            _ => None,
        })
        .collect();
    messages.sort();
    // Question ids follow the order the agents asked in, which varies.
    let messages: Vec<String> = messages
        .into_iter()
        .map(|line| {
            line.replace("q_1", "q_N")
                .replace("q_2", "q_N")
                .replace("q_3", "q_N")
        })
        .collect();
    let mut expected = vec![
        "ask agent_2 -> agent_1: question q_N: Coder here: what should I build?".to_owned(),
        "ask agent_3 -> agent_1: question q_N: Tester here, subscribed to api: what should I test?"
            .to_owned(),
        "ask agent_4 -> agent_1: question q_N: Reviewer here: what should I review?".to_owned(),
        "broadcast agent_1 -> all: Plan: the coder implements, the tester tests, the reviewer reviews."
            .to_owned(),
        "direct agent_1 -> agent_2: Implement the --verbose flag.".to_owned(),
        "direct agent_2 -> agent_1: Coder: --verbose is implemented.".to_owned(),
        "direct agent_3 -> agent_1: Tester: the tests pass.".to_owned(),
        "direct agent_4 -> agent_1: Reviewer: approved.".to_owned(),
        "topic agent_1 -> api: The flag is --verbose.".to_owned(),
    ];
    for asker in ["agent_2", "agent_3", "agent_4"] {
        expected.push(format!(
            "reply agent_1 -> {asker}: answer to q_N: {GO_AHEAD}"
        ));
    }
    expected.sort();
    assert_eq!(messages, expected);

    // The lead's answer is the run's, and every member's task is done.
    let answer = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::MessageAdded { message } if message.role == Role::Assistant => {
            Some(message.text())
        }
        _ => None,
    });
    assert_eq!(answer.as_deref(), Some(ANSWER));
    let finished = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::TurnFinished { reason, .. } => Some(*reason),
        _ => None,
    });
    assert_eq!(finished, Some(TurnEndReason::Completed));
    let mut done: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskCompleted { task, .. } => Some(task.0.clone()),
            EventKind::TaskFailed { task, reason } => panic!("{task} failed: {reason}"),
            _ => None,
        })
        .collect();
    done.sort();
    assert_eq!(done, ["task_1", "task_2", "task_3", "task_4"]);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Warning { .. })),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_mesh_run_shows_its_messages_and_agent_tree_on_stderr_and_the_answer_on_stdout() {
    let project = Project::new();
    let server = serve(mesh_script());
    let outcome = project.run(
        &server,
        &["run", "--strategy", "mesh", "add a --verbose flag"],
    );
    outcome.assert_code(0);
    assert_verified(&server);
    assert_eq!(outcome.stdout, format!("{ANSWER}\n"));
    for line in [
        "agent_1 (coordinator) → agent_2 (coder): Implement the --verbose flag.",
        "agent_1 (coordinator) → everyone: Plan: the coder implements",
        "agent_1 (coordinator) → topic api: The flag is --verbose.",
        "agent_3 (tester) → agent_1 (coordinator): question q_",
        "agent_4 (reviewer) → agent_1 (coordinator): Reviewer: approved.",
        "agents:\n",
        "agent_1 coordinator (",
        "agent_4 reviewer (",
    ] {
        assert!(
            outcome.stderr.contains(line),
            "no `{line}` in:\n{}",
            outcome.stderr
        );
    }
}

#[test]
fn a_mesh_larger_than_max_count_is_refused_before_any_request() {
    let project = Project::new();
    project.write("code-mesh.toml", "[agents]\nmax_count = 2\n");
    let server = serve(Vec::new());
    let outcome = project.run(&server, &["run", "--strategy", "mesh", "hi"]);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains(
            "`[agents] mesh`: the mesh has 4 agents but at most 2 may run at once, and mesh agents must all run at once to talk"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("raise `[agents] max_count` to 4 or shorten `[agents] mesh`"),
        "{}",
        outcome.stderr
    );
    assert_eq!(server.requests().len(), 0);
}
