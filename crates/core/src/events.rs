//! The event sink: numbers events, appends the persistent ones to the store, then hands them
//! to the front end. One lock keeps sequence order and store order the same.

use std::sync::Arc;

use code_mesh_protocol::{Event, EventKind, SessionId};
use tokio::sync::{Mutex, mpsc};

use crate::{Store, StoreError, now_ms};

pub(crate) struct EventSink {
    session_id: SessionId,
    store: Arc<dyn Store>,
    tx: mpsc::UnboundedSender<Event>,
    last_seq: Mutex<u64>,
}

impl EventSink {
    pub(crate) fn new(
        session_id: SessionId,
        store: Arc<dyn Store>,
        tx: mpsc::UnboundedSender<Event>,
        last_seq: u64,
    ) -> Self {
        EventSink {
            session_id,
            store,
            tx,
            last_seq: Mutex::new(last_seq),
        }
    }

    pub(crate) fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Records and reports one event. A store failure is returned, and the event is still
    /// reported so the front end sees what happened.
    pub(crate) async fn emit(&self, kind: EventKind) -> Result<(), StoreError> {
        let mut last_seq = self.last_seq.lock().await;
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
        // A front end that stopped listening is not an engine failure.
        let _ = self.tx.send(event);
        stored
    }
}
