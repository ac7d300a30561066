//! A [`Store`] and [`MemoryBank`] kept in memory: for tests, and for front ends with no disk
//! (the browser). Events change state through [`SessionState::apply`], the definition the
//! SQLite store is checked against.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use code_mesh_protocol::{
    ContextState, Event, EventKind, MemoryEntry, MemoryHit, MemoryQuery, Message, NewMemory,
    SessionId, SessionInfo,
};

use crate::{MemoryBank, NewSession, RecordedEvent, SessionState, Store, StoreError, now_ms};

#[derive(Default)]
struct Stored {
    info: SessionInfo,
    state: SessionState,
    events: Vec<Event>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<SessionId, Stored>,
    created: u64,
    memories: Vec<MemoryEntry>,
    next_memory_id: u64,
}

/// Sessions, messages, events and memory entries in memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn create(&mut self, new: NewSession) -> SessionInfo {
        self.created += 1;
        let now = now_ms();
        let info = SessionInfo {
            id: SessionId(format!("ses_mem{:06}", self.created)),
            cwd: new.cwd,
            workspace: new.workspace,
            model: new.model,
            created_at: now,
            updated_at: now,
            parent_id: new.parent_id,
            agent: new.agent,
            ..SessionInfo::default()
        };
        self.sessions.insert(
            info.id.clone(),
            Stored {
                info: info.clone(),
                ..Stored::default()
            },
        );
        info
    }

    fn append(&mut self, event: &Event) -> Result<(), StoreError> {
        if event.kind.is_transient() {
            return Ok(());
        }
        let stored = self
            .sessions
            .get_mut(&event.session_id)
            .ok_or_else(|| StoreError::new(format!("no session `{}`", event.session_id)))?;
        if event.seq <= stored.info.last_event_seq {
            return Err(StoreError::new(format!(
                "event {} of session `{}` is out of order (last stored: {})",
                event.seq, event.session_id, stored.info.last_event_seq
            )));
        }
        stored.state.apply(event);
        let state = &stored.state;
        let info = &mut stored.info;
        info.title.clone_from(&state.title);
        if !state.model.is_empty() {
            info.model.clone_from(&state.model);
        }
        info.message_count = state.messages.len() as u64;
        info.usage = state.usage;
        info.last_event_seq = event.seq;
        info.updated_at = info.updated_at.max(event.at);
        stored.events.push(event.clone());
        if let EventKind::TaskOutcomeRecorded { lessons, .. } = &event.kind {
            let workspace = info.workspace.clone();
            let session = info.id.clone();
            for lesson in lessons {
                self.remember(crate::lesson_memory(lesson, &workspace, &session));
            }
        }
        Ok(())
    }

    fn remember(&mut self, memory: NewMemory) -> MemoryEntry {
        if memory.key.is_some() {
            self.memories.retain(|entry| {
                let old = &entry.memory;
                !(old.key == memory.key
                    && old.scope == memory.scope
                    && old.project == memory.project
                    && old.agent == memory.agent)
            });
        }
        self.next_memory_id += 1;
        let entry = MemoryEntry {
            id: self.next_memory_id,
            memory,
            created_at: now_ms(),
        };
        self.memories.push(entry.clone());
        entry
    }

    fn delete(&mut self, id: &SessionId) -> bool {
        if self.sessions.remove(id).is_none() {
            return false;
        }
        let children: Vec<(SessionId, bool)> = self
            .sessions
            .values()
            .filter(|s| s.info.parent_id.as_ref() == Some(id))
            .map(|s| (s.info.id.clone(), s.info.agent.is_some()))
            .collect();
        for (child, is_agent) in children {
            if is_agent {
                self.delete(&child);
            } else if let Some(fork) = self.sessions.get_mut(&child) {
                fork.info.parent_id = None;
            }
        }
        true
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_session(&self, new: NewSession) -> Result<SessionInfo, StoreError> {
        Ok(self.lock().create(new))
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionInfo>, StoreError> {
        Ok(self.lock().sessions.get(id).map(|s| s.info.clone()))
    }

    async fn latest_session(&self, cwd: &str) -> Result<Option<SessionInfo>, StoreError> {
        Ok(self
            .lock()
            .sessions
            .values()
            .filter(|s| s.info.cwd == cwd)
            .max_by_key(|s| (s.info.updated_at, s.info.id.clone()))
            .map(|s| s.info.clone()))
    }

    async fn list_sessions(&self, limit: usize) -> Result<Vec<SessionInfo>, StoreError> {
        let mut infos: Vec<_> = self
            .lock()
            .sessions
            .values()
            .map(|s| s.info.clone())
            .collect();
        infos.sort_by_key(|info| std::cmp::Reverse((info.updated_at, info.id.clone())));
        infos.truncate(limit);
        Ok(infos)
    }

    async fn messages(&self, id: &SessionId) -> Result<Vec<Message>, StoreError> {
        Ok(self
            .lock()
            .sessions
            .get(id)
            .map(|s| s.state.messages.clone())
            .unwrap_or_default())
    }

    async fn events(&self, id: &SessionId) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .lock()
            .sessions
            .get(id)
            .map(|s| s.events.clone())
            .unwrap_or_default())
    }

    async fn append_event(&self, event: &Event) -> Result<(), StoreError> {
        self.lock().append(event)
    }

    async fn create_session_with_events(
        &self,
        new: NewSession,
        events: Vec<RecordedEvent>,
    ) -> Result<SessionInfo, StoreError> {
        let mut inner = self.lock();
        let info = inner.create(new);
        let mut seq = 0;
        for recorded in events {
            if recorded.kind.is_transient() {
                continue;
            }
            seq += 1;
            let event = Event {
                seq,
                session_id: info.id.clone(),
                at: recorded.at,
                kind: recorded.kind,
            };
            if let Err(err) = inner.append(&event) {
                inner.sessions.remove(&info.id);
                return Err(err);
            }
        }
        Ok(inner
            .sessions
            .get(&info.id)
            .map_or(info, |s| s.info.clone()))
    }

    async fn delete_session(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.lock().delete(id))
    }

    async fn child_sessions(&self, id: &SessionId) -> Result<Vec<SessionInfo>, StoreError> {
        let mut children: Vec<_> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.info.parent_id.as_ref() == Some(id))
            .map(|s| s.info.clone())
            .collect();
        children.sort_by_key(|info| (info.created_at, info.id.clone()));
        Ok(children)
    }

    async fn context_state(&self, id: &SessionId) -> Result<ContextState, StoreError> {
        Ok(self
            .lock()
            .sessions
            .get(id)
            .map(|s| s.state.context.clone())
            .unwrap_or_default())
    }
}

#[async_trait]
impl MemoryBank for MemoryStore {
    async fn remember(&self, memory: NewMemory) -> Result<MemoryEntry, StoreError> {
        Ok(self.lock().remember(memory))
    }

    /// Matches entries holding any word of the query (case-insensitive), those holding more
    /// of the words first, then by how often they occur: a simple stand-in for the SQLite
    /// store's BM25 ranking with the same shape of results.
    async fn recall(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, StoreError> {
        let now = now_ms();
        let text = query.text.as_deref().unwrap_or("");
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() && !text.trim().is_empty() {
            // Only punctuation: nothing to search for, as in the SQLite store.
            return Ok(Vec::new());
        }
        let inner = self.lock();
        let mut hits: Vec<(usize, usize, MemoryHit)> = inner
            .memories
            .iter()
            .filter(|entry| crate::memory::matches_filters(&entry.memory, query, now))
            .filter_map(|entry| {
                let content = entry.memory.content.to_lowercase();
                let counts: Vec<usize> = words
                    .iter()
                    .map(|word| content.matches(word.as_str()).count())
                    .collect();
                let held = counts.iter().filter(|&&count| count > 0).count();
                let occurrences: usize = counts.iter().sum();
                if !words.is_empty() && held == 0 {
                    return None;
                }
                let hit = MemoryHit {
                    entry: entry.clone(),
                    rank: -((held * 1000 + occurrences) as f64),
                };
                Some((held, occurrences, hit))
            })
            .collect();
        if words.is_empty() {
            hits.sort_by_key(|(_, _, hit)| std::cmp::Reverse((hit.entry.created_at, hit.entry.id)));
        } else {
            hits.sort_by_key(|(held, occurrences, hit)| {
                std::cmp::Reverse((*held, *occurrences, hit.entry.id))
            });
        }
        Ok(hits
            .into_iter()
            .map(|(_, _, hit)| hit)
            .take(crate::memory::limit(query))
            .collect())
    }

    async fn forget(&self, id: u64) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let before = inner.memories.len();
        inner.memories.retain(|entry| entry.id != id);
        Ok(inner.memories.len() != before)
    }
}
