//! The hierarchical strategy end to end in process: a Coordinator delegating a task graph to
//! agents that run in child sessions against a provider routed by each agent's prompt.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::orchestra::{Hierarchical, OrchestraSettings, Timer};
use code_mesh_core::{
    ModelRequest, Provider, ProviderError, ProviderErrorKind, ProviderStream, SessionHandle,
    SessionStart, SessionState, Store, StreamEvent,
};
use code_mesh_protocol::{AgentProfile, Event, EventKind, Op, SessionId, TurnEndReason, Usage};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use pretty_assertions::assert_eq;
use tokio::sync::watch;

use crate::support::*;

enum Reply {
    Stream(Step),
    Fail(ProviderError),
}

/// Answers each request from the queue of the agent its system prompt names.
#[derive(Default)]
struct RoutedProvider {
    queues: Mutex<HashMap<String, VecDeque<Reply>>>,
    requests: Mutex<Vec<(String, ModelRequest)>>,
}

impl RoutedProvider {
    fn new(script: Vec<(&str, Reply)>) -> Arc<Self> {
        let provider = RoutedProvider::default();
        {
            let mut queues = provider.queues.lock().unwrap();
            for (agent, reply) in script {
                queues.entry(agent.to_owned()).or_default().push_back(reply);
            }
        }
        Arc::new(provider)
    }

    fn requests_of(&self, agent: &str) -> Vec<ModelRequest> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|(a, _)| a == agent)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

fn agent_of(system: &str) -> String {
    system
        .lines()
        .find_map(|line| line.strip_prefix("Code Mesh agent: "))
        .expect("the system prompt names no agent")
        .trim()
        .to_owned()
}

#[async_trait]
impl Provider for RoutedProvider {
    fn name(&self) -> &str {
        "routed"
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        let agent = agent_of(&request.system);
        self.requests.lock().unwrap().push((agent.clone(), request));
        let reply = self
            .queues
            .lock()
            .unwrap()
            .get_mut(&agent)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| panic!("the script has no reply left for `{agent}`"));
        match reply {
            Reply::Fail(err) => Err(err),
            Reply::Stream(step) => {
                let events = futures::stream::iter(step.events);
                if step.hang {
                    Ok(events.chain(futures::stream::pending()).boxed())
                } else {
                    Ok(events.boxed())
                }
            }
        }
    }
}

fn usage(tokens: u64) -> Result<StreamEvent, ProviderError> {
    Ok(StreamEvent::Usage(Usage {
        input_tokens: tokens,
        output_tokens: 1,
        ..Usage::default()
    }))
}

fn answer(agent: &str, text_: &str) -> (String, Reply) {
    (
        agent.to_owned(),
        Reply::Stream(step(vec![text(text_), usage(10), finish()])),
    )
}

fn hang(agent: &str) -> (String, Reply) {
    (
        agent.to_owned(),
        Reply::Stream(Step {
            events: vec![text("working…")],
            hang: true,
        }),
    )
}

fn tool_step(agent: &str, id: &str, tool: &str, args: &str) -> (String, Reply) {
    (
        agent.to_owned(),
        Reply::Stream(step(vec![call(id, tool, args), usage(5), finish()])),
    )
}

fn script(entries: Vec<(String, Reply)>) -> Arc<RoutedProvider> {
    RoutedProvider::new(
        entries
            .into_iter()
            .map(|(agent, reply)| (Box::leak(agent.into_boxed_str()) as &str, reply))
            .collect(),
    )
}

const DIAMOND: &str = r#"{"tasks": [
    {"id": "a", "description": "design the change", "agent": "architect"},
    {"id": "b", "description": "implement it", "agent": "coder", "depends_on": ["a"]},
    {"id": "c", "description": "test it", "agent": "tester", "depends_on": ["a"]},
    {"id": "d", "description": "review it", "agent": "reviewer", "depends_on": ["b", "c"]}
]}"#;

fn profile(name: &str, tools: Option<&[&str]>, max_turns: Option<u32>) -> AgentProfile {
    AgentProfile {
        name: name.into(),
        description: format!("the {name}"),
        prompt: format!("You are the {name}."),
        tools: tools.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
        model: None,
        temperature: None,
        max_turns,
        origin: "test".into(),
    }
}

fn profiles() -> Vec<AgentProfile> {
    vec![
        profile("coordinator", Some(&["delegate"]), None),
        profile("architect", Some(&[]), None),
        profile("coder", None, None),
        profile("tester", None, None),
        profile("reviewer", Some(&[]), None),
    ]
}

/// A timer the test fires by hand: no test waits on the clock.
struct ManualTimer(watch::Sender<bool>);

impl ManualTimer {
    fn new() -> Arc<Self> {
        Arc::new(ManualTimer(watch::channel(false).0))
    }

    fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Timer for ManualTimer {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        let mut fired = self.0.subscribe();
        Box::pin(async move {
            let _ = fired.wait_for(|fired| *fired).await;
        })
    }
}

fn settings(
    profiles: Vec<AgentProfile>,
    max_count: usize,
    timer: Arc<ManualTimer>,
) -> OrchestraSettings {
    OrchestraSettings {
        profiles,
        max_count,
        timeout: Duration::from_secs(300),
        max_tasks: 50,
        timer,
        models: None,
    }
}

struct Run {
    handle: SessionHandle,
    store: Arc<dyn Store>,
    driver: tokio::task::JoinHandle<()>,
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
    let mut config = config(Arc::new(ScriptedProvider::default()), true);
    config.provider = provider.clone();
    let (handle, driver) = Hierarchical::open(
        store.clone(),
        tools(barrier, Arc::default()),
        config,
        SessionStart::New,
        settings,
    )
    .await
    .unwrap();
    let driver = tokio::spawn(driver.run());
    Run {
        handle,
        store,
        driver,
    }
}

impl Run {
    /// Events until `stop` has said yes `times` times, bounded so a bug fails instead of hangs.
    async fn until(&mut self, mut stop: impl FnMut(&Event) -> bool) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(20), self.handle.next_event())
                .await
                .expect("no event within 20 s: the run is stuck")
                .expect("the run ended early");
            let done = stop(&event);
            events.push(event);
            if done {
                return events;
            }
        }
    }

    /// Shuts the run down and checks every session of it replays to what was stored.
    async fn finish(self) -> Vec<Event> {
        self.handle.submit(Op::Shutdown).unwrap();
        let mut handle = self.handle;
        tokio::time::timeout(Duration::from_secs(20), self.driver)
            .await
            .expect("the run did not stop within 20 s of its shutdown")
            .unwrap();
        // The driver is done: whatever it reported is already queued.
        let mut rest = Vec::new();
        while let Some(Some(event)) = handle.next_event().now_or_never() {
            rest.push(event);
        }
        let mut sessions = vec![handle.id().clone()];
        sessions.extend(
            self.store
                .child_sessions(handle.id())
                .await
                .unwrap()
                .into_iter()
                .map(|info| info.id),
        );
        for id in sessions {
            assert_replays(&self.store, &id).await;
        }
        rest
    }
}

async fn assert_replays(store: &Arc<dyn Store>, id: &SessionId) {
    let events = store.events(id).await.unwrap();
    let info = store.session(id).await.unwrap().unwrap();
    let messages = store.messages(id).await.unwrap();
    let context = store.context_state(id).await.unwrap();
    let differences = SessionState::replay(&events).differences(&info, &messages, &context);
    assert!(differences.is_empty(), "{id}: {differences:?}");
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

fn tool_result_text(request: &ModelRequest) -> String {
    request
        .messages
        .iter()
        .flat_map(|m| m.tool_results())
        .map(|r| r.output.clone())
        .collect::<Vec<_>>()
        .join("\n")
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
    let result = tool_result_text(&coordinator[1]);
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
    let result = tool_result_text(&provider.requests_of("coordinator")[1]);
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
        (
            "architect".into(),
            Reply::Fail(ProviderError {
                kind: ProviderErrorKind::Server,
                provider: "routed".into(),
                message: "the server is overloaded".into(),
                status: Some(503),
                hint: None,
            }),
        ),
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
    let turn_end = events.iter().find_map(|e| match &e.kind {
        EventKind::TurnFinished { reason, .. } => Some(*reason),
        _ => None,
    });
    assert_eq!(turn_end, Some(TurnEndReason::Cancelled));
    // Each running agent's own turn was cancelled: its session says so.
    let mut ends = Vec::new();
    for session in run_children(&events) {
        let child = store.session(&session).await.unwrap().unwrap();
        let end = store
            .events(&session)
            .await
            .unwrap()
            .into_iter()
            .find_map(|e| match e.kind {
                EventKind::TurnFinished { reason, .. } => Some(reason),
                _ => None,
            });
        ends.push((child.agent.unwrap(), end));
    }
    ends.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ends,
        [
            ("architect".to_owned(), Some(TurnEndReason::Completed)),
            ("coder".to_owned(), Some(TurnEndReason::Cancelled)),
            ("tester".to_owned(), Some(TurnEndReason::Cancelled)),
        ]
    );
}

/// The child session ids the run's `agent_spawned` events name.
fn run_children(events: &[Event]) -> Vec<SessionId> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AgentSpawned { agent } if agent.parent.is_some() => {
                Some(agent.session_id.clone())
            }
            _ => None,
        })
        .collect()
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
    timer.fire();
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
    let result = tool_result_text(&provider.requests_of("coordinator")[1]);
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
    let cycle = tool_result_text(&requests[1]);
    assert!(cycle.contains("cycle (x -> y -> x)"), "{cycle}");
    let unknown = tool_result_text(&requests[2]);
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
