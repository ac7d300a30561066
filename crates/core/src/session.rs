//! A session: its handle (ops in, events out) and its driver (the loop that runs turns).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use code_mesh_protocol::{
    ContextState, ErrorCode, Event, EventKind, Op, PermissionDecision, SessionId, SessionInfo,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::events::EventSink;
use crate::turn::{StrategyTurn, TurnRunner};
use crate::{
    ContextSettings, EngineError, InstructionFile, MemoryBank, NewSession, PermissionSettings,
    PromptMemory, Provider, SandboxPolicy, Store, ToolLimits, ToolRegistry, TurnHooks,
};

/// Everything a session runs with.
#[derive(Clone)]
pub struct SessionConfig {
    pub provider: Arc<dyn Provider>,
    /// `provider/model`, as shown and stored.
    pub model: String,
    /// The model's name as the provider knows it.
    pub provider_model: String,
    /// The workspace root (canonical); tools stay inside it.
    pub workspace: PathBuf,
    /// The working directory (canonical).
    pub cwd: PathBuf,
    /// Directories outside the workspace the file tools may reach (canonical).
    pub allowed_paths: Vec<PathBuf>,
    /// Model requests allowed per user turn.
    pub max_turns: u32,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Approve what the policy would ask about (`--yes`).
    pub auto_approve: bool,
    pub limits: ToolLimits,
    /// The base system prompt (see [`crate::base_system_prompt`]).
    pub system_prompt: String,
    /// Project instructions, outermost first.
    pub instructions: Vec<InstructionFile>,
    /// How commands run by tools are confined.
    pub sandbox: SandboxPolicy,
    /// Work done around each turn (snapshots, change checks).
    pub hooks: Vec<Arc<dyn TurnHooks>>,
    /// Permission rules and the places they protect (see [`crate::PermissionPolicy`]).
    pub permissions: PermissionSettings,
    /// Long-lived memory: the session's system prompt gets the user's preferences, this
    /// repository's facts and lessons and this agent's notes from it (bounded, see
    /// [`crate::memory_section`]). `None` leaves memory out.
    pub memory: Option<Arc<dyn MemoryBank>>,
    /// The agent type running the session ("coder", "tester", …), whose agent memory it reads.
    pub agent: String,
    /// The context window and how to keep requests inside it (see [`ContextSettings`]).
    pub context: ContextSettings,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("model", &self.model)
            .field("workspace", &self.workspace)
            .field("cwd", &self.cwd)
            .field("max_turns", &self.max_turns)
            .field("auto_approve", &self.auto_approve)
            .finish_non_exhaustive()
    }
}

/// Whether to start afresh or continue a stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionStart {
    New,
    Resume(SessionId),
    /// A new session of a sub-agent: linked to its parent's session and named after the
    /// agent's profile (`sessions list` shows the tree).
    Child {
        parent: SessionId,
        agent: String,
    },
}

/// Opens sessions.
#[derive(Debug)]
pub struct Session;

impl Session {
    /// Creates or loads the session and reports `session_started`. Run the returned driver in
    /// a task of its own; talk to it through the handle.
    pub async fn open(
        store: Arc<dyn Store>,
        tools: ToolRegistry,
        config: SessionConfig,
        start: SessionStart,
    ) -> Result<(SessionHandle, SessionDriver), EngineError> {
        Self::open_with(store, tools, config, start, None).await
    }

    /// [`Session::open`] for a run whose turns a strategy carries out (see
    /// [`crate::orchestra`]): the session records the user's words, the strategy's events and
    /// its answer; its own model loop is not used.
    pub(crate) async fn open_with(
        store: Arc<dyn Store>,
        tools: ToolRegistry,
        config: SessionConfig,
        start: SessionStart,
        strategy: Option<Arc<dyn StrategyTurn>>,
    ) -> Result<(SessionHandle, SessionDriver), EngineError> {
        let resumed = matches!(start, SessionStart::Resume(_));
        let (info, context) = match start {
            SessionStart::New | SessionStart::Child { .. } => {
                let (parent_id, agent) = match start {
                    SessionStart::Child { parent, agent } => (Some(parent), Some(agent)),
                    _ => (None, None),
                };
                let info = store
                    .create_session(NewSession {
                        cwd: config.cwd.display().to_string(),
                        workspace: config.workspace.display().to_string(),
                        model: config.model.clone(),
                        parent_id,
                        agent,
                    })
                    .await?;
                (info, ContextState::default())
            }
            SessionStart::Resume(id) => {
                let info = store
                    .session(&id)
                    .await?
                    .ok_or_else(|| EngineError::SessionNotFound(id.clone()))?;
                // The same view as before: what earlier compactions pruned and summarised. The
                // messages themselves are read when the conversation goes on (see
                // `TurnRunner::history_ready`).
                let context = store.context_state(&id).await?;
                (info, context)
            }
        };
        let SessionInfo {
            id,
            last_event_seq,
            usage,
            ..
        } = info;
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (op_tx, op_rx) = mpsc::unbounded_channel();
        let history_store = resumed.then(|| store.clone());
        let sink = Arc::new(EventSink::new(
            id.clone(),
            store,
            event_tx,
            last_event_seq,
            usage,
        ));
        sink.emit(EventKind::SessionStarted {
            cwd: config.cwd.display().to_string(),
            workspace: config.workspace.display().to_string(),
            model: config.model.clone(),
            resumed,
        })
        .await?;
        let memory = match &config.memory {
            Some(bank) => {
                let workspace = config.workspace.display().to_string();
                match PromptMemory::recall(bank.as_ref(), &workspace, &config.agent).await {
                    Ok(memory) => crate::memory_section(&memory, &config.agent, crate::now_ms()),
                    Err(err) => {
                        sink.emit(EventKind::Warning {
                            message: format!(
                                "memory from earlier sessions is left out of this one: {err}"
                            ),
                        })
                        .await?;
                        String::new()
                    }
                }
            }
            None => String::new(),
        };
        // A new session starts empty; a resumed one's messages are read on its next turn.
        let mut runner = TurnRunner::new(sink.clone(), tools, config);
        runner.add_to_system_prompt(&memory);
        runner.restore_context(context);
        if let Some(store) = history_store {
            runner.read_history_later(store);
        }
        let id_for_bus = id.clone();
        let handle = SessionHandle {
            id,
            ops: OpSender(op_tx),
            events: event_rx,
            bus: EventBus {
                session_id: id_for_bus,
                sender: sink.bus(),
            },
            sink: Arc::downgrade(&sink),
            children: ChildBuses::default(),
            pending: runner.pending.clone(),
        };
        Ok((
            handle,
            SessionDriver {
                ops: op_rx,
                runner,
                strategy,
            },
        ))
    }
}

/// A front end's side of a session.
#[derive(Debug)]
pub struct SessionHandle {
    id: SessionId,
    ops: OpSender,
    events: mpsc::UnboundedReceiver<Event>,
    bus: EventBus,
    /// The driver's sink, for engine parts that report into the session (the orchestrator).
    /// Weak, so the handle never keeps its own event channel open: `next_event` returns
    /// `None` once the driver has stopped.
    sink: std::sync::Weak<EventSink>,
    /// The live buses of the session's running child sessions (an orchestrated run's agents).
    children: ChildBuses,
    /// The session's permission requests waiting for an answer, where an orchestrated run
    /// also puts the questions of its agents that it asks its front end.
    pending: PendingPermissions,
}

/// The session's live event bus: any number of extra watchers (the terminal UI's panes, the
/// HTTP server's SSE clients) subscribe and receive the same events, in the same order, as
/// the handle and the store. Cloneable and independent of the handle's lifetime.
#[derive(Clone)]
pub struct EventBus {
    session_id: SessionId,
    sender: crate::events::LiveBus,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EventBus").field(&self.session_id).finish()
    }
}

impl EventBus {
    /// Every event emitted from now on. A subscriber that falls more than
    /// [`crate::EVENT_BUS_CAPACITY`] events behind receives `Lagged(n)` and can read the
    /// persistent events it missed from the store (`Store::events`, by `seq`).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

/// The live buses of a session's child sessions, by session id, so a watcher of the run can
/// follow one agent's conversation as it happens. An orchestrated run registers each agent's
/// bus when the agent starts; the [`ChildBusRegistration`] removes it when the agent ends.
/// Holding a bus subscribes nothing: a child's broadcast channel is made on its first watcher.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChildBuses(Arc<Mutex<HashMap<SessionId, EventBus>>>);

impl ChildBuses {
    /// Registers a child session's bus until the returned registration is dropped.
    pub(crate) fn register(&self, bus: EventBus) -> ChildBusRegistration {
        let session_id = bus.session_id.clone();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session_id.clone(), bus);
        ChildBusRegistration {
            buses: self.clone(),
            session_id,
        }
    }

    fn get(&self, id: &SessionId) -> Option<EventBus> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}

/// A child session's place in its parent's [`ChildBuses`]; dropping it removes the bus.
pub(crate) struct ChildBusRegistration {
    buses: ChildBuses,
    session_id: SessionId,
}

impl Drop for ChildBusRegistration {
    fn drop(&mut self) {
        self.buses
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.session_id);
    }
}

impl SessionHandle {
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The live bus of `session`: this session's own, or that of a child session (an agent of
    /// this orchestrated run) while it runs. `None` for any other session and for an agent
    /// that has ended: its events are all in the store (`Store::events`). Subscribe first,
    /// then read the stored events, and drop live events whose `seq` was already read.
    pub fn watch_session(&self, session: &SessionId) -> Option<EventBus> {
        if session == &self.id {
            return Some(self.bus());
        }
        self.children.get(session)
    }

    /// The session's waiting permission requests (an orchestrated run adds its agents').
    pub(crate) fn pending_permissions(&self) -> PendingPermissions {
        self.pending.clone()
    }

    /// Where an orchestrated run registers its agents' buses (see [`ChildBuses`]).
    pub(crate) fn child_buses(&self) -> ChildBuses {
        self.children.clone()
    }

    pub fn submit(&self, op: Op) -> Result<(), EngineError> {
        self.ops.submit(op)
    }

    /// The live event bus, for watchers besides this handle.
    pub fn bus(&self) -> EventBus {
        self.bus.clone()
    }

    /// The session's sink while its driver lives.
    pub(crate) fn sink(&self) -> Option<Arc<EventSink>> {
        self.sink.upgrade()
    }

    /// A cloneable sender, e.g. for a Ctrl-C handler.
    pub fn op_sender(&self) -> OpSender {
        self.ops.clone()
    }

    /// The next event; `None` once the driver has stopped and every event was read.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

/// Submits ops to a session.
#[derive(Clone, Debug)]
pub struct OpSender(mpsc::UnboundedSender<Op>);

impl OpSender {
    pub fn submit(&self, op: Op) -> Result<(), EngineError> {
        self.0.send(op).map_err(|_| EngineError::Closed)
    }
}

/// The session's loop; `run` it in its own task.
pub struct SessionDriver {
    ops: mpsc::UnboundedReceiver<Op>,
    runner: TurnRunner,
    /// Carries out user turns instead of the model loop (orchestrated runs).
    strategy: Option<Arc<dyn StrategyTurn>>,
}

impl std::fmt::Debug for SessionDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionDriver").finish_non_exhaustive()
    }
}

impl SessionDriver {
    /// Handles ops until `Shutdown` or until every handle is gone.
    pub async fn run(self) {
        let SessionDriver {
            mut ops,
            mut runner,
            strategy,
        } = self;
        while let Some(op) = ops.recv().await {
            match op {
                Op::UserTurn { text } => {
                    if runner.history_ready().await
                        && run_turn(&mut ops, &mut runner, text, strategy.as_deref()).await
                    {
                        break;
                    }
                }
                Op::Cancel => {}
                Op::Compact => {
                    if runner.history_ready().await {
                        runner.compact_on_request().await;
                    }
                }
                Op::PermissionReply { request_id, .. } => {
                    runner
                        .warn(format!("no permission request `{request_id}` is pending"))
                        .await;
                }
                Op::Shutdown => break,
            }
        }
    }
}

/// Runs one turn while still answering ops. Returns true when the session should end.
async fn run_turn(
    ops: &mut mpsc::UnboundedReceiver<Op>,
    runner: &mut TurnRunner,
    text: String,
    strategy: Option<&dyn StrategyTurn>,
) -> bool {
    let cancel = CancellationToken::new();
    let pending = runner.pending.clone();
    let sink = runner.sink.clone();
    let turn: futures::future::BoxFuture<'_, ()> = match strategy {
        Some(strategy) => Box::pin(runner.run_strategy_turn(text, cancel.clone(), strategy)),
        None => Box::pin(runner.run_turn(text, cancel.clone())),
    };
    tokio::pin!(turn);
    let mut shutdown = false;
    let mut ops_open = true;
    loop {
        tokio::select! {
            () = &mut turn => return shutdown,
            op = ops.recv(), if ops_open => match op {
                Some(Op::Cancel) => cancel.cancel(),
                Some(Op::Shutdown) => {
                    shutdown = true;
                    cancel.cancel();
                }
                None => {
                    ops_open = false;
                    shutdown = true;
                    cancel.cancel();
                }
                Some(Op::PermissionReply { request_id, decision }) => {
                    if !pending.resolve(&request_id, decision) {
                        let _ = sink
                            .emit(EventKind::Warning {
                                message: format!("no permission request `{request_id}` is pending"),
                            })
                            .await;
                    }
                }
                Some(Op::UserTurn { .. } | Op::Compact) => {
                    let _ = sink
                        .emit(EventKind::Error {
                            code: ErrorCode::Busy,
                            message: "a turn is already running".into(),
                            hint: Some("wait for it to finish, or cancel it first".into()),
                        })
                        .await;
                }
            },
        }
    }
}

/// Permission requests waiting for an answer, by request id.
#[derive(Clone, Default)]
pub(crate) struct PendingPermissions(
    Arc<Mutex<HashMap<String, oneshot::Sender<PermissionDecision>>>>,
);

impl std::fmt::Debug for PendingPermissions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("PendingPermissions")
            .field("waiting", &waiting)
            .finish()
    }
}

impl PendingPermissions {
    pub(crate) fn insert(&self, request_id: &str) -> oneshot::Receiver<PermissionDecision> {
        let (tx, rx) = oneshot::channel();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(request_id.to_owned(), tx);
        rx
    }

    pub(crate) fn remove(&self, request_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(request_id);
    }

    /// Delivers an answer; false when no such request is waiting.
    pub(crate) fn resolve(&self, request_id: &str, decision: PermissionDecision) -> bool {
        let sender = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(request_id);
        match sender {
            Some(sender) => sender.send(decision).is_ok(),
            None => false,
        }
    }
}
