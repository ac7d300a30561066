//! Support for the orchestration tests (hierarchical, pipeline, swarm and mesh runs): one
//! scripted provider that routes each request to a script by its system prompt, builders for
//! its replies, the run's settings and a handle on a running run.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::orchestra::{OrchestraDriver, OrchestraSettings, Timer};
use code_mesh_core::{
    ModelRequest, Provider, ProviderError, ProviderErrorKind, ProviderStream, SessionHandle,
    SessionState, Store, StreamEvent,
};
use code_mesh_protocol::{
    AgentProfile, Event, EventKind, Message, Op, Part, SessionId, TurnEndReason, Usage,
};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::sync::{Notify, watch};

use crate::support::*;

/// Holds a reply back until it is true of the requests seen so far.
pub type Gate = Box<dyn Fn(&RoutedProvider) -> bool + Send + Sync>;

/// One scripted answer to one request.
pub struct Reply {
    outcome: Result<Step, ProviderError>,
    /// Answers only a request whose newest message contains this.
    on: Option<&'static str>,
    /// Streams only once this holds of the requests seen so far.
    gate: Option<Gate>,
}

impl Reply {
    pub fn stream(events: Vec<Result<StreamEvent, ProviderError>>) -> Self {
        Reply {
            outcome: Ok(step(events)),
            on: None,
            gate: None,
        }
    }

    /// Fails the request instead.
    pub fn fail(err: ProviderError) -> Self {
        Reply {
            outcome: Err(err),
            on: None,
            gate: None,
        }
    }

    /// Starts an answer and never ends it.
    pub fn hang() -> Self {
        Reply {
            outcome: Ok(Step {
                events: vec![text("working…")],
                hang: true,
            }),
            on: None,
            gate: None,
        }
    }

    /// Answers only a request whose newest message contains `text`.
    pub fn on(mut self, text: &'static str) -> Self {
        self.on = Some(text);
        self
    }

    /// Streams only once `gate` holds of the requests seen so far.
    pub fn after(mut self, gate: impl Fn(&RoutedProvider) -> bool + Send + Sync + 'static) -> Self {
        self.gate = Some(Box::new(gate));
        self
    }
}

/// A final answer with no usage: the text, then the end.
pub fn says(text_: &str) -> Reply {
    Reply::stream(vec![text(text_), finish()])
}

/// Tool calls `(id, name, arguments)` with no usage, then the end.
pub fn calls(calls: &[(&str, &str, &str)]) -> Reply {
    let mut events: Vec<_> = calls
        .iter()
        .map(|(id, name, args)| call(id, name, args))
        .collect();
    events.push(finish());
    Reply::stream(events)
}

pub fn usage(tokens: u64) -> Result<StreamEvent, ProviderError> {
    Ok(StreamEvent::Usage(Usage {
        input_tokens: tokens,
        output_tokens: 1,
        ..Usage::default()
    }))
}

/// `agent`'s final answer, reporting 10 input tokens.
pub fn answer<'a>(agent: &'a str, text_: &str) -> (&'a str, Reply) {
    (agent, Reply::stream(vec![text(text_), usage(10), finish()]))
}

/// `agent` starts an answer and never ends it.
pub fn hang(agent: &str) -> (&str, Reply) {
    (agent, Reply::hang())
}

/// The error of a provider that is overloaded: a server error, worth a retry.
pub fn overloaded() -> ProviderError {
    ProviderError {
        kind: ProviderErrorKind::Server,
        provider: "routed".into(),
        message: "the server is overloaded".into(),
        status: Some(503),
        hint: None,
    }
}

/// What a request gets once its script has no reply left for it.
pub enum OutOfScript {
    /// The test is wrong: panic.
    Panic,
    /// A provider error (a bad request) naming the script.
    Fail,
    /// A final answer that there is nothing to add (a mesh agent may be woken more or fewer
    /// times as messages bunch up).
    NothingToAdd,
}

/// Answers each request from the script of its key: the agent its system prompt names unless
/// [`RoutedProvider::keyed_by`] says otherwise. A script's replies go in order, but for one
/// that waits for a given message ([`Reply::on`]).
pub struct RoutedProvider {
    key_of: fn(&str) -> String,
    out_of_script: OutOfScript,
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    requests: Mutex<Vec<(String, ModelRequest)>>,
    arrived: Notify,
}

impl RoutedProvider {
    pub fn new<'a>(script: impl IntoIterator<Item = (&'a str, Reply)>) -> Self {
        let mut scripts: HashMap<String, VecDeque<Reply>> = HashMap::new();
        for (key, reply) in script {
            scripts.entry(key.to_owned()).or_default().push_back(reply);
        }
        RoutedProvider {
            key_of: agent_of,
            out_of_script: OutOfScript::Panic,
            scripts: Mutex::new(scripts),
            requests: Mutex::default(),
            arrived: Notify::new(),
        }
    }

    /// Routes by `key_of(system prompt)` instead of the agent's name.
    pub fn keyed_by(mut self, key_of: fn(&str) -> String) -> Self {
        self.key_of = key_of;
        self
    }

    pub fn out_of_script(mut self, then: OutOfScript) -> Self {
        self.out_of_script = then;
        self
    }

    pub fn requests_of(&self, key: &str) -> Vec<ModelRequest> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub fn count(&self, key: &str) -> usize {
        self.requests_of(key).len()
    }

    /// The keys in the order they asked the model.
    pub fn order(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests.iter().map(|(key, _)| key.clone()).collect()
    }

    /// Waits until `key` has made `count` requests (bounded by the caller).
    pub async fn wait_for(&self, key: &str, count: usize) {
        self.wait_until(|provider| provider.count(key) >= count)
            .await;
    }

    async fn wait_until(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let arrived = self.arrived.notified();
            futures::pin_mut!(arrived);
            arrived.as_mut().enable();
            if done(self) {
                return;
            }
            arrived.await;
        }
    }
}

/// A provider routed by agent, that panics once an agent's script has no reply left.
pub fn script(entries: Vec<(&str, Reply)>) -> Arc<RoutedProvider> {
    Arc::new(RoutedProvider::new(entries))
}

/// The agent a system prompt names on its `Code Mesh agent:` line.
pub fn agent_of(system: &str) -> String {
    system
        .lines()
        .find_map(|line| line.strip_prefix("Code Mesh agent: "))
        .expect("the system prompt names no agent")
        .trim()
        .to_owned()
}

fn all_text(message: &Message) -> String {
    message
        .parts
        .iter()
        .filter_map(|part| match part {
            Part::Text { text } => Some(text.clone()),
            Part::ToolResult(result) => Some(result.output.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The request's newest message: the prompt or tool results, with any inbox notice.
pub fn newest(request: &ModelRequest) -> String {
    request.messages.last().map(all_text).unwrap_or_default()
}

fn into_stream(step: Step) -> ProviderStream {
    let events = futures::stream::iter(step.events);
    if step.hang {
        events.chain(futures::stream::pending()).boxed()
    } else {
        events.boxed()
    }
}

#[async_trait]
impl Provider for RoutedProvider {
    fn name(&self) -> &str {
        "routed"
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        let key = (self.key_of)(&request.system);
        let latest = newest(&request);
        self.requests.lock().unwrap().push((key.clone(), request));
        self.arrived.notify_waiters();
        let reply = self
            .scripts
            .lock()
            .unwrap()
            .get_mut(&key)
            .and_then(|replies| {
                let at = replies
                    .iter()
                    .position(|reply| reply.on.is_none_or(|on| latest.contains(on)))?;
                replies.remove(at)
            });
        let Some(reply) = reply else {
            let message = format!("the script has no reply left for `{key}`");
            return match self.out_of_script {
                OutOfScript::Panic => panic!("{message}"),
                OutOfScript::Fail => Err(ProviderError::new(
                    ProviderErrorKind::BadRequest,
                    "routed",
                    message,
                )),
                OutOfScript::NothingToAdd => Ok(into_stream(step(vec![
                    text(&format!("{key}: nothing to add")),
                    finish(),
                ]))),
            };
        };
        if let Some(gate) = &reply.gate {
            self.wait_until(|provider| gate(provider)).await;
        }
        reply.outcome.map(into_stream)
    }
}

pub fn profile(name: &str, tools: Option<&[&str]>, max_turns: Option<u32>) -> AgentProfile {
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

/// A timer the test fires by hand, one length of sleep at a time: no test waits on the clock.
pub struct ManualTimer(watch::Sender<Vec<Duration>>);

impl ManualTimer {
    pub fn new() -> Arc<Self> {
        Arc::new(ManualTimer(watch::channel(Vec::new()).0))
    }

    /// Ends every sleep of `duration`, now and later.
    pub fn fire(&self, duration: Duration) {
        self.0.send_modify(|fired| fired.push(duration));
    }
}

impl Timer for ManualTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let mut fired = self.0.subscribe();
        Box::pin(async move {
            let _ = fired.wait_for(|fired| fired.contains(&duration)).await;
        })
    }
}

/// The agents' timeout in [`settings`].
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(300);

pub fn settings(
    profiles: Vec<AgentProfile>,
    max_count: usize,
    timer: Arc<ManualTimer>,
) -> OrchestraSettings {
    OrchestraSettings {
        profiles,
        max_count,
        timeout: AGENT_TIMEOUT,
        max_tasks: 50,
        timer,
        models: None,
    }
}

/// A running run: its session, its store and its driver's task.
pub struct Run {
    pub handle: SessionHandle,
    pub store: Arc<dyn Store>,
    driver: tokio::task::JoinHandle<()>,
}

impl Run {
    /// Runs the driver of a run opened on `store`.
    pub fn spawn(store: Arc<dyn Store>, (handle, driver): (SessionHandle, OrchestraDriver)) -> Run {
        Run {
            handle,
            store,
            driver: tokio::spawn(driver.run()),
        }
    }

    /// Events until `stop` says yes, bounded so a bug fails instead of hangs.
    pub async fn until(&mut self, stop: impl FnMut(&Event) -> bool) -> Vec<Event> {
        collect_until(&mut self.handle, stop).await
    }

    /// Submits a user turn; its events until it finishes.
    pub async fn turn(&mut self, text: &str) -> Vec<Event> {
        self.handle
            .submit(Op::UserTurn { text: text.into() })
            .unwrap();
        self.until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
            .await
    }

    /// Shuts the run down and checks every session of it replays to what was stored; the
    /// events that came after the last read.
    pub async fn finish(self) -> Vec<Event> {
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

    /// How each child session's last turn ended, by agent profile.
    pub async fn child_ends(&self) -> Vec<(String, Option<TurnEndReason>)> {
        child_ends(&self.store, self.handle.id()).await
    }
}

/// How each child session of `run` ended its last turn, by agent profile.
pub async fn child_ends(
    store: &Arc<dyn Store>,
    run: &SessionId,
) -> Vec<(String, Option<TurnEndReason>)> {
    let mut ends = Vec::new();
    for child in store.child_sessions(run).await.unwrap() {
        let end = store
            .events(&child.id)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .find_map(|e| match e.kind {
                EventKind::TurnFinished { reason, .. } => Some(reason),
                _ => None,
            });
        ends.push((child.agent.unwrap_or_default(), end));
    }
    ends.sort_by(|a, b| a.0.cmp(&b.0));
    ends
}

pub async fn assert_replays(store: &Arc<dyn Store>, id: &SessionId) {
    let events = store.events(id).await.unwrap();
    let info = store.session(id).await.unwrap().unwrap();
    let messages = store.messages(id).await.unwrap();
    let context = store.context_state(id).await.unwrap();
    let differences = SessionState::replay(&events).differences(&info, &messages, &context);
    assert!(differences.is_empty(), "{id}: {differences:?}");
}

/// How the (last) turn in `events` ended.
pub fn turn_end(events: &[Event]) -> Option<TurnEndReason> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::TurnFinished { reason, .. } => Some(*reason),
        _ => None,
    })
}

pub fn warnings(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Warning { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// Every tool result the request carries, one after another.
pub fn tool_results(request: &ModelRequest) -> String {
    request
        .messages
        .iter()
        .flat_map(|m| m.tool_results())
        .map(|r| r.output.clone())
        .collect::<Vec<_>>()
        .join("\n")
}
