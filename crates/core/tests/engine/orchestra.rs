//! The hierarchical strategy end to end in process: a Coordinator delegating a task graph to
//! agents that run in child sessions against a provider routed by each agent's prompt.

use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_core::orchestra::{Hierarchical, OrchestraSettings};
use code_mesh_core::{SessionStart, Store};
use code_mesh_protocol::{
    AgentProfile, Event, EventKind, Op, PermissionDecision, PermissionSource, SessionId,
    TurnEndReason,
};
use pretty_assertions::assert_eq;

use crate::routed::*;
use crate::support::*;

/// `agent` calls `tool`, reporting 5 input tokens.
fn tool_step<'a>(agent: &'a str, id: &str, tool: &str, args: &str) -> (&'a str, Reply) {
    (
        agent,
        Reply::stream(vec![call(id, tool, args), usage(5), finish()]),
    )
}

const DIAMOND: &str = r#"{"tasks": [
    {"id": "a", "description": "design the change", "agent": "architect"},
    {"id": "b", "description": "implement it", "agent": "coder", "depends_on": ["a"]},
    {"id": "c", "description": "test it", "agent": "tester", "depends_on": ["a"]},
    {"id": "d", "description": "review it", "agent": "reviewer", "depends_on": ["b", "c"]}
]}"#;

fn profiles() -> Vec<AgentProfile> {
    vec![
        profile("coordinator", Some(&["delegate"]), None),
        profile("architect", Some(&[]), None),
        profile("coder", None, None),
        profile("tester", None, None),
        profile("reviewer", Some(&[]), None),
    ]
}

async fn start(
    provider: Arc<RoutedProvider>,
    barrier: Option<Arc<tokio::sync::Barrier>>,
    settings: OrchestraSettings,
) -> Run {
    start_with_store(memory_store(), provider, barrier, settings).await
}

async fn start_with_store(
    store: Arc<dyn Store>,
    provider: Arc<RoutedProvider>,
    barrier: Option<Arc<tokio::sync::Barrier>>,
    settings: OrchestraSettings,
) -> Run {
    let opened = Hierarchical::open(
        store.clone(),
        tools(barrier, Arc::default()),
        config(provider, true),
        SessionStart::New,
        settings,
    )
    .await
    .unwrap();
    Run::spawn(store, opened)
}

/// The orchestration events as short lines, in order.
fn task_lines(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskCreated { task } => Some(format!("created {} {}", task.id, task.agent)),
            EventKind::TaskStarted { task, .. } => Some(format!("started {task}")),
            EventKind::TaskCompleted { task, outcome } => {
                Some(format!("done {task}: {}", outcome.summary))
            }
            EventKind::TaskFailed { task, reason } => Some(format!("failed {task}: {reason}")),
            _ => None,
        })
        .collect()
}

fn position(lines: &[String], line: &str) -> usize {
    lines
        .iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no `{line}` in {lines:#?}"))
}

#[tokio::test]
async fn a_diamond_runs_in_dependency_order_with_the_middle_tasks_in_parallel() {
    // The coder and the tester each wait at a barrier of two inside a tool: the run only
    // finishes if both are running at once.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let provider = script(vec![
        tool_step("coordinator", "d1", "delegate", DIAMOND),
        answer("architect", "design: add a flag"),
        tool_step("coder", "p1", "probe", r#"{"who":"coder"}"#),
        answer("coder", "coded the flag"),
        tool_step("tester", "p2", "probe", r#"{"who":"tester"}"#),
        answer("tester", "tests pass"),
        answer("reviewer", "approved"),
        answer("coordinator", "All done: flag added, tested, approved."),
    ]);
    let mut run = start(
        provider.clone(),
        Some(barrier),
        settings(profiles(), 4, ManualTimer::new()),
    )
    .await;
    run.handle
        .submit(Op::UserTurn {
            text: "add a flag".into(),
        })
        .unwrap();
    let events = run
        .until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
        .await;
    let lines = task_lines(&events);
    assert_eq!(
        &lines[..4],
        [
            "created task_1 architect",
            "created task_2 coder",
            "created task_3 tester",
            "created task_4 reviewer"
        ]
    );
    let a_done = position(&lines, "done task_1: design: add a flag");
    assert!(position(&lines, "started task_1") < a_done);
    assert!(a_done < position(&lines, "started task_2"));
    assert!(a_done < position(&lines, "started task_3"));
    let d_started = position(&lines, "started task_4");
    assert!(position(&lines, "done task_2: coded the flag") < d_started);
    assert!(position(&lines, "done task_3: tests pass") < d_started);
    assert!(d_started < position(&lines, "done task_4: approved"));
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::TurnFinished {
            reason: TurnEndReason::Completed,
            ..
        }
    ));

    // The reviewer saw both results it builds on; the Coordinator saw every outcome.
    let review = &provider.requests_of("reviewer")[0];
    let asked = review.messages[0].text();
    assert!(asked.starts_with("review it"), "{asked}");
    assert!(
        asked.contains("## task_2 (coder)\ncoded the flag"),
        "{asked}"
    );
    assert!(asked.contains("## task_3 (tester)\ntests pass"), "{asked}");
    let coordinator = provider.requests_of("coordinator");
    let result = tool_results(&coordinator[1]);
    assert!(
        result.contains("## task_1 [architect] done\ndesign: add a flag"),
        "{result}"
    );
    assert!(
        result.contains("## task_4 [reviewer] done\napproved"),
        "{result}"
    );
    // Agents got only the tools their profiles allow; only the Coordinator can delegate.
    assert_eq!(
        coordinator[0]
            .tools
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["delegate"]
    );
    assert!(provider.requests_of("architect")[0].tools.is_empty());
    assert!(
        provider.requests_of("coder")[0]
            .tools
            .iter()
            .all(|t| t.name != "delegate")
    );

    // Five agents: the Coordinator in the run's session, four in child sessions.
    let spawned: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AgentSpawned { agent } => Some(agent.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(spawned.len(), 5);
    assert_eq!(spawned[0].profile, "coordinator");
    assert_eq!(&spawned[0].session_id, run.handle.id());
    let children = run.store.child_sessions(run.handle.id()).await.unwrap();
    let mut child_agents: Vec<_> = children.iter().map(|c| c.agent.clone()).collect();
    child_agents.sort();
    assert_eq!(
        child_agents,
        ["architect", "coder", "reviewer", "tester"].map(|a| Some(a.to_owned()))
    );
    for agent in &spawned[1..] {
        assert_eq!(agent.parent.as_ref(), Some(&spawned[0].id));
        assert!(children.iter().any(|c| c.id == agent.session_id));
    }
    let terminated = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::AgentTerminated {
                    succeeded: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(terminated, 4);

    // The run's usage is the Coordinator's plus every agent's.
    let info = run.store.session(run.handle.id()).await.unwrap().unwrap();
    // coordinator 5 + 10; architect 10; coder 5 + 10; tester 5 + 10; reviewer 10.
    assert_eq!(info.usage.input_tokens, 65);
    let mut child_total = 0;
    for child in &children {
        child_total += child.usage.input_tokens;
    }
    assert_eq!(child_total, 50);
    run.finish().await;
}

#[tokio::test]
async fn a_failed_task_fails_its_dependents_with_the_reason_and_the_coordinator_hears_of_it() {
    let mut profiles = profiles();
    // The coder may make one request; its tool call leaves it without an answer.
    profiles[2].max_turns = Some(1);
    let provider = script(vec![
        tool_step("coordinator", "d1", "delegate", DIAMOND),
        answer("architect", "design"),
        tool_step("coder", "p1", "probe", "{}"),
        answer("tester", "tests pass"),
        answer("coordinator", "The coder could not finish."),
    ]);
    let mut run = start(
        provider.clone(),
        None,
        settings(profiles, 1, ManualTimer::new()),
    )
    .await;
    run.handle
        .submit(Op::UserTurn { text: "go".into() })
        .unwrap();
    let events = run
        .until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
        .await;
    let lines = task_lines(&events);
    let reason = "reached its limit of 1 model requests without a final answer";
    assert!(
        lines.contains(&format!("failed task_2: {reason}")),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!(
            "failed task_4: dependency task_2 failed: {reason}"
        )),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"done task_3: tests pass".to_owned()),
        "{lines:#?}"
    );
    assert!(!lines.contains(&"started task_4".to_owned()), "{lines:#?}");
    assert!(provider.requests_of("reviewer").is_empty());
    let result = tool_results(&provider.requests_of("coordinator")[1]);
    assert!(
        result.contains(&format!(
            "## task_4 [reviewer] failed: dependency task_2 failed: {reason}"
        )),
        "{result}"
    );
    run.finish().await;
}

#[tokio::test]
async fn a_provider_failure_is_retried_once_with_a_new_agent() {
    let provider = script(vec![
        tool_step(
            "coordinator",
            "d1",
            "delegate",
            r#"{"tasks": [{"description": "look", "agent": "architect"}]}"#,
        ),
        ("architect", Reply::fail(overloaded())),
        answer("architect", "looked"),
        answer("coordinator", "ok"),
    ]);
    let mut run = start(provider, None, settings(profiles(), 2, ManualTimer::new())).await;
    run.handle
        .submit(Op::UserTurn { text: "go".into() })
        .unwrap();
    let events = run
        .until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
        .await;
    let warning = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Warning { message } if message.contains("retrying") => Some(message),
            _ => None,
        })
        .expect("no retry warning");
    assert!(
        warning.starts_with("task_1 [architect] failed with a provider error"),
        "{warning}"
    );
    assert_eq!(
        task_lines(&events),
        [
            "created task_1 architect",
            "started task_1",
            "started task_1",
            "done task_1: looked"
        ]
    );
    run.finish().await;
}

#[tokio::test]
async fn cancelling_the_run_stops_every_running_agent_and_starts_nothing_new() {
    let provider = script(vec![
        tool_step("coordinator", "d1", "delegate", DIAMOND),
        answer("architect", "design"),
        hang("coder"),
        hang("tester"),
    ]);
    let mut run = start(
        provider.clone(),
        None,
        settings(profiles(), 4, ManualTimer::new()),
    )
    .await;
    run.handle
        .submit(Op::UserTurn { text: "go".into() })
        .unwrap();
    let mut started = 0;
    let mut events = run
        .until(|e| {
            started += usize::from(
                matches!(&e.kind, EventKind::TaskStarted { task, .. } if task.0 != "task_1"),
            );
            started == 2
        })
        .await;
    run.handle.submit(Op::Cancel).unwrap();
    let mut failed = 0;
    let mut finished = false;
    events.extend(
        run.until(|e| {
            failed += usize::from(matches!(e.kind, EventKind::TaskFailed { .. }));
            finished |= matches!(e.kind, EventKind::TurnFinished { .. });
            failed == 3 && finished
        })
        .await,
    );
    let store = run.store.clone();
    let id = run.handle.id().clone();
    let rest = run.finish().await;
    events.extend(rest);
    let lines = task_lines(&events);
    assert!(
        lines.contains(&"failed task_2: cancelled".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"failed task_3: cancelled".to_owned()),
        "{lines:#?}"
    );
    // Whichever middle task stopped first fails the last one.
    assert!(
        lines.iter().any(
            |l| l == "failed task_4: dependency task_2 failed: cancelled"
                || l == "failed task_4: dependency task_3 failed: cancelled"
        ),
        "{lines:#?}"
    );
    assert!(!lines.contains(&"started task_4".to_owned()), "{lines:#?}");
    assert!(provider.requests_of("reviewer").is_empty());
    assert_eq!(turn_end(&events), Some(TurnEndReason::Cancelled));
    // Each running agent's own turn was cancelled: its session says so.
    let ends = child_ends(&store, &id).await;
    assert_eq!(
        ends,
        [
            ("architect".to_owned(), Some(TurnEndReason::Completed)),
            ("coder".to_owned(), Some(TurnEndReason::Cancelled)),
            ("tester".to_owned(), Some(TurnEndReason::Cancelled)),
        ]
    );
}

#[tokio::test]
async fn an_agent_that_outlives_the_timeout_fails_its_task() {
    let timer = ManualTimer::new();
    let provider = script(vec![
        tool_step(
            "coordinator",
            "d1",
            "delegate",
            r#"{"tasks": [{"description": "look", "agent": "architect"}]}"#,
        ),
        hang("architect"),
        answer("coordinator", "the architect timed out"),
    ]);
    let mut run = start(
        provider.clone(),
        None,
        settings(profiles(), 2, timer.clone()),
    )
    .await;
    run.handle
        .submit(Op::UserTurn { text: "go".into() })
        .unwrap();
    let mut events = run
        .until(|e| matches!(e.kind, EventKind::TaskStarted { .. }))
        .await;
    timer.fire(AGENT_TIMEOUT);
    events.extend(
        run.until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
            .await,
    );
    let lines = task_lines(&events);
    assert_eq!(
        lines,
        [
            "created task_1 architect",
            "started task_1",
            "failed task_1: timed out after 300s"
        ]
    );
    let result = tool_results(&provider.requests_of("coordinator")[1]);
    assert_eq!(result, "## task_1 [architect] failed: timed out after 300s");
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::AgentTerminated { succeeded: false, outcome, .. } if outcome.summary == "timed out after 300s"
    )));
    run.finish().await;
}

#[tokio::test]
async fn invalid_delegations_are_refused_as_tool_errors_the_coordinator_can_fix() {
    let provider = script(vec![
        tool_step(
            "coordinator",
            "d1",
            "delegate",
            r#"{"tasks": [{"id": "x", "description": "a", "agent": "coder", "depends_on": ["y"]},
                          {"id": "y", "description": "b", "agent": "coder", "depends_on": ["x"]}]}"#,
        ),
        tool_step(
            "coordinator",
            "d2",
            "delegate",
            r#"{"tasks": [{"description": "a", "agent": "wizard"}]}"#,
        ),
        answer("coordinator", "gave up"),
    ]);
    let mut run = start(
        provider.clone(),
        None,
        settings(profiles(), 2, ManualTimer::new()),
    )
    .await;
    run.handle
        .submit(Op::UserTurn { text: "go".into() })
        .unwrap();
    let events = run
        .until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
        .await;
    assert!(task_lines(&events).is_empty());
    let requests = provider.requests_of("coordinator");
    let cycle = tool_results(&requests[1]);
    assert!(cycle.contains("cycle (x -> y -> x)"), "{cycle}");
    let unknown = tool_results(&requests[2]);
    assert!(
        unknown.contains("there is no `wizard` agent to delegate to; use one of: architect, coder, reviewer, tester"),
        "{unknown}"
    );
    run.finish().await;
}

/// A store whose appends suspend a few times before storing, like the SQLite store's (which
/// waits for a blocking thread): a session's sink then holds its lock across suspension.
struct SuspendingStore(Arc<dyn Store>);

#[async_trait]
impl Store for SuspendingStore {
    async fn create_session(
        &self,
        new: code_mesh_core::NewSession,
    ) -> Result<code_mesh_protocol::SessionInfo, code_mesh_core::StoreError> {
        self.0.create_session(new).await
    }
    async fn session(
        &self,
        id: &SessionId,
    ) -> Result<Option<code_mesh_protocol::SessionInfo>, code_mesh_core::StoreError> {
        self.0.session(id).await
    }
    async fn latest_session(
        &self,
        cwd: &str,
    ) -> Result<Option<code_mesh_protocol::SessionInfo>, code_mesh_core::StoreError> {
        self.0.latest_session(cwd).await
    }
    async fn list_sessions(
        &self,
        limit: usize,
    ) -> Result<Vec<code_mesh_protocol::SessionInfo>, code_mesh_core::StoreError> {
        self.0.list_sessions(limit).await
    }
    async fn messages(
        &self,
        id: &SessionId,
    ) -> Result<Vec<code_mesh_protocol::Message>, code_mesh_core::StoreError> {
        self.0.messages(id).await
    }
    async fn events(&self, id: &SessionId) -> Result<Vec<Event>, code_mesh_core::StoreError> {
        self.0.events(id).await
    }
    async fn append_event(&self, event: &Event) -> Result<(), code_mesh_core::StoreError> {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.0.append_event(event).await
    }
    async fn create_session_with_events(
        &self,
        new: code_mesh_core::NewSession,
        events: Vec<code_mesh_core::RecordedEvent>,
    ) -> Result<code_mesh_protocol::SessionInfo, code_mesh_core::StoreError> {
        self.0.create_session_with_events(new, events).await
    }
    async fn delete_session(&self, id: &SessionId) -> Result<bool, code_mesh_core::StoreError> {
        self.0.delete_session(id).await
    }
    async fn child_sessions(
        &self,
        id: &SessionId,
    ) -> Result<Vec<code_mesh_protocol::SessionInfo>, code_mesh_core::StoreError> {
        self.0.child_sessions(id).await
    }
    async fn context_state(
        &self,
        id: &SessionId,
    ) -> Result<code_mesh_protocol::ContextState, code_mesh_core::StoreError> {
        self.0.context_state(id).await
    }
}

#[tokio::test]
async fn two_agents_at_once_never_deadlock_on_the_runs_events_when_the_store_suspends() {
    // Regression: agents reported into the run's session themselves, holding its event lock
    // across the store's write, while the scheduler polling them waited for the same lock.
    for round in 0..20 {
        let provider = script(vec![
            tool_step("coordinator", "d1", "delegate", DIAMOND),
            answer("architect", "design: add a flag"),
            answer("coder", "coded the flag"),
            answer("tester", "tests pass"),
            answer("reviewer", "approved"),
            answer("coordinator", "All done."),
        ]);
        let store: Arc<dyn Store> = Arc::new(SuspendingStore(memory_store()));
        let mut run = start_with_store(
            store,
            provider,
            None,
            settings(profiles(), 4, ManualTimer::new()),
        )
        .await;
        run.handle
            .submit(Op::UserTurn {
                text: format!("add a flag ({round})"),
            })
            .unwrap();
        let events = run
            .until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
            .await;
        assert!(
            task_lines(&events).contains(&"done task_4: approved".to_owned()),
            "round {round}: {:?}",
            task_lines(&events)
        );
        run.finish().await;
    }
}

/// A run where the coder asks to use the `log` write tool, nothing approving it in advance.
async fn asking_run(log: Arc<std::sync::Mutex<Vec<String>>>) -> Run {
    let provider = script(vec![
        tool_step(
            "coordinator",
            "d1",
            "delegate",
            r#"{"tasks": [{"id": "a", "description": "log it", "agent": "coder"}]}"#,
        ),
        tool_step("coder", "call_1", "log", r#"{"entry":"from the coder"}"#),
        answer("coder", "logged"),
        answer("coordinator", "Done."),
    ]);
    let store = memory_store();
    let opened = Hierarchical::open(
        store.clone(),
        tools(None, log),
        config(provider, false),
        SessionStart::New,
        settings(profiles(), 4, ManualTimer::new()),
    )
    .await
    .unwrap();
    Run::spawn(store, opened)
}

#[tokio::test]
async fn an_agents_permission_question_is_asked_in_the_run_and_its_answer_reaches_the_agent() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut run = asking_run(log.clone()).await;
    let EventKind::PermissionRequested {
        request_id,
        call_id,
        tool,
        summary,
        ..
    } = asked_question(&mut run).await
    else {
        unreachable!()
    };
    // Ids carry the agent's, so they clash with nothing else of the run.
    assert!(request_id.starts_with("agent_2."), "{request_id}");
    assert_eq!(call_id, "agent_2.call_1");
    assert_eq!(tool, "log");
    assert!(summary.starts_with("agent_2 (coder): "), "{summary}");
    assert!(log.lock().unwrap().is_empty(), "ran before it was allowed");

    run.handle
        .submit(Op::PermissionReply {
            request_id: request_id.clone(),
            decision: PermissionDecision::AllowOnce,
        })
        .unwrap();
    let rest = run
        .until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
        .await;
    assert_eq!(*log.lock().unwrap(), ["from the coder"]);
    let decided = rest
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::PermissionDecided {
                request_id: id,
                decision,
                source,
                ..
            } if *id == request_id => Some((*decision, *source)),
            _ => None,
        })
        .expect("the run's question was never closed");
    assert_eq!(
        decided,
        (PermissionDecision::AllowOnce, PermissionSource::User)
    );
    assert!(matches!(
        rest.last().map(|e| &e.kind),
        Some(EventKind::TurnFinished {
            reason: TurnEndReason::Completed,
            ..
        })
    ));
    // The agent's own session records the answer as the user's.
    let agent_session = run
        .store
        .child_sessions(run.handle.id())
        .await
        .unwrap()
        .remove(0);
    let agent_events = run.store.events(&agent_session.id).await.unwrap();
    assert!(agent_events.iter().any(|e| matches!(
        e.kind,
        EventKind::PermissionDecided {
            decision: PermissionDecision::AllowOnce,
            source: PermissionSource::User,
            ..
        }
    )));
}

#[tokio::test]
async fn a_denied_agent_question_fails_the_agents_tool_call() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut run = asking_run(log.clone()).await;
    let request_id = question_of(&mut run).await;
    run.handle
        .submit(Op::PermissionReply {
            request_id,
            decision: PermissionDecision::Deny,
        })
        .unwrap();
    run.until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
        .await;
    assert!(log.lock().unwrap().is_empty());
}

/// Starts the run's turn and waits for the question it asks (a `permission_requested`).
async fn asked_question(run: &mut Run) -> EventKind {
    run.handle
        .submit(Op::UserTurn {
            text: "log something".into(),
        })
        .unwrap();
    let asked = run
        .until(|e| matches!(e.kind, EventKind::PermissionRequested { .. }))
        .await;
    asked.last().map(|e| e.kind.clone()).unwrap()
}

/// Starts the run's turn and returns the request id of the question it asks.
async fn question_of(run: &mut Run) -> String {
    match asked_question(run).await {
        EventKind::PermissionRequested { request_id, .. } => request_id,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn allow_always_for_an_agent_reports_the_rules_it_remembered_in_the_run() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut run = asking_run(log.clone()).await;
    let request_id = question_of(&mut run).await;
    run.handle
        .submit(Op::PermissionReply {
            request_id: request_id.clone(),
            decision: PermissionDecision::AllowAlways,
        })
        .unwrap();
    let rest = run
        .until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
        .await;
    let remembered = rest
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::PermissionDecided {
                request_id: id,
                remembered,
                ..
            } if *id == request_id => Some(remembered.clone()),
            _ => None,
        })
        .expect("the run's question was never closed");
    assert_eq!(remembered.len(), 1, "{remembered:?}");
    assert_eq!(remembered[0].tool, "log");
    assert_eq!(*log.lock().unwrap(), ["from the coder"]);
}

#[tokio::test]
async fn a_question_left_open_when_the_run_is_cancelled_is_closed_in_the_run() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut run = asking_run(log.clone()).await;
    let request_id = question_of(&mut run).await;
    run.handle.submit(Op::Cancel).unwrap();
    // The run's turn ends at once; its agents stop after it, and the question is closed then.
    let rest = run
        .until(|e| {
            matches!(&e.kind, EventKind::PermissionDecided { request_id: id, decision: PermissionDecision::Deny, .. } if *id == request_id)
        })
        .await;
    assert!(
        rest.iter()
            .any(|e| matches!(e.kind, EventKind::TurnFinished { .. })),
        "{:#?}",
        names(&rest)
    );
    assert!(log.lock().unwrap().is_empty());
    // A late answer finds nothing waiting.
    run.handle
        .submit(Op::PermissionReply {
            request_id,
            decision: PermissionDecision::AllowOnce,
        })
        .unwrap();
}
