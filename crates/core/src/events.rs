//! The event sink: numbers events, appends the persistent ones to the store, then hands them
//! to the front end and to the live bus. One lock keeps sequence order, store order and bus
//! order the same, so a subscriber sees exactly the store's events (plus the streaming deltas)
//! in the same order.

use std::sync::Arc;

use code_mesh_protocol::{Event, EventKind, SessionId, Usage};
use tokio::sync::{Mutex, broadcast, mpsc};

use crate::{Store, StoreError, now_ms};

/// Events a slow bus subscriber may fall behind by before it misses some (it is then told how
/// many it missed and can read them back from the store by `seq`).
pub const EVENT_BUS_CAPACITY: usize = 4096;

pub(crate) struct EventSink {
    session_id: SessionId,
    store: Arc<dyn Store>,
    tx: mpsc::UnboundedSender<Event>,
    bus: LiveBus,
    last_seq: Mutex<u64>,
    /// The session's usage so far. Kept here, under the same lock as the sequence numbers, so
    /// that every source of usage (the turn loop, the agents of an orchestrated run) adds to
    /// one total and the `usage_updated` events carry increasing totals in `seq` order.
    usage_total: std::sync::Mutex<Usage>,
}

impl EventSink {
    pub(crate) fn new(
        session_id: SessionId,
        store: Arc<dyn Store>,
        tx: mpsc::UnboundedSender<Event>,
        last_seq: u64,
        usage_total: Usage,
    ) -> Self {
        EventSink {
            session_id,
            store,
            tx,
            bus: LiveBus::default(),
            last_seq: Mutex::new(last_seq),
            usage_total: std::sync::Mutex::new(usage_total),
        }
    }

    /// The live bus, from which receivers of every later event are made. Holding it does not
    /// keep the front end's channel open.
    pub(crate) fn bus(&self) -> LiveBus {
        self.bus.clone()
    }

    pub(crate) fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Records and reports one event. A store failure is returned, and the event is still
    /// reported so the front end sees what happened.
    pub(crate) async fn emit(&self, kind: EventKind) -> Result<(), StoreError> {
        let mut last_seq = self.last_seq.lock().await;
        self.emit_locked(&mut last_seq, kind).await
    }

    /// The session's usage so far.
    pub(crate) fn usage_total(&self) -> Usage {
        *self
            .usage_total
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `usage` to the session's total and reports both in a `usage_updated` event.
    pub(crate) async fn add_usage(&self, usage: Usage) -> Result<(), StoreError> {
        let mut last_seq = self.last_seq.lock().await;
        let session_total = {
            let mut total = self
                .usage_total
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *total += usage;
            *total
        };
        self.emit_locked(
            &mut last_seq,
            EventKind::UsageUpdated {
                usage,
                session_total,
            },
        )
        .await
    }

    async fn emit_locked(&self, last_seq: &mut u64, kind: EventKind) -> Result<(), StoreError> {
        *last_seq += 1;
        let event = Event {
            seq: *last_seq,
            session_id: self.session_id.clone(),
            at: now_ms(),
            kind,
        };
        let stored = if event.kind.is_transient() {
            Ok(())
        } else {
            self.store.append_event(&event).await
        };
        // Having no subscriber, or a front end that stopped listening, is not an engine failure.
        self.bus.send(&event);
        let _ = self.tx.send(event);
        stored
    }
}

/// A session's live bus, made on its first subscriber: a broadcast channel holds all of its
/// slots from the start (4,096 events, about a megabyte), and most sessions (every agent of
/// an orchestrated run, every `run`) never have a watcher. Events before the first subscriber
/// reach nobody either way.
#[derive(Clone, Default)]
pub(crate) struct LiveBus(Arc<std::sync::OnceLock<broadcast::Sender<Event>>>);

impl LiveBus {
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0
            .get_or_init(|| broadcast::channel(EVENT_BUS_CAPACITY).0)
            .subscribe()
    }

    fn send(&self, event: &Event) {
        if let Some(sender) = self.0.get() {
            let _ = sender.send(event.clone());
        }
    }
}
