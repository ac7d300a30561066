//! A [`Store`] kept in memory: for tests, and for front ends with no disk (the browser).
//! It applies events to state exactly as the SQLite store does.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use code_mesh_protocol::{Event, EventKind, Message, Role, SessionId, SessionInfo};

use crate::{NewSession, Store, StoreError, now_ms, title_from_prompt};

#[derive(Default)]
struct Stored {
    info: SessionInfo,
    messages: Vec<Message>,
    events: Vec<Event>,
}

/// Sessions, messages and events in memory.
#[derive(Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<SessionId, Stored>>,
    created: Mutex<u64>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_session(&self, new: NewSession) -> Result<SessionInfo, StoreError> {
        let number = {
            let mut created = self.created.lock().unwrap_or_else(PoisonError::into_inner);
            *created += 1;
            *created
        };
        let now = now_ms();
        let info = SessionInfo {
            id: SessionId(format!("ses_mem{number:06}")),
            cwd: new.cwd,
            workspace: new.workspace,
            model: new.model,
            created_at: now,
            updated_at: now,
            ..SessionInfo::default()
        };
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                info.id.clone(),
                Stored {
                    info: info.clone(),
                    ..Stored::default()
                },
            );
        Ok(info)
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionInfo>, StoreError> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(sessions.get(id).map(|s| s.info.clone()))
    }

    async fn latest_session(&self, cwd: &str) -> Result<Option<SessionInfo>, StoreError> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(sessions
            .values()
            .filter(|s| s.info.cwd == cwd)
            .max_by_key(|s| (s.info.updated_at, s.info.id.clone()))
            .map(|s| s.info.clone()))
    }

    async fn list_sessions(&self, limit: usize) -> Result<Vec<SessionInfo>, StoreError> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let mut infos: Vec<_> = sessions.values().map(|s| s.info.clone()).collect();
        infos.sort_by_key(|info| std::cmp::Reverse((info.updated_at, info.id.clone())));
        infos.truncate(limit);
        Ok(infos)
    }

    async fn messages(&self, id: &SessionId) -> Result<Vec<Message>, StoreError> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(sessions
            .get(id)
            .map(|s| s.messages.clone())
            .unwrap_or_default())
    }

    async fn events(&self, id: &SessionId) -> Result<Vec<Event>, StoreError> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(sessions
            .get(id)
            .map(|s| s.events.clone())
            .unwrap_or_default())
    }

    async fn append_event(&self, event: &Event) -> Result<(), StoreError> {
        if event.kind.is_transient() {
            return Ok(());
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let stored = sessions
            .get_mut(&event.session_id)
            .ok_or_else(|| StoreError::new(format!("no session `{}`", event.session_id)))?;
        if event.seq <= stored.info.last_event_seq {
            return Err(StoreError::new(format!(
                "event {} of session `{}` is out of order (last stored: {})",
                event.seq, event.session_id, stored.info.last_event_seq
            )));
        }
        match &event.kind {
            EventKind::MessageAdded { message } => {
                if stored.info.title.is_empty() && message.role == Role::User {
                    stored.info.title = title_from_prompt(&message.text());
                }
                stored.messages.push(message.clone());
                stored.info.message_count += 1;
            }
            EventKind::UsageUpdated { session_total, .. } => stored.info.usage = *session_total,
            EventKind::SessionStarted { model, .. } => stored.info.model = model.clone(),
            _ => {}
        }
        stored.info.last_event_seq = event.seq;
        stored.info.updated_at = event.at;
        stored.events.push(event.clone());
        Ok(())
    }
}
