//! Orchestration: agents working together on one run.
//!
//! A run's [`TaskGraph`] holds tasks and their dependencies. The scheduler starts ready tasks
//! up to `[agents] max_count` at once, each as a real agent: a child session of the run's
//! session (its own history, tools, model and usage), asked one user turn with the task and
//! its dependencies' results. Every step is an event in the run's session: `agent_spawned`,
//! `task_created`, `task_started`, `task_completed` / `task_failed`, `agent_terminated`, and
//! each agent's `usage_updated` added to the run's total.
//!
//! Strategies on top of it: [`Hierarchical`] (a Coordinator plans and hands tasks out through
//! the `delegate` tool), [`Pipeline`] (stages hand off in order and may send the work back),
//! [`MeshRun`] (agents talk directly over a `MeshBus` until the lead declares the run done)
//! and [`Swarm`] (candidates in git worktrees, judged by tests and reviewers' votes). The
//! last three carry out the run session's turns themselves (`open_strategy_run`).

mod agent;
mod delegate;
mod graph;
mod hierarchical;
mod mesh_run;
mod pipeline;
mod scheduler;
mod swarm;
mod tree;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_protocol::{
    AgentId, AgentProfile, EventKind, PermissionDecision, SessionId, ToolKind,
};
use futures::future::BoxFuture;

use crate::events::EventSink;
use crate::session::{ChildBusRegistration, ChildBuses};
use crate::{ContextSettings, EngineError, Provider, SessionConfig, Store, ToolRegistry};

pub use delegate::DELEGATE_TOOL_NAME;
pub use graph::{GraphError, NewTask, TaskGraph};
pub use hierarchical::Hierarchical;
pub use mesh_run::{LEAD_FINISH_TOOL_NAME, MeshRun, MeshSettings};
pub use pipeline::{Pipeline, PipelineSettings, SEND_BACK_TOOL_NAME};
pub use swarm::{
    ReproductionFiles, Swarm, SwarmCheckouts, SwarmEvaluation, SwarmPlace, SwarmSettings,
    SwarmStepError, SwarmWorkspace, VOTE_TOOL_NAME,
};
pub use tree::{AgentNode, RunTree, TaskNode};

/// Most tasks one run may create, so a Coordinator cannot delegate without end.
pub const DEFAULT_MAX_TASKS: usize = 50;

/// Waits for a while. `core` has no timer of its own (it builds for wasm32); the front end
/// gives one (tokio's natively), and tests give one they fire themselves.
pub trait Timer: Send + Sync {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The provider for an agent whose profile names its own model.
#[derive(Clone)]
pub struct AgentModel {
    pub provider: Arc<dyn Provider>,
    /// `provider/model`, as shown and stored.
    pub model: String,
    /// The model's name as the provider knows it.
    pub provider_model: String,
    /// The model's context window settings; `None` keeps the run's.
    pub context: Option<ContextSettings>,
}

/// Turns a profile's `provider/model` into a provider (the front end knows how).
#[async_trait]
pub trait ModelResolver: Send + Sync {
    /// The provider for `model`; an error says why it cannot be used and what to do.
    async fn resolve(&self, model: &str) -> Result<AgentModel, String>;
}

/// How a run's agents are set up and bounded.
#[derive(Clone)]
pub struct OrchestraSettings {
    /// The profiles agents may be started with, by name.
    pub profiles: Vec<AgentProfile>,
    /// Most agents running at once (`[agents] max_count`; at least 1).
    pub max_count: usize,
    /// Longest time one agent may work on a task (`[agents] timeout`).
    pub timeout: Duration,
    /// Most tasks in the run (see [`DEFAULT_MAX_TASKS`]).
    pub max_tasks: usize,
    pub timer: Arc<dyn Timer>,
    /// Resolves profiles' own models; `None` runs every agent on the run's model.
    pub models: Option<Arc<dyn ModelResolver>>,
}

impl std::fmt::Debug for OrchestraSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrchestraSettings")
            .field("profiles", &self.profiles.len())
            .field("max_count", &self.max_count)
            .field("timeout", &self.timeout)
            .field("max_tasks", &self.max_tasks)
            .finish_non_exhaustive()
    }
}

/// Why an orchestrated run could not start.
#[derive(Debug, thiserror::Error)]
pub enum OrchestraError {
    #[error("there is no `{0}` agent profile; this strategy needs one")]
    MissingProfile(String),
    #[error("the `{profile}` agent's model `{model}` cannot be used: {message}")]
    Model {
        profile: String,
        model: String,
        message: String,
    },
    /// The strategy's settings cannot make a run; `hint` says what to change.
    #[error("{message}")]
    Settings { message: String, hint: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl OrchestraError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            OrchestraError::MissingProfile(name) => Some(format!(
                "add `[agents.profiles.{name}]` with a `prompt`, or remove the override that hides the built-in one"
            )),
            OrchestraError::Model { profile, .. } => Some(format!(
                "set `[agents.profiles.{profile}] model` to a model `code-mesh models` lists, or remove it to use the run's model"
            )),
            OrchestraError::Settings { hint, .. } => Some(hint.clone()),
            OrchestraError::Engine(err) => err.hint(),
        }
    }
}

/// What every part of a run shares: the base setup agents are derived from, the graph, the
/// run session's sink.
pub(crate) struct Orchestra {
    pub(crate) store: Arc<dyn Store>,
    /// The run's own config; agents' configs are derived from it.
    pub(crate) base: SessionConfig,
    /// Every tool; each agent gets the ones its profile allows.
    pub(crate) tools: ToolRegistry,
    pub(crate) profiles: BTreeMap<String, AgentProfile>,
    pub(crate) settings: OrchestraSettings,
    pub(crate) graph: Mutex<TaskGraph>,
    /// The run's session, set once it is open, with where its agents' live buses go and its
    /// waiting permission requests (where agents' questions are put for the front end).
    run: OnceLock<RunSession>,
    /// The run's top agent (the hierarchical Coordinator), parent of every other agent; `None`
    /// when the run itself hands out the work (pipeline, mesh, swarm).
    pub(crate) top: Option<AgentId>,
    pub(crate) top_profile: String,
    next_agent: AtomicU64,
    /// What agents and the scheduler report into the run's session, in order; written by the
    /// emitter future that runs beside the scheduler (see [`Emission`]).
    emissions: tokio::sync::mpsc::UnboundedSender<Emission>,
    emission_queue: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Emission>>>,
}

/// Something to report into the run's session.
///
/// Agents run as futures polled by the scheduler. Writing into the run's session takes its
/// sink's lock across the store's write; if an agent held that lock while the scheduler, in
/// its own body, waited for it, nobody would poll the agent again: a deadlock (seen with two
/// agents at once). So nothing of the orchestra writes to the sink itself: it queues, and
/// one emitter writes in order. Replies to `delegate` go through the same queue, so the
/// Coordinator continues only after the events of the tasks it waited for are written.
/// An agent's permission question, as its own session asked it.
pub(crate) struct AgentQuestion {
    pub(crate) request_id: String,
    pub(crate) call_id: String,
    pub(crate) tool: String,
    pub(crate) kind: ToolKind,
    pub(crate) summary: String,
}

/// The run's session as the orchestra reaches it.
struct RunSession {
    id: SessionId,
    sink: Arc<EventSink>,
    children: ChildBuses,
    pending: crate::session::PendingPermissions,
}

pub(crate) enum Emission {
    Event(EventKind),
    Usage(code_mesh_protocol::Usage),
    Reply(tokio::sync::oneshot::Sender<()>),
}

impl Orchestra {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        base: SessionConfig,
        tools: ToolRegistry,
        settings: OrchestraSettings,
        top_profile: Option<&str>,
    ) -> Self {
        let profiles = settings
            .profiles
            .iter()
            .map(|profile| (profile.name.clone(), profile.clone()))
            .collect();
        let (emissions, queue) = tokio::sync::mpsc::unbounded_channel();
        Orchestra {
            emissions,
            emission_queue: std::sync::Mutex::new(Some(queue)),
            store,
            base,
            tools,
            profiles,
            graph: Mutex::new(TaskGraph::new(settings.max_tasks)),
            settings,
            run: OnceLock::new(),
            top: top_profile.map(|_| AgentId("agent_1".into())),
            top_profile: top_profile.unwrap_or_default().to_owned(),
            next_agent: AtomicU64::new(if top_profile.is_some() { 2 } else { 1 }),
        }
    }

    /// Ties the orchestra to the run's session, once it is open.
    pub(crate) fn attach(&self, handle: &crate::SessionHandle) -> Result<(), EngineError> {
        let sink = handle.sink().ok_or(EngineError::Closed)?;
        let _ = self.run.set(RunSession {
            id: handle.id().clone(),
            sink,
            children: handle.child_buses(),
            pending: handle.pending_permissions(),
        });
        Ok(())
    }

    /// Asks the run's front end an agent's permission question: the request is re-issued in
    /// the run's session as `permission_requested` with ids prefixed by the agent's
    /// (`agent_2.perm_1_1`, so they clash with no other call or request of the run), and its
    /// summary naming the agent. Returns the run's request id and where its answer arrives;
    /// `None` before the run's session is open.
    pub(crate) fn ask_for_agent(
        &self,
        agent: &AgentId,
        profile: &str,
        question: AgentQuestion,
    ) -> Option<(String, tokio::sync::oneshot::Receiver<PermissionDecision>)> {
        let run = self.run.get()?;
        let request_id = format!("{agent}.{}", question.request_id);
        let answer = run.pending.insert(&request_id);
        self.queue(Emission::Event(EventKind::PermissionRequested {
            request_id: request_id.clone(),
            call_id: format!("{agent}.{}", question.call_id),
            tool: question.tool,
            kind: question.kind,
            summary: format!("{agent} ({profile}): {}", question.summary),
        }));
        Some((request_id, answer))
    }

    /// Drops a question of the run's that the agent's session settled (an answer that comes
    /// later finds nothing waiting).
    pub(crate) fn forget_question(&self, request_id: &str) {
        if let Some(run) = self.run.get() {
            run.pending.remove(request_id);
        }
    }

    /// Takes back a question an agent no longer waits on (it stopped first), closing it in the
    /// run's session.
    pub(crate) fn withdraw_question(&self, agent: &AgentId, request_id: &str, call_id: &str) {
        self.forget_question(request_id);
        self.queue(Emission::Event(EventKind::PermissionDecided {
            request_id: request_id.to_owned(),
            call_id: format!("{agent}.{call_id}"),
            decision: PermissionDecision::Deny,
            source: code_mesh_protocol::PermissionSource::NoOneToAsk,
            rule: None,
            remembered: Vec::new(),
        }));
    }

    /// Lets watchers of the run's session follow an agent's session live, until the returned
    /// registration is dropped (see [`crate::SessionHandle::watch_session`]).
    pub(crate) fn watch_child(&self, bus: crate::EventBus) -> Option<ChildBusRegistration> {
        self.run.get().map(|run| run.children.register(bus))
    }

    /// The run's session id (empty before it is open, which no caller sees).
    pub(crate) fn run_session(&self) -> SessionId {
        self.run.get().map(|run| run.id.clone()).unwrap_or_default()
    }

    pub(crate) fn sink(&self) -> Option<&Arc<EventSink>> {
        self.run.get().map(|run| &run.sink)
    }

    /// Queues an event for the run's session (see [`Emission`]).
    pub(crate) async fn emit(&self, kind: EventKind) {
        self.queue(Emission::Event(kind));
    }

    /// Queues an agent's usage, to be added to the run's total.
    pub(crate) fn add_usage(&self, usage: code_mesh_protocol::Usage) {
        self.queue(Emission::Usage(usage));
    }

    pub(crate) fn queue(&self, emission: Emission) {
        // The receiver lives as long as the scheduler, which outlives every agent.
        let _ = self.emissions.send(emission);
    }

    /// Writes an event into the run's session now; only before the scheduler runs. A store
    /// failure is logged: the run goes on, and the event still reaches the front end.
    pub(crate) async fn emit_now(&self, kind: EventKind) {
        if let Some(sink) = self.sink()
            && let Err(err) = sink.emit(kind).await
        {
            tracing::warn!(%err, "an orchestration event was not stored");
        }
    }

    /// Waits until everything queued so far is written into the run's session: a strategy
    /// does this before it ends its turn, so `turn_finished` comes after its tasks' events.
    pub(crate) async fn flush(&self) {
        let (reply, written) = tokio::sync::oneshot::channel();
        self.queue(Emission::Reply(reply));
        let _ = written.await;
    }

    /// Writes queued emissions in order until `stop` fires, then writes what is left. Runs
    /// beside everything that queues (see [`Emission`]); at most once per run.
    pub(crate) async fn emitter(&self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let Some(mut queue) = self.take_emissions() else {
            tracing::warn!("a run's emitter was started twice");
            return;
        };
        loop {
            tokio::select! {
                biased;
                emission = queue.recv() => match emission {
                    Some(emission) => self.write(emission).await,
                    None => break,
                },
                _ = &mut stop => {
                    while let Ok(emission) = queue.try_recv() {
                        self.write(emission).await;
                    }
                    break;
                }
            }
        }
    }

    /// The queue's receiving end, for the emitter (once).
    pub(crate) fn take_emissions(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Emission>> {
        self.emission_queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Writes one queued emission.
    pub(crate) async fn write(&self, emission: Emission) {
        let Some(sink) = self.sink() else {
            if let Emission::Reply(reply) = emission {
                let _ = reply.send(());
            }
            return;
        };
        let written = match emission {
            Emission::Event(kind) => sink.emit(kind).await,
            Emission::Usage(usage) => sink.add_usage(usage).await,
            Emission::Reply(reply) => {
                let _ = reply.send(());
                Ok(())
            }
        };
        if let Err(err) = written {
            tracing::warn!(%err, "an orchestration event was not stored");
        }
    }

    pub(crate) fn next_agent_id(&self) -> AgentId {
        AgentId(format!(
            "agent_{}",
            self.next_agent.fetch_add(1, Ordering::Relaxed)
        ))
    }

    pub(crate) fn graph(&self) -> std::sync::MutexGuard<'_, TaskGraph> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session config of an agent running `profile`: the run's, with the profile's prompt
    /// section, model, temperature and turn limit. Agents get no turn hooks: the run's own
    /// turn (the Coordinator's) snapshots the workspace around all of their work.
    pub(crate) async fn agent_config(
        &self,
        profile: &AgentProfile,
        extras: &AgentExtras,
    ) -> Result<(SessionConfig, ToolRegistry), OrchestraError> {
        let mut config = self.base.clone();
        config.system_prompt = crate::agent_system_prompt(&self.base.system_prompt, profile);
        if let Some(section) = &extras.prompt {
            config.system_prompt.push_str("\n\n");
            config.system_prompt.push_str(section);
        }
        config.agent = profile.name.clone();
        config.hooks = extras.hooks.clone();
        if profile.temperature.is_some() {
            config.temperature = profile.temperature;
        }
        if extras.temperature.is_some() {
            config.temperature = extras.temperature;
        }
        if let Some(max_turns) = profile.max_turns {
            config.max_turns = max_turns;
        }
        if let Some(place) = &extras.workspace {
            config.workspace = place.workspace.clone();
            config.cwd = place.cwd.clone();
            config.sandbox = place.sandbox.clone();
        }
        let model = extras.model.as_deref().or(profile.model.as_deref());
        if let Some(model) = model.filter(|m| *m != self.base.model) {
            let resolved = match &self.settings.models {
                Some(models) => models.resolve(model).await,
                None => Err("this run cannot switch models".to_owned()),
            };
            let resolved = resolved.map_err(|message| OrchestraError::Model {
                profile: profile.name.clone(),
                model: model.to_owned(),
                message,
            })?;
            config.provider = resolved.provider;
            config.model = resolved.model;
            config.provider_model = resolved.provider_model;
            if let Some(context) = resolved.context {
                config.context = context;
            }
        }
        let mut tools = match &profile.tools {
            Some(names) => self.tools.only(names).0,
            None => self.tools.clone(),
        };
        for tool in &extras.tools {
            tools.register(tool.clone());
        }
        Ok((config, tools))
    }
}

/// What a strategy adds to, or changes in, one agent beyond its profile.
#[derive(Clone, Default)]
pub(crate) struct AgentExtras {
    /// The agent's id, when the strategy needs it before the agent starts (mesh tools are
    /// bound to it); otherwise the next free one.
    pub(crate) id: Option<AgentId>,
    /// Tools besides its profile's (mesh messaging, the pipeline's `send_back`).
    pub(crate) tools: Vec<Arc<dyn crate::Tool>>,
    /// Turn hooks of its session (the mesh inbox).
    pub(crate) hooks: Vec<Arc<dyn crate::TurnHooks>>,
    /// A section added to its system prompt.
    pub(crate) prompt: Option<String>,
    /// Overrides its profile's temperature (a swarm varies it).
    pub(crate) temperature: Option<f32>,
    /// Overrides its profile's model (a swarm varies it).
    pub(crate) model: Option<String>,
    /// Where it works instead of the run's workspace (a swarm candidate's worktree).
    pub(crate) workspace: Option<AgentWorkspace>,
}

/// A workspace of an agent's own.
#[derive(Clone, Debug)]
pub(crate) struct AgentWorkspace {
    pub(crate) workspace: std::path::PathBuf,
    pub(crate) cwd: std::path::PathBuf,
    pub(crate) sandbox: crate::SandboxPolicy,
}

/// An orchestrated run's loop: the run's session and what works beside it (the scheduler and
/// the emitter of the agents' events). `run` it in a task of its own; it ends when the
/// session has shut down and every agent has stopped.
pub struct OrchestraDriver {
    pub(crate) session: BoxFuture<'static, ()>,
    pub(crate) background: BoxFuture<'static, ()>,
}

impl std::fmt::Debug for OrchestraDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrchestraDriver").finish_non_exhaustive()
    }
}

impl OrchestraDriver {
    pub async fn run(self) {
        tokio::join!(self.session, self.background);
    }
}

/// Opens the run's session for a strategy that carries out its turns itself (pipeline, mesh,
/// swarm): `strategy` is made from the run's orchestra once the session is open.
pub(crate) async fn open_strategy_run(
    store: Arc<dyn Store>,
    tools: ToolRegistry,
    config: SessionConfig,
    start: crate::SessionStart,
    settings: OrchestraSettings,
    strategy: impl FnOnce(Arc<Orchestra>) -> Arc<dyn crate::turn::StrategyTurn>,
) -> Result<(crate::SessionHandle, OrchestraDriver), OrchestraError> {
    let orchestra = Arc::new(Orchestra::new(
        store.clone(),
        config.clone(),
        tools,
        settings,
        None,
    ));
    let turn = strategy(orchestra.clone());
    let (handle, session) =
        crate::Session::open_with(store, ToolRegistry::default(), config, start, Some(turn))
            .await?;
    orchestra.attach(&handle)?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    // The session's end stops the emitter once it has written what is left; the strategy
    // flushes it before each turn ends.
    let session_then_stop = async move {
        session.run().await;
        let _ = stop.send(());
    };
    let background = Box::pin(async move { orchestra.emitter(stopped).await });
    Ok((
        handle,
        OrchestraDriver {
            session: Box::pin(session_then_stop),
            background,
        },
    ))
}

/// "300s", "1.5s", "250ms": a duration as a person writes it.
pub(crate) fn describe_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1}s", duration.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}
