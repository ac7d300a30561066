//! The swarm strategy in process, over an in-memory `SwarmWorkspace`: candidates in their own
//! places, dropping by test results, reviewers' votes, applying exactly the winner, and
//! cancel.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::consensus::CandidateReport;
use code_mesh_core::orchestra::{
    ReproductionFiles, Swarm, SwarmCheckouts, SwarmEvaluation, SwarmPlace, SwarmSettings,
    SwarmStepError, SwarmWorkspace,
};
use code_mesh_core::{SessionHandle, SessionStart, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{Event, EventKind, Op, ToolKind, ToolSpec, TurnEndReason};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::routed::*;
use crate::support::*;

/// A provider routed by agent: `coder-<n>` for candidate n (named in its prompt section), else
/// the profile's name. An agent with no reply left fails with a provider error.
fn swarm_script(script: Vec<(&str, Reply)>) -> Arc<RoutedProvider> {
    Arc::new(
        RoutedProvider::new(script)
            .keyed_by(key_of)
            .out_of_script(OutOfScript::Fail),
    )
}

fn key_of(system: &str) -> String {
    if let Some(rest) = system.split("You are candidate ").nth(1) {
        let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return format!("coder-{n}");
    }
    agent_of(system)
}

fn reply<'a>(key: &'a str, words: &str) -> (&'a str, Reply) {
    (key, says(words))
}

fn tool<'a>(key: &'a str, name: &str, args: &str) -> (&'a str, Reply) {
    (key, calls(&[("c1", name, args)]))
}

/// Records where it ran: proves each agent works in its own place.
struct Where(Arc<Mutex<Vec<PathBuf>>>);

#[async_trait]
impl Tool for Where {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "where".into(),
            description: "where am I".into(),
            parameters: json!({"type": "object"}),
        }
    }
    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }
    fn summarize(&self, _: &serde_json::Value) -> String {
        "where".into()
    }
    async fn call(&self, _: serde_json::Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.0.lock().unwrap().push(ctx.workspace.clone());
        Ok(ToolOutput::from(ctx.workspace.display().to_string()))
    }
}

/// Counts its calls, then runs until cancelled.
struct Hold(watch::Sender<usize>);

#[async_trait]
impl Tool for Hold {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "hold".into(),
            description: "works until cancelled".into(),
            parameters: json!({"type": "object"}),
        }
    }
    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }
    fn summarize(&self, _: &serde_json::Value) -> String {
        "hold".into()
    }
    async fn call(&self, _: serde_json::Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.0.send_modify(|n| *n += 1);
        ctx.cancel.cancelled().await;
        Err(ToolError::new("cancelled"))
    }
}

/// The git side in memory: scripted reports, a log of every step.
struct FakeSwarm {
    reports: HashMap<usize, CandidateReport>,
    refuse: Option<String>,
    log: Arc<Mutex<Vec<String>>>,
}

struct FakeCheckouts {
    count: usize,
    reports: HashMap<usize, CandidateReport>,
    log: Arc<Mutex<Vec<String>>>,
}

fn place(name: &str) -> SwarmPlace {
    let path = PathBuf::from(format!("/swarm/{name}"));
    SwarmPlace {
        workspace: path.clone(),
        cwd: path,
        sandbox: Default::default(),
    }
}

#[async_trait]
impl SwarmWorkspace for FakeSwarm {
    async fn prepare(
        &self,
        _run: &str,
        candidates: usize,
        user: &SwarmPlace,
    ) -> Result<Box<dyn SwarmCheckouts>, SwarmStepError> {
        if let Some(message) = &self.refuse {
            return Err(SwarmStepError::Failed(message.clone()));
        }
        self.log.lock().unwrap().push(format!(
            "prepare {candidates} from {}",
            user.workspace.display()
        ));
        Ok(Box::new(FakeCheckouts {
            count: candidates,
            reports: self.reports.clone(),
            log: self.log.clone(),
        }))
    }
}

#[async_trait]
impl SwarmCheckouts for FakeCheckouts {
    fn candidates(&self) -> Vec<SwarmPlace> {
        (0..self.count).map(|n| place(&n.to_string())).collect()
    }
    fn tester(&self) -> SwarmPlace {
        place("tester")
    }
    async fn take_reproduction_tests(&mut self) -> Result<ReproductionFiles, SwarmStepError> {
        self.log.lock().unwrap().push("tests".into());
        Ok(ReproductionFiles {
            tests: vec!["tests/repro.sh".into()],
            ignored: Vec::new(),
        })
    }
    async fn run_baseline(&mut self, _: CancellationToken) -> Result<String, SwarmStepError> {
        self.log.lock().unwrap().push("baseline".into());
        Ok("`./test.sh`: 1 passed, 1 failed".into())
    }
    async fn evaluate(
        &mut self,
        number: usize,
        _: CancellationToken,
    ) -> Result<SwarmEvaluation, SwarmStepError> {
        self.log.lock().unwrap().push(format!("evaluate {number}"));
        let report = self.reports.get(&number).cloned().unwrap();
        Ok(SwarmEvaluation {
            diff: format!("+change of candidate {number}"),
            tests: format!("{} passed, {} failed", report.passed, report.failed),
            report,
        })
    }
    async fn apply(&mut self, number: usize) -> Result<Vec<String>, SwarmStepError> {
        self.log.lock().unwrap().push(format!("apply {number}"));
        Ok(vec![format!("file{number}.txt")])
    }
    async fn remove(self: Box<Self>) -> Result<(), SwarmStepError> {
        self.log.lock().unwrap().push("remove".into());
        Ok(())
    }
}

fn passing(candidate: usize, passed: u64) -> CandidateReport {
    CandidateReport {
        candidate,
        passed,
        failed: 0,
        diff_bytes: 10,
        ..CandidateReport::default()
    }
}

fn breaking(candidate: usize) -> CandidateReport {
    CandidateReport {
        candidate,
        passed: 1,
        failed: 1,
        breaks: vec!["keep".into()],
        diff_bytes: 10,
        ..CandidateReport::default()
    }
}

struct Run {
    handle: SessionHandle,
    log: Arc<Mutex<Vec<String>>>,
    places: Arc<Mutex<Vec<PathBuf>>>,
    held: watch::Receiver<usize>,
}

async fn start(
    provider: Arc<RoutedProvider>,
    candidates: usize,
    reviewers: usize,
    max_count: usize,
    swarm: FakeSwarm,
) -> Run {
    let places = Arc::new(Mutex::new(Vec::new()));
    let (held_tx, held) = watch::channel(0);
    let mut registry = code_mesh_core::ToolRegistry::new();
    registry.register(Arc::new(Where(places.clone())));
    registry.register(Arc::new(Hold(held_tx)));
    let log = swarm.log.clone();
    let profiles = vec![
        profile("coder", None, None),
        profile("tester", None, None),
        profile("reviewer", Some(&[]), None),
    ];
    let (handle, driver) = Swarm::open(
        memory_store(),
        registry,
        config(provider, true),
        SessionStart::New,
        settings(profiles, max_count, ManualTimer::new()),
        SwarmSettings {
            candidates,
            models: Vec::new(),
            reviewers,
            workspace: Arc::new(swarm),
        },
    )
    .await
    .unwrap();
    tokio::spawn(driver.run());
    Run {
        handle,
        log,
        places,
        held,
    }
}

fn fake(reports: Vec<CandidateReport>) -> FakeSwarm {
    FakeSwarm {
        reports: reports.into_iter().map(|r| (r.candidate, r)).collect(),
        refuse: None,
        log: Arc::default(),
    }
}

async fn turn(run: &mut Run, prompt: &str) -> Vec<Event> {
    run.handle
        .submit(Op::UserTurn {
            text: prompt.into(),
        })
        .unwrap();
    collect_until(&mut run.handle, |e| {
        matches!(e.kind, EventKind::TurnFinished { .. })
    })
    .await
}

/// The run's answer: its last assistant message.
fn answer_in(events: &[Event]) -> String {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::MessageAdded { message }
                if message.role == code_mesh_protocol::Role::Assistant =>
            {
                Some(message.text())
            }
            _ => None,
        })
        .unwrap_or_default()
}

fn task_lines(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskCreated { task } => Some(format!("created {} {}", task.id, task.agent)),
            EventKind::TaskCompleted { task, .. } => Some(format!("done {task}")),
            EventKind::TaskFailed { task, reason } => Some(format!("failed {task}: {reason}")),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_swarm_of_four_applies_the_only_candidate_that_passes() {
    let provider = swarm_script(vec![
        tool("tester", "where", "{}"),
        reply("tester", "wrote tests/repro.sh"),
        tool("coder-0", "where", "{}"),
        reply("coder-0", "changed it my way"),
        // Candidate 1's provider fails: its agent does not finish.
        tool("coder-2", "where", "{}"),
        reply("coder-2", "fixed it properly"),
        tool("coder-3", "where", "{}"),
        reply("coder-3", "nothing to do"),
    ]);
    let swarm = fake(vec![
        breaking(0),
        passing(2, 2),
        CandidateReport {
            candidate: 3,
            passed: 1,
            failed: 1,
            ..CandidateReport::default()
        },
    ]);
    let mut run = start(provider.clone(), 4, 1, 8, swarm).await;
    let events = turn(&mut run, "fix the value").await;
    assert_eq!(
        turn_end(&events),
        Some(TurnEndReason::Completed),
        "{events:#?}"
    );

    let log = run.log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "prepare 4 from /workspace",
            "tests",
            "baseline",
            "evaluate 0",
            "evaluate 2",
            "evaluate 3",
            "apply 2",
            "remove"
        ]
    );
    let lines = task_lines(&events);
    assert_eq!(
        &lines[..5],
        [
            "created task_1 tester",
            "created task_2 coder",
            "created task_3 coder",
            "created task_4 coder",
            "created task_5 coder"
        ]
    );
    assert!(lines.contains(&"done task_1".to_owned()), "{lines:#?}");
    assert!(lines.contains(&"done task_4".to_owned()), "{lines:#?}");
    assert!(
        lines.contains(
            &"failed task_2: candidate 0 was dropped: it breaks 1 test that passed before: keep"
                .to_owned()
        ),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("failed task_3: ") && l.contains("no reply left")),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"failed task_5: candidate 3 was dropped: it changed nothing".to_owned()),
        "{lines:#?}"
    );
    let answer = answer_in(&events);
    assert!(answer.contains("The swarm chose candidate 2"), "{answer}");
    assert!(answer.contains("Files changed: file2.txt."), "{answer}");
    assert!(answer.contains("tests/repro.sh"), "{answer}");
    // One survivor: nobody was asked to review.
    assert!(provider.requests_of("reviewer").is_empty());

    // Each agent worked in its own place, with its own prompt section and temperature.
    let mut places: Vec<String> = run
        .places
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    places.sort();
    assert_eq!(
        places,
        ["/swarm/0", "/swarm/2", "/swarm/3", "/swarm/tester"]
    );
    let first = &provider.requests_of("coder-0")[0];
    assert!(first.system.contains("You are candidate 0 of 4"));
    assert!(first.system.contains("Work only in your workspace"));
    assert_eq!(first.temperature, Some(0.2));
    assert_eq!(provider.requests_of("coder-2")[0].temperature, Some(0.8));
    assert_ne!(
        provider.requests_of("coder-0")[0].system,
        provider.requests_of("coder-2")[0]
            .system
            .replace("candidate 2", "candidate 0")
    );
    let tester = &provider.requests_of("tester")[0];
    assert!(
        tester.messages[0]
            .text()
            .contains("Write reproduction tests for this task")
    );
}

#[tokio::test]
async fn reviewers_vote_and_a_tie_goes_to_the_candidate_passing_more_tests() {
    let provider = swarm_script(vec![
        reply("tester", "no tests needed"),
        reply("coder-0", "zero"),
        reply("coder-1", "one"),
        reply("coder-2", "two"),
        // max_count 1: the reviewers run one after the other.
        tool(
            "reviewer",
            "vote",
            r#"{"candidate": 0, "reason": "dropped one"}"#,
        ),
        tool(
            "reviewer",
            "vote",
            r#"{"candidate": 1, "reason": "cleaner"}"#,
        ),
        reply("reviewer", "voted for 1"),
        tool(
            "reviewer",
            "vote",
            r#"{"candidate": 2, "reason": "more tests"}"#,
        ),
        reply("reviewer", "voted for 2"),
    ]);
    let swarm = fake(vec![breaking(0), passing(1, 2), passing(2, 3)]);
    let mut run = start(provider.clone(), 3, 2, 1, swarm).await;
    let events = turn(&mut run, "fix the value").await;
    assert_eq!(
        turn_end(&events),
        Some(TurnEndReason::Completed),
        "{events:#?}"
    );
    let log = run.log.lock().unwrap().clone();
    assert_eq!(log[log.len() - 2..], ["apply 2", "remove"]);
    let answer = answer_in(&events);
    assert!(answer.contains("The swarm chose candidate 2"), "{answer}");
    assert!(
        answer.contains("tied on votes, it passes the most tests"),
        "{answer}"
    );
    assert!(
        answer.contains("voted for candidate 1: cleaner"),
        "{answer}"
    );

    // The reviewers saw the survivors' diffs, not the dropped one's; a vote for a dropped
    // candidate was refused so the reviewer could vote again.
    let reviews = provider.requests_of("reviewer");
    let asked = reviews[0].messages[0].text();
    assert!(asked.contains("+change of candidate 1"), "{asked}");
    assert!(asked.contains("+change of candidate 2"), "{asked}");
    assert!(!asked.contains("+change of candidate 0"), "{asked}");
    let refused: String = reviews[1]
        .messages
        .iter()
        .flat_map(|m| m.tool_results())
        .map(|r| r.output.clone())
        .collect();
    assert!(refused.contains("candidate 0 cannot win"), "{refused}");
    let lines = task_lines(&events);
    assert!(
        lines.contains(&"created task_5 reviewer".to_owned()),
        "{lines:#?}"
    );
    assert!(lines.contains(&"done task_6".to_owned()), "{lines:#?}");
}

#[tokio::test]
async fn without_a_survivor_the_turn_fails_and_nothing_is_applied() {
    let provider = swarm_script(vec![
        reply("tester", "no tests"),
        reply("coder-0", "zero"),
        reply("coder-1", "one"),
    ]);
    let swarm = fake(vec![breaking(0), breaking(1)]);
    let mut run = start(provider, 2, 1, 4, swarm).await;
    let events = turn(&mut run, "fix it").await;
    assert_eq!(turn_end(&events), Some(TurnEndReason::Failed));
    let error = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Error { message, hint, .. } => Some((message.clone(), hint.clone())),
            _ => None,
        })
        .unwrap();
    assert!(error.0.starts_with("No candidate qualified"), "{error:?}");
    assert!(error.1.unwrap().contains("task_failed"));
    let log = run.log.lock().unwrap().clone();
    assert!(!log.iter().any(|l| l.starts_with("apply")), "{log:?}");
    assert_eq!(log.last().unwrap(), "remove");
}

#[tokio::test]
async fn outside_a_repository_the_turn_fails_before_any_model_request() {
    let provider = swarm_script(Vec::new());
    let mut swarm = fake(Vec::new());
    swarm.refuse = Some("`/workspace` is not inside a git repository".into());
    let mut run = start(provider.clone(), 3, 1, 4, swarm).await;
    let events = turn(&mut run, "fix it").await;
    assert_eq!(turn_end(&events), Some(TurnEndReason::Failed));
    let message = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        message.contains("is not inside a git repository"),
        "{message}"
    );
    assert!(provider.order().is_empty());
}

#[tokio::test]
async fn cancelling_mid_swarm_stops_every_agent_and_removes_the_checkouts() {
    for _ in 0..5 {
        let provider = swarm_script(vec![
            tool("tester", "hold", "{}"),
            tool("coder-0", "hold", "{}"),
            tool("coder-1", "hold", "{}"),
            tool("coder-2", "hold", "{}"),
        ]);
        let mut run = start(provider, 3, 1, 8, fake(Vec::new())).await;
        run.handle
            .submit(Op::UserTurn {
                text: "fix it".into(),
            })
            .unwrap();
        let mut held = run.held.clone();
        tokio::time::timeout(Duration::from_secs(20), held.wait_for(|n| *n == 4))
            .await
            .expect("the agents never all started")
            .unwrap();
        run.handle.submit(Op::Cancel).unwrap();
        let events = collect_until(&mut run.handle, |e| {
            matches!(e.kind, EventKind::TurnFinished { .. })
        })
        .await;
        assert_eq!(turn_end(&events), Some(TurnEndReason::Cancelled));
        let log = run.log.lock().unwrap().clone();
        assert_eq!(log, ["prepare 3 from /workspace", "remove"]);
        let lines = task_lines(&events);
        for task in ["task_1", "task_2", "task_3", "task_4"] {
            assert!(
                lines.contains(&format!("failed {task}: cancelled")),
                "{lines:#?}"
            );
        }
        let terminated = events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::AgentTerminated {
                        succeeded: false,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(terminated, 4);
    }
}
