//! The pipeline strategy end to end in process: stages run one after another as agents in
//! child sessions, against a provider routed by each agent's prompt; `send_back` loops the
//! work back to an earlier stage a bounded number of times.

use std::sync::Arc;
use std::time::Duration;

use code_mesh_core::orchestra::{OrchestraError, Pipeline, PipelineSettings};
use code_mesh_core::{ModelRequest, SessionStart};
use code_mesh_protocol::{AgentProfile, Event, EventKind, Op, Role, SessionId, TurnEndReason};
use pretty_assertions::assert_eq;

use crate::routed::*;
use crate::support::*;

fn send_back<'a>(agent: &'a str, id: &str, stage: &str, reason: &str) -> (&'a str, Reply) {
    let args = serde_json::json!({"stage": stage, "reason": reason}).to_string();
    (
        agent,
        Reply::stream(vec![call(id, "send_back", &args), usage(10), finish()]),
    )
}

fn profiles() -> Vec<AgentProfile> {
    // Only their own tools: `send_back` is added by the pipeline whatever the profile says.
    ["architect", "coder", "tester", "reviewer"]
        .into_iter()
        .map(|name| profile(name, Some(&["probe"]), None))
        .collect()
}

fn stages(names: &[&str], max_loops: u32) -> PipelineSettings {
    PipelineSettings {
        stages: names.iter().map(|s| (*s).to_owned()).collect(),
        max_loops,
    }
}

const FOUR: &[&str] = &["architect", "coder", "tester", "reviewer"];

async fn open(
    provider: Arc<RoutedProvider>,
    profiles: Vec<AgentProfile>,
    pipeline: PipelineSettings,
) -> Result<Run, OrchestraError> {
    let store = memory_store();
    let opened = Pipeline::open(
        store.clone(),
        tools(None, Arc::default()),
        config(provider, true),
        SessionStart::New,
        settings(profiles, 4, ManualTimer::new()),
        pipeline,
    )
    .await?;
    Ok(Run::spawn(store, opened))
}

/// The orchestration events as short lines, in order.
fn task_lines(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskCreated { task } => Some(format!(
                "created {} {}{}",
                task.id,
                task.agent,
                task.dependencies
                    .iter()
                    .map(|d| format!(" after {d}"))
                    .collect::<String>()
            )),
            EventKind::TaskStarted { task, .. } => Some(format!("started {task}")),
            EventKind::TaskCompleted { task, outcome } => {
                Some(format!("done {task}: {}", outcome.summary))
            }
            EventKind::TaskFailed { task, reason } => Some(format!("failed {task}: {reason}")),
            _ => None,
        })
        .collect()
}

fn answer_of(events: &[Event]) -> Option<String> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::MessageAdded { message } if message.role == Role::Assistant => {
            Some(message.text())
        }
        _ => None,
    })
}

fn last_user(request: &ModelRequest) -> String {
    request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.text())
        .unwrap_or_default()
}

fn child_sessions(events: &[Event]) -> Vec<(String, SessionId)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AgentSpawned { agent } => {
                Some((agent.profile.clone(), agent.session_id.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn stages_hand_off_in_order_each_given_the_previous_output() {
    let provider = script(vec![
        answer("architect", "Design: a boolean flag."),
        answer("coder", "Implemented the flag."),
        answer("tester", "Tests pass."),
        answer("reviewer", "Approved."),
    ]);
    let mut run = open(provider.clone(), profiles(), stages(FOUR, 2))
        .await
        .unwrap();
    let events = run.turn("add a flag").await;
    assert_eq!(
        task_lines(&events),
        [
            "created task_1 architect",
            "created task_2 coder after task_1",
            "created task_3 tester after task_2",
            "created task_4 reviewer after task_3",
            "started task_1",
            "done task_1: Design: a boolean flag.",
            "started task_2",
            "done task_2: Implemented the flag.",
            "started task_3",
            "done task_3: Tests pass.",
            "started task_4",
            "done task_4: Approved.",
        ]
    );
    assert_eq!(provider.order(), FOUR);
    assert_eq!(
        last_user(&provider.requests_of("architect")[0]),
        "add a flag"
    );
    for (stage, previous, output) in [
        ("coder", "architect", "Design: a boolean flag."),
        ("tester", "coder", "Implemented the flag."),
        ("reviewer", "tester", "Tests pass."),
    ] {
        let prompt = last_user(&provider.requests_of(stage)[0]);
        assert_eq!(
            prompt,
            format!("add a flag\n\n# Output of the previous stage ({previous})\n{output}")
        );
    }
    // Only stages after the first may send the work back.
    let offered = |stage: &str| {
        provider.requests_of(stage)[0]
            .tools
            .iter()
            .any(|t| t.name == "send_back")
    };
    assert!(!offered("architect"));
    assert!(offered("coder") && offered("tester") && offered("reviewer"));
    assert!(
        provider.requests_of("coder")[0]
            .system
            .contains("You are stage 2 of 4 in a pipeline: architect → coder → tester → reviewer.")
    );
    assert_eq!(turn_end(&events), Some(TurnEndReason::Completed));
    assert_eq!(
        answer_of(&events).as_deref(),
        Some("From the reviewer stage:\n\nApproved.")
    );
    // One child session per stage; the run's usage counts all four.
    let children: Vec<String> = child_sessions(&events).into_iter().map(|c| c.0).collect();
    assert_eq!(children, FOUR);
    let usage = events.iter().find_map(|e| match &e.kind {
        EventKind::TurnFinished { usage, .. } => Some(*usage),
        _ => None,
    });
    assert_eq!(usage.map(|u| u.input_tokens), Some(40));
    run.finish().await;
}

#[tokio::test]
async fn a_tester_sends_the_work_back_to_the_coder_once_then_the_reviewer_runs() {
    let provider = script(vec![
        answer("architect", "Design: a boolean flag."),
        answer("coder", "Implemented the flag."),
        send_back("tester", "s1", "coder", "the flag is never read"),
        answer("tester", "One test fails: the flag is ignored."),
        answer("coder", "Now the flag is read."),
        answer("tester", "Tests pass."),
        answer("reviewer", "Approved."),
    ]);
    let mut run = open(provider.clone(), profiles(), stages(FOUR, 2))
        .await
        .unwrap();
    let events = run.turn("add a flag").await;
    assert_eq!(
        task_lines(&events),
        [
            "created task_1 architect",
            "created task_2 coder after task_1",
            "created task_3 tester after task_2",
            "created task_4 reviewer after task_3",
            "started task_1",
            "done task_1: Design: a boolean flag.",
            "started task_2",
            "done task_2: Implemented the flag.",
            "started task_3",
            "done task_3: One test fails: the flag is ignored.",
            "failed task_4: not run: tester sent the work back to coder",
            "created task_5 coder after task_3",
            "created task_6 tester after task_5",
            "created task_7 reviewer after task_6",
            "started task_5",
            "done task_5: Now the flag is read.",
            "started task_6",
            "done task_6: Tests pass.",
            "started task_7",
            "done task_7: Approved.",
        ]
    );
    assert_eq!(
        provider.order(),
        [
            "architect",
            "coder",
            "tester",
            "tester",
            "coder",
            "tester",
            "reviewer"
        ]
    );
    assert_eq!(
        warnings(&events),
        ["tester sent the work back to coder: the flag is never read (loop 1 of 2)"]
    );
    // The tool told the tester to finish; the coder's second prompt carries the reason.
    let told = tool_results(&provider.requests_of("tester")[1]);
    assert!(
        told.starts_with(
            "The work goes back to the coder stage with your reason once you finish (loop 1 of 2)."
        ),
        "{told}"
    );
    assert_eq!(
        last_user(&provider.requests_of("coder")[1]),
        "add a flag\n\n# Output of the previous stage (architect)\nDesign: a boolean flag.\n\n# Sent back to you by the tester stage\nReason: the flag is never read\n\n## The tester stage's report\nOne test fails: the flag is ignored."
    );
    assert!(last_user(&provider.requests_of("tester")[2]).contains("Now the flag is read."));
    assert_eq!(turn_end(&events), Some(TurnEndReason::Completed));
    assert_eq!(
        answer_of(&events).as_deref(),
        Some("From the reviewer stage:\n\nApproved.")
    );
    run.finish().await;
}

#[tokio::test]
async fn once_the_loops_are_used_up_send_back_fails_and_the_pipeline_goes_on() {
    let provider = script(vec![
        answer("coder", "v1"),
        send_back("reviewer", "s1", "coder", "rename it"),
        answer("reviewer", "Sent back."),
        answer("coder", "v2"),
        send_back("reviewer", "s2", "coder", "rename it again"),
        answer("reviewer", "Approved, though the name is still poor."),
    ]);
    let mut run = open(
        provider.clone(),
        profiles(),
        stages(&["coder", "reviewer"], 1),
    )
    .await
    .unwrap();
    let events = run.turn("add a flag").await;
    let told = tool_results(&provider.requests_of("reviewer")[3]);
    assert!(
        told.contains("the work was already sent back 1 time(s), the most this run allows (`[agents] max_loops`)"),
        "{told}"
    );
    assert_eq!(
        warnings(&events),
        ["reviewer sent the work back to coder: rename it (loop 1 of 1)"]
    );
    let lines = task_lines(&events);
    assert_eq!(
        &lines[lines.len() - 2..],
        [
            "started task_4",
            "done task_4: Approved, though the name is still poor."
        ]
    );
    assert_eq!(turn_end(&events), Some(TurnEndReason::Completed));
    assert_eq!(
        answer_of(&events).as_deref(),
        Some("From the reviewer stage:\n\nApproved, though the name is still poor.")
    );
    run.finish().await;
}

#[tokio::test]
async fn each_user_turn_runs_the_pipeline_again_with_its_own_loops() {
    let provider = script(vec![
        answer("coder", "v1"),
        send_back("reviewer", "s1", "coder", "rename it"),
        answer("reviewer", "Sent back."),
        answer("coder", "v2"),
        answer("reviewer", "Approved v2."),
        answer("coder", "v3"),
        send_back("reviewer", "s2", "coder", "document it"),
        answer("reviewer", "Sent back."),
        answer("coder", "v4"),
        answer("reviewer", "Approved v4."),
    ]);
    let mut run = open(provider, profiles(), stages(&["coder", "reviewer"], 1))
        .await
        .unwrap();
    let first = run.turn("add a flag").await;
    assert_eq!(
        answer_of(&first).as_deref(),
        Some("From the reviewer stage:\n\nApproved v2.")
    );
    let second = run.turn("document the flag").await;
    let lines = task_lines(&second);
    assert_eq!(
        &lines[..2],
        [
            "created task_5 coder",
            "created task_6 reviewer after task_5"
        ]
    );
    assert_eq!(
        warnings(&second),
        ["reviewer sent the work back to coder: document it (loop 1 of 1)"]
    );
    assert_eq!(
        answer_of(&second).as_deref(),
        Some("From the reviewer stage:\n\nApproved v4.")
    );
    assert_eq!(turn_end(&second), Some(TurnEndReason::Completed));
    run.finish().await;
}

#[tokio::test]
async fn send_back_refuses_a_stage_that_is_not_before_its_caller() {
    let provider = script(vec![
        answer("architect", "design"),
        send_back("coder", "s1", "reviewer", "it wants review first"),
        answer("coder", "code"),
        answer("reviewer", "ok"),
    ]);
    let mut run = open(
        provider.clone(),
        profiles(),
        stages(&["architect", "coder", "reviewer"], 2),
    )
    .await
    .unwrap();
    let events = run.turn("go").await;
    assert_eq!(
        tool_results(&provider.requests_of("coder")[1]),
        "`reviewer` is not a stage before this one; send the work back to one of: architect"
    );
    assert!(warnings(&events).is_empty());
    assert_eq!(
        provider.order(),
        ["architect", "coder", "coder", "reviewer"]
    );
    assert_eq!(turn_end(&events), Some(TurnEndReason::Completed));
    run.finish().await;
}

#[tokio::test]
async fn a_failing_stage_fails_the_stages_after_it_and_the_turn() {
    let mut profiles = profiles();
    // The coder may make one request; its tool call leaves it without an answer.
    profiles[1].max_turns = Some(1);
    let provider = script(vec![
        answer("architect", "design"),
        (
            "coder",
            Reply::stream(vec![call("p1", "probe", "{}"), usage(10), finish()]),
        ),
    ]);
    let mut run = open(provider.clone(), profiles, stages(FOUR, 2))
        .await
        .unwrap();
    let events = run.turn("go").await;
    let reason = "reached its limit of 1 model requests without a final answer";
    let lines = task_lines(&events);
    assert_eq!(
        &lines[4..],
        [
            "started task_1",
            "done task_1: design",
            "started task_2",
            &format!("failed task_2: {reason}"),
            &format!("failed task_3: dependency task_2 failed: {reason}"),
            &format!("failed task_4: dependency task_3 failed: dependency task_2 failed: {reason}"),
        ]
    );
    assert!(provider.requests_of("tester").is_empty());
    let error = events.iter().find_map(|e| match &e.kind {
        EventKind::Error { message, hint, .. } => Some((message.clone(), hint.clone())),
        _ => None,
    });
    let (message, hint) = error.expect("no error event");
    assert_eq!(
        message,
        format!("the pipeline stopped: the coder stage (task_2) failed: {reason}")
    );
    assert!(hint.is_some_and(|h| h.contains("code-mesh sessions list")));
    assert_eq!(turn_end(&events), Some(TurnEndReason::Failed));
    assert_eq!(answer_of(&events), None);
    run.finish().await;
}

#[tokio::test]
async fn a_provider_failure_of_a_stage_is_retried_once_with_a_new_agent() {
    let provider = script(vec![
        ("architect", Reply::fail(overloaded())),
        answer("architect", "design"),
        answer("coder", "code"),
    ]);
    let mut run = open(provider, profiles(), stages(&["architect", "coder"], 0))
        .await
        .unwrap();
    let events = run.turn("go").await;
    assert!(
        warnings(&events)
            .iter()
            .any(|w| w.starts_with("task_1 [architect] failed with a provider error")),
        "{:?}",
        warnings(&events)
    );
    let started: Vec<String> = task_lines(&events)
        .into_iter()
        .filter(|l| l.starts_with("started"))
        .collect();
    assert_eq!(
        started,
        ["started task_1", "started task_1", "started task_2"]
    );
    assert_eq!(turn_end(&events), Some(TurnEndReason::Completed));
    run.finish().await;
}

#[tokio::test]
async fn cancelling_mid_stage_cancels_its_agent_and_the_waiting_stages() {
    let provider = script(vec![answer("architect", "design"), hang("coder")]);
    let mut run = open(provider.clone(), profiles(), stages(FOUR, 2))
        .await
        .unwrap();
    run.handle
        .submit(Op::UserTurn { text: "go".into() })
        .unwrap();
    let mut events = run
        .until(|e| matches!(&e.kind, EventKind::TaskStarted { task, .. } if task.0 == "task_2"))
        .await;
    // The coder is asking the model (its stream never ends) once its request is recorded.
    for _ in 0..200 {
        if !provider.requests_of("coder").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(provider.requests_of("coder").len(), 1);
    run.handle.submit(Op::Cancel).unwrap();
    events.extend(
        run.until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
            .await,
    );
    let lines = task_lines(&events);
    assert_eq!(
        &lines[lines.len() - 3..],
        [
            "failed task_2: cancelled",
            "failed task_3: cancelled before it started",
            "failed task_4: cancelled before it started",
        ]
    );
    assert_eq!(turn_end(&events), Some(TurnEndReason::Cancelled));
    // The coder's own turn was cancelled: its session says so.
    let ends = run.child_ends().await;
    let coder_end = ends
        .iter()
        .find(|(profile, _)| profile == "coder")
        .expect("no coder agent")
        .1;
    assert_eq!(coder_end, Some(TurnEndReason::Cancelled));
    run.finish().await;
}

#[tokio::test]
async fn a_pipeline_with_an_unknown_or_no_stage_is_refused_at_open() {
    let unknown = open(
        script(Vec::new()),
        profiles(),
        stages(&["architect", "wizard"], 2),
    )
    .await;
    let Err(err) = unknown else {
        panic!("a pipeline with an unknown stage opened");
    };
    assert!(matches!(&err, OrchestraError::MissingProfile(name) if name == "wizard"));
    assert_eq!(
        err.to_string(),
        "there is no `wizard` agent profile; this strategy needs one"
    );
    let empty = open(script(Vec::new()), profiles(), stages(&[], 2)).await;
    let Err(err) = empty else {
        panic!("a pipeline without stages opened");
    };
    assert_eq!(err.to_string(), "the pipeline has no stages");
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("`[agents] pipeline`"))
    );
}
