//! The sessions the server drives, and the fan-out of their events to streams.
//!
//! Each session the API touches gets one [`SessionSlot`]: a broadcast channel of events already
//! serialised once (200 SSE clients cost one `serde_json` call an event, not 200), the engine
//! link once a prompt or an Op needs the engine, and what the API reports about it (a turn
//! running, permission requests waiting). One pump task per open session reads the handle's
//! events in order, updates that state and broadcasts each event to the session's streams and
//! to the global stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use code_mesh_core::{EventBus, OpSender, SessionHandle};
use code_mesh_protocol::config::Strategy;
use code_mesh_protocol::{Event, EventKind, Op, PermissionDecision, SessionId};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::ApiError;
use crate::host::{OpenRequest, SessionHost};

/// How many events a slow stream may fall behind before it has to catch up from the store.
pub const STREAM_BUFFER: usize = 4096;

/// One event, serialised once for every stream.
#[derive(Debug)]
pub struct Frame {
    pub seq: u64,
    pub session_id: SessionId,
    pub json: Arc<str>,
}

/// The registry of sessions the server has touched.
pub struct LiveSessions {
    host: Arc<dyn SessionHost>,
    slots: Mutex<HashMap<SessionId, Arc<SessionSlot>>>,
    /// The strategy each session was created with: the store does not keep it, and a session
    /// resumed after its engine stopped must go on as it started.
    strategies: Mutex<HashMap<SessionId, Strategy>>,
    /// Numbers engines, so a finished pump clears only its own engine from a slot.
    generations: AtomicU64,
    global: broadcast::Sender<Arc<Frame>>,
}

/// One session's streams and engine link.
pub struct SessionSlot {
    pub id: SessionId,
    frames: broadcast::Sender<Arc<Frame>>,
    state: Mutex<SlotState>,
    /// Held while the engine opens or stops, so a session never has two engines (a resume
    /// waits for the old driver to end), and the slot is never dropped meanwhile.
    lifecycle: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct SlotState {
    engine: Option<EngineLink>,
    /// A turn (or a compaction) was submitted and has not finished.
    running: bool,
    /// The running work is a turn that has started (a compaction has no `turn_started`).
    turn_started: bool,
    /// `permission_requested` events not yet decided.
    pending: Vec<Event>,
    /// When the session last did or was asked anything, for closing idle engines.
    last_active: Option<Instant>,
}

struct EngineLink {
    ops: OpSender,
    driver: tokio::task::JoinHandle<()>,
    generation: u64,
    /// Asks the pump, which owns the handle, for a running agent's live bus.
    agent_buses: mpsc::UnboundedSender<AgentBusRequest>,
}

/// A request for the live bus of `agent`, an agent of the run the pump drives.
struct AgentBusRequest {
    agent: SessionId,
    reply: oneshot::Sender<Option<EventBus>>,
}

/// What the API reports about a session's engine.
#[derive(Clone, Debug, Default)]
pub struct SlotStatus {
    pub live: bool,
    pub running: bool,
    pub pending: Vec<Event>,
}

impl LiveSessions {
    pub fn new(host: Arc<dyn SessionHost>) -> Self {
        Self {
            host,
            slots: Mutex::new(HashMap::new()),
            strategies: Mutex::new(HashMap::new()),
            generations: AtomicU64::new(0),
            global: broadcast::channel(STREAM_BUFFER).0,
        }
    }

    pub fn host(&self) -> &Arc<dyn SessionHost> {
        &self.host
    }

    /// Every live session's events, for the global stream.
    pub fn subscribe_all(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.global.subscribe()
    }

    /// Session `id`'s live events from now on. The slot is made when missing (a stream may watch
    /// a session before its engine opens) and subscribed under the registry's lock, so it cannot
    /// be released in between.
    pub fn subscribe(&self, id: &SessionId) -> broadcast::Receiver<Arc<Frame>> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Self::slot_in(slots, id).frames.subscribe()
    }

    fn slot(&self, id: &SessionId) -> Arc<SessionSlot> {
        Self::slot_in(
            self.slots.lock().unwrap_or_else(PoisonError::into_inner),
            id,
        )
    }

    fn slot_in(
        mut slots: std::sync::MutexGuard<'_, HashMap<SessionId, Arc<SessionSlot>>>,
        id: &SessionId,
    ) -> Arc<SessionSlot> {
        slots
            .entry(id.clone())
            .or_insert_with(|| {
                Arc::new(SessionSlot {
                    id: id.clone(),
                    frames: broadcast::channel(STREAM_BUFFER).0,
                    state: Mutex::new(SlotState::default()),
                    lifecycle: Arc::new(tokio::sync::Mutex::new(())),
                })
            })
            .clone()
    }

    /// The slot of `id` if the server has one.
    pub fn existing(&self, id: &SessionId) -> Option<Arc<SessionSlot>> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Opens a new session and starts pumping its events.
    pub async fn open_new(
        self: &Arc<Self>,
        request: OpenRequest,
    ) -> Result<Arc<SessionSlot>, ApiError> {
        let strategy = request.strategy;
        let opened = self.host.open(request).await?;
        let id = opened.handle.id().clone();
        if let Some(strategy) = strategy {
            self.strategies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id.clone(), strategy);
        }
        let (slot, _lifecycle) = self.locked_slot(&id).await;
        self.attach(&slot, opened.handle, opened.driver);
        Ok(slot)
    }

    /// The slot of `id` with its lifecycle lock held. A slot released between being found and
    /// being locked is not the registry's any more, so the search starts again.
    async fn locked_slot(
        &self,
        id: &SessionId,
    ) -> (Arc<SessionSlot>, tokio::sync::OwnedMutexGuard<()>) {
        loop {
            let slot = self.slot(id);
            let guard = slot.lifecycle.clone().lock_owned().await;
            if self
                .existing(id)
                .is_some_and(|current| Arc::ptr_eq(&current, &slot))
            {
                return (slot, guard);
            }
        }
    }

    /// The slot of stored session `id` with its engine running, resuming it when needed.
    pub async fn ensure_open(
        self: &Arc<Self>,
        id: &SessionId,
    ) -> Result<Arc<SessionSlot>, ApiError> {
        if let Some(slot) = self.existing(id).filter(|slot| slot.is_open()) {
            return Ok(slot);
        }
        let (slot, lifecycle) = self.locked_slot(id).await;
        if slot.is_open() {
            return Ok(slot);
        }
        let strategy = self
            .strategies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .copied();
        let opened = self
            .host
            .open(OpenRequest {
                resume: Some(id.clone()),
                model: None,
                strategy,
            })
            .await;
        match opened {
            Ok(opened) => {
                self.attach(&slot, opened.handle, opened.driver);
                Ok(slot)
            }
            Err(err) => {
                drop(lifecycle);
                self.release_if_idle(id);
                Err(err.into())
            }
        }
    }

    /// Links an opened engine to `slot` (whose lifecycle lock the caller holds) and starts its
    /// pump.
    fn attach(
        self: &Arc<Self>,
        slot: &Arc<SessionSlot>,
        handle: SessionHandle,
        driver: tokio::task::JoinHandle<()>,
    ) {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let (agent_buses, requests) = mpsc::unbounded_channel();
        slot.lock().engine = Some(EngineLink {
            ops: handle.op_sender(),
            driver,
            generation,
            agent_buses,
        });
        tokio::spawn(pump(
            self.clone(),
            slot.clone(),
            handle,
            requests,
            generation,
        ));
    }

    /// The live events of `agent`, an agent working in `run`'s engine now; `None` when the run
    /// has no engine here or the agent is not working.
    pub async fn watch_agent(
        &self,
        run: &SessionId,
        agent: &SessionId,
    ) -> Option<broadcast::Receiver<Event>> {
        let slot = self.existing(run)?;
        let requests = slot.lock().engine.as_ref()?.agent_buses.clone();
        let (reply, answer) = oneshot::channel();
        requests
            .send(AgentBusRequest {
                agent: agent.clone(),
                reply,
            })
            .ok()?;
        answer.await.ok()?.map(|bus| bus.subscribe())
    }

    /// Stops session `id`'s engine (if it runs) and forgets its slot; streams on it end.
    pub async fn close(&self, id: &SessionId) {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        if let Some(slot) = slot {
            slot.stop().await;
        }
        self.strategies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Stops every engine, for a server shutting down.
    pub async fn close_all(&self) {
        let slots: Vec<_> = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        futures::future::join_all(slots.iter().map(|slot| slot.stop())).await;
    }

    /// Stops the engines of sessions that have done nothing for `idle_for`: no turn running, no
    /// question waiting, nobody watching. Their history stays in the store, and the next prompt
    /// resumes them; until then they hold no memory. Returns how many were stopped.
    pub async fn close_idle(&self, idle_for: Duration) -> usize {
        let candidates: Vec<Arc<SessionSlot>> = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|slot| slot.is_idle(idle_for))
            .cloned()
            .collect();
        let mut stopped = 0;
        for slot in &candidates {
            // Checked again as the engine is taken: a prompt may have arrived meanwhile.
            if slot.stop_if_idle(idle_for).await {
                stopped += 1;
                self.release_if_idle(&slot.id);
            }
        }
        stopped
    }

    /// Drops the slot of a session no one watches and no engine drives.
    pub fn release_if_idle(&self, id: &SessionId) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(id)
            && slot.frames.receiver_count() == 0
            && !slot.is_open()
            && slot.lifecycle.try_lock().is_ok()
        {
            slots.remove(id);
        }
    }
}

impl SessionSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_idle(&self, idle_for: Duration) -> bool {
        Self::idle(&self.lock(), &self.frames, idle_for)
    }

    fn idle(state: &SlotState, frames: &broadcast::Sender<Arc<Frame>>, idle_for: Duration) -> bool {
        state.engine.is_some()
            && !state.running
            && state.pending.is_empty()
            && frames.receiver_count() == 0
            && state.last_active.is_none_or(|at| at.elapsed() >= idle_for)
    }

    pub fn is_open(&self) -> bool {
        self.lock().engine.is_some()
    }

    pub fn status(&self) -> SlotStatus {
        let state = self.lock();
        SlotStatus {
            live: state.engine.is_some(),
            running: state.running,
            pending: state.pending.clone(),
        }
    }

    /// Starts a turn (or a compaction); refused while one runs.
    pub fn start_turn(&self, op: Op) -> Result<(), ApiError> {
        let mut state = self.lock();
        if state.running {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                crate::error::ProblemCode::TurnRunning,
                format!("session `{}` is already running a turn", self.id),
            )
            .with_hint(
                "wait for its turn_finished event, or abort it with POST /api/sessions/{id}/abort",
            ));
        }
        let ops = state.engine.as_ref().map(|engine| engine.ops.clone());
        let ops = ops.ok_or_else(|| self.closed())?;
        ops.submit(op).map_err(|_| self.closed())?;
        state.running = true;
        state.turn_started = false;
        state.last_active = Some(Instant::now());
        Ok(())
    }

    /// Cancels the running turn, if any.
    pub fn abort(&self) -> Result<(), ApiError> {
        self.submit(Op::Cancel)
    }

    /// Answers a waiting permission request.
    pub fn answer(&self, request_id: &str, decision: PermissionDecision) -> Result<(), ApiError> {
        // Taken off the waiting list as it is answered, so a second answer is refused.
        let answered = {
            let mut state = self.lock();
            let before = state.pending.len();
            state.pending.retain(|event| {
                !matches!(&event.kind, EventKind::PermissionRequested { request_id: id, .. } if id == request_id)
            });
            state.pending.len() < before
        };
        if !answered {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                crate::error::ProblemCode::PermissionRequestNotFound,
                format!(
                    "session `{}` has no permission request `{request_id}` waiting for an answer",
                    self.id
                ),
            )
            .with_hint(
                "GET /api/sessions/{id} lists the requests still waiting (pending_permissions)",
            ));
        }
        self.submit(Op::PermissionReply {
            request_id: request_id.to_owned(),
            decision,
        })
    }

    fn submit(&self, op: Op) -> Result<(), ApiError> {
        let ops = self.lock().engine.as_ref().map(|engine| engine.ops.clone());
        let ops = ops.ok_or_else(|| self.closed())?;
        ops.submit(op).map_err(|_| self.closed())
    }

    fn closed(&self) -> ApiError {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            crate::error::ProblemCode::SessionUnavailable,
            format!("session `{}` has no engine running", self.id),
        )
        .with_hint("post a prompt to open it again")
    }

    /// Stops the engine and waits for its driver to end.
    async fn stop(&self) {
        let _lifecycle = self.lifecycle.lock().await;
        let engine = self.lock().engine.take();
        Self::shut_down(engine).await;
    }

    /// Stops the engine if it is still idle; whether it did.
    async fn stop_if_idle(&self, idle_for: Duration) -> bool {
        let _lifecycle = self.lifecycle.lock().await;
        let engine = {
            let mut state = self.lock();
            if !Self::idle(&state, &self.frames, idle_for) {
                return false;
            }
            state.engine.take()
        };
        Self::shut_down(engine).await;
        true
    }

    async fn shut_down(engine: Option<EngineLink>) {
        if let Some(engine) = engine {
            let _ = engine.ops.submit(Op::Shutdown);
            let _ = engine.driver.await;
        }
    }

    /// Takes in one event of the session: the API's view of it, then the streams.
    fn record(&self, event: &Event) {
        let mut state = self.lock();
        state.last_active = Some(Instant::now());
        match &event.kind {
            EventKind::TurnStarted { .. } => {
                state.running = true;
                state.turn_started = true;
            }
            EventKind::TurnFinished { .. } => {
                state.running = false;
                state.turn_started = false;
                state.pending.clear();
            }
            EventKind::ContextCompacted { .. } | EventKind::Error { .. }
                if state.running && !state.turn_started =>
            {
                // A compaction, or an op the engine refused, ends without a `turn_finished`.
                state.running = false;
            }
            EventKind::Warning { message }
                if state.running
                    && !state.turn_started
                    && message.starts_with(code_mesh_core::NOTHING_TO_COMPACT) =>
            {
                state.running = false;
            }
            EventKind::PermissionRequested { .. } => state.pending.push(event.clone()),
            EventKind::PermissionDecided { request_id, .. } => state.pending.retain(|pending| {
                !matches!(&pending.kind, EventKind::PermissionRequested { request_id: id, .. } if id == request_id)
            }),
            _ => {}
        }
    }
}

/// Reads the session's events until its driver stops, keeping the slot's state and
/// broadcasting each event; then marks the slot closed (a later prompt resumes the session).
async fn pump(
    sessions: Arc<LiveSessions>,
    slot: Arc<SessionSlot>,
    mut handle: SessionHandle,
    mut agent_buses: mpsc::UnboundedReceiver<AgentBusRequest>,
    generation: u64,
) {
    loop {
        let event = tokio::select! {
            event = handle.next_event() => match event {
                Some(event) => event,
                None => break,
            },
            Some(request) = agent_buses.recv() => {
                let _ = request.reply.send(handle.watch_session(&request.agent));
                continue;
            }
        };
        slot.record(&event);
        let json = match serde_json::to_string(&event) {
            Ok(json) => json,
            Err(err) => {
                tracing::warn!(%err, seq = event.seq, "an event could not be serialised");
                continue;
            }
        };
        let frame = Arc::new(Frame {
            seq: event.seq,
            session_id: event.session_id,
            json: json.into(),
        });
        // No receiver is not an error: nobody watches this session right now.
        let _ = slot.frames.send(frame.clone());
        let _ = sessions.global.send(frame);
    }
    let mut state = slot.lock();
    match &state.engine {
        // A newer engine already took over the slot (this one was stopped and the session
        // resumed): its state is not this pump's to clear.
        Some(engine) if engine.generation != generation => return,
        _ => {}
    }
    state.engine = None;
    state.running = false;
    state.turn_started = false;
    state.pending.clear();
    drop(state);
    sessions.release_if_idle(&slot.id);
}
