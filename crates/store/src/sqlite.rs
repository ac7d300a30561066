//! [`SqliteStore`]: the synchronous operations, and the async [`Store`] implementation that
//! runs them on tokio's blocking threads.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use async_trait::async_trait;
use code_mesh_core::{NewSession, RecordedEvent, Store, StoreError, now_ms};
use code_mesh_protocol::{ContextState, Event, EventKind, Message, SessionId, SessionInfo, Usage};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::checkpoint::{Checkpointer, FALLBACK_AUTOCHECKPOINT_PAGES};
use crate::{apply, error, schema};

/// The columns [`session_from_row`] reads, in its order. A macro so that the queries using it
/// stay `&'static str`s, found in the statement cache without formatting.
macro_rules! session_columns {
    () => {
        "id, cwd, workspace, title, model, created_at, updated_at, message_count, \
         last_event_seq, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, \
         reasoning_tokens, cost_usd, parent_id, agent"
    };
}

/// The session store in one SQLite file.
///
/// Cloning is cheap and shares the connections. Each `*_blocking` method does its work on the
/// calling thread (for the CLI's `sessions` commands and other synchronous callers); the
/// [`Store`] methods run the same code through `tokio::task::spawn_blocking`, so SQLite never
/// runs on an async worker thread (and they must be called inside a tokio runtime).
///
/// Writes go through one connection and reads through another, each behind a mutex: in WAL
/// mode a long read (loading a big history) never delays an append. Measured against a
/// dedicated writer thread fed by a channel (`examples/store_bench.rs`, release, 2 cores),
/// `spawn_blocking` over a mutex was steadier (mean about 70 µs per append, against 55 to
/// 120 µs) and needs no thread of its own.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// Creates sessions and appends events; every write is one `BEGIN IMMEDIATE` transaction.
    writer: Mutex<Connection>,
    /// Everything else. Each query is its own read transaction, so it sees every commit made
    /// before it started, whichever connection or process made it.
    reader: Mutex<Connection>,
    /// Checkpoints the WAL in the background instead of inside appends.
    checkpoints: Checkpointer,
    /// Appends waiting for the writer (see [`SqliteStore::append_event_blocking`]).
    appends: Mutex<Vec<QueuedAppend>>,
}

/// An event waiting to be appended, and where its result goes.
struct QueuedAppend {
    event: Event,
    result: Arc<OnceLock<Result<(), StoreError>>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// Takes a connection's lock. A panic while it was held cannot have left a transaction open
/// (dropping a `Transaction` rolls it back), so a poisoned lock is still safe to use.
fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock_queue(queue: &Mutex<Vec<QueuedAppend>>) -> MutexGuard<'_, Vec<QueuedAppend>> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database at `path`,
    /// usually `<data dir>/code-mesh.db`, and brings its schema up to date. Blocks briefly;
    /// safe to call from several processes at once.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                StoreError::new(format!(
                    "creating the directory `{}` for the session database failed: {err}",
                    parent.display()
                ))
                .with_hint(
                    "check that you may write there, or set CODE_MESH_HOME to a directory you own",
                )
            })?;
        }
        let mut writer = schema::connect(&path)?;
        schema::migrate(&path, &mut writer)?;
        // PRAGMA arguments cannot be bound; the value is a constant.
        writer
            .execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {FALLBACK_AUTOCHECKPOINT_PAGES}"
            ))
            .map_err(|err| error::sqlite(&path, "configuring checkpoints", &err))?;
        let reader = schema::connect(&path)?;
        tracing::debug!(path = %path.display(), "opened session store");
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                checkpoints: Checkpointer::new(&path),
                path,
                writer: Mutex::new(writer),
                appends: Mutex::new(Vec::new()),
                reader: Mutex::new(reader),
            }),
        })
    }

    /// WAL checkpoints completed by the background checkpointer (for tests and benchmarks).
    #[doc(hidden)]
    pub fn background_checkpoints(&self) -> u32 {
        self.inner.checkpoints.done()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub(crate) fn sqlite_error(&self, doing: &str, err: rusqlite::Error) -> StoreError {
        error::sqlite(&self.inner.path, doing, &err)
    }

    /// The connection for reads, locked.
    pub(crate) fn reader(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.reader)
    }

    /// The connection for writes, locked.
    pub(crate) fn writer(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.writer)
    }

    /// Creates a session with a new id (`ses_` and a time-ordered UUIDv7 in hex), untitled,
    /// with no messages or events.
    pub fn create_session_blocking(&self, new: NewSession) -> Result<SessionInfo, StoreError> {
        let info = new_session_info(new);
        let conn = lock(&self.inner.writer);
        insert_session(&conn, &info).map_err(|err| self.sqlite_error("creating a session", err))?;
        Ok(info)
    }

    /// The session with this id, if there is one.
    pub fn session_blocking(&self, id: &SessionId) -> Result<Option<SessionInfo>, StoreError> {
        let conn = lock(&self.inner.reader);
        conn.prepare_cached(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id = ?1"
        ))
        .and_then(|mut select| select.query_row([id.as_str()], session_from_row).optional())
        .map_err(|err| self.sqlite_error(&format!("reading session `{id}`"), err))
    }

    /// The most recently updated session whose working directory is exactly `cwd`.
    pub fn latest_session_blocking(&self, cwd: &str) -> Result<Option<SessionInfo>, StoreError> {
        let conn = lock(&self.inner.reader);
        // `id` breaks ties: ids are time-ordered, so the later-created session wins.
        conn.prepare_cached(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE cwd = ?1 ORDER BY updated_at DESC, id DESC LIMIT 1"
        ))
        .and_then(|mut select| select.query_row([cwd], session_from_row).optional())
        .map_err(|err| self.sqlite_error(&format!("finding the latest session in `{cwd}`"), err))
    }

    /// Up to `limit` sessions, most recently updated first.
    pub fn list_sessions_blocking(&self, limit: usize) -> Result<Vec<SessionInfo>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = lock(&self.inner.reader);
        conn.prepare_cached(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions ORDER BY updated_at DESC, id DESC LIMIT ?1"
        ))
        .and_then(|mut select| {
            select
                .query_map([limit], session_from_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|err| self.sqlite_error("listing sessions", err))
    }

    /// Up to `limit` of `workspace`'s user sessions (no sub-agents'), most recently updated
    /// first.
    pub fn user_sessions_in_blocking(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = lock(&self.inner.reader);
        conn.prepare_cached(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE workspace = ?1 AND agent IS NULL",
            " ORDER BY updated_at DESC, id DESC LIMIT ?2"
        ))
        .and_then(|mut select| {
            select
                .query_map(rusqlite::params![workspace, limit], session_from_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|err| self.sqlite_error(&format!("listing the sessions of `{workspace}`"), err))
    }

    /// The session's messages in `seq` order; empty for an unknown session.
    pub fn messages_blocking(&self, id: &SessionId) -> Result<Vec<Message>, StoreError> {
        let doing = || format!("reading the messages of session `{id}`");
        let conn = lock(&self.inner.reader);
        let mut select = conn
            .prepare_cached("SELECT seq, body FROM messages WHERE session_id = ?1 ORDER BY seq")
            .map_err(|err| self.sqlite_error(&doing(), err))?;
        let mut rows = select
            .query([id.as_str()])
            .map_err(|err| self.sqlite_error(&doing(), err))?;
        let mut messages = Vec::new();
        while let Some(row) = rows
            .next()
            .map_err(|err| self.sqlite_error(&doing(), err))?
        {
            let (seq, body) = seq_and_body(row).map_err(|err| self.sqlite_error(&doing(), err))?;
            let message = serde_json::from_str(body).map_err(|err| {
                error::bad_row(
                    &self.inner.path,
                    &format!("message {seq} of session `{id}`"),
                    &err,
                )
            })?;
            messages.push(message);
        }
        // Held for as long as the session runs: no room for messages that never come.
        messages.shrink_to_fit();
        Ok(messages)
    }

    /// The session's stored events in `seq` order; empty for an unknown session.
    pub fn events_blocking(&self, id: &SessionId) -> Result<Vec<Event>, StoreError> {
        self.events_after_blocking(id, 0, usize::MAX)
    }

    /// At most `limit` events of session `id` after `after_seq`, in order.
    pub fn events_after_blocking(
        &self,
        id: &SessionId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let doing = || format!("reading the events of session `{id}`");
        let conn = lock(&self.inner.reader);
        let mut select = conn
            .prepare_cached(
                "SELECT seq, body, at FROM events WHERE session_id = ?1 AND seq > ?2 \
                 ORDER BY seq LIMIT ?3",
            )
            .map_err(|err| self.sqlite_error(&doing(), err))?;
        // SQLite's LIMIT is a signed 64-bit count; a negative one means no limit.
        let limit = i64::try_from(limit).unwrap_or(-1);
        let after_seq = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let mut rows = select
            .query(params![id.as_str(), after_seq, limit])
            .map_err(|err| self.sqlite_error(&doing(), err))?;
        let mut events = Vec::new();
        while let Some(row) = rows
            .next()
            .map_err(|err| self.sqlite_error(&doing(), err))?
        {
            let (seq, body) = seq_and_body(row).map_err(|err| self.sqlite_error(&doing(), err))?;
            let kind: EventKind = serde_json::from_str(body).map_err(|err| {
                error::bad_row(
                    &self.inner.path,
                    &format!("event {seq} of session `{id}`"),
                    &err,
                )
            })?;
            let at = row
                .get::<_, u64>(2)
                .map_err(|err| self.sqlite_error(&doing(), err))?;
            events.push(Event {
                seq,
                session_id: id.clone(),
                at,
                kind,
            });
        }
        Ok(events)
    }

    /// Appends one event and applies it to the session in the same transaction (see
    /// [`crate::apply`]). Transient events are ignored.
    ///
    /// Fails, storing nothing, for an unknown session or a `seq` not above the last stored.
    ///
    /// Group commit: appends from many sessions at once (the agents of an orchestrated run)
    /// queue for the writer, and whoever holds it commits every queued event in one
    /// transaction, so a commit's cost is shared instead of paid by each. Each call still
    /// returns only once its own event is committed (or failed). Should one event of a group
    /// fail, the group is rolled back and its events are committed one by one, so only the
    /// failing one fails.
    pub fn append_event_blocking(&self, event: &Event) -> Result<(), StoreError> {
        if event.kind.is_transient() {
            return Ok(());
        }
        let result = Arc::new(OnceLock::new());
        lock_queue(&self.inner.appends).push(QueuedAppend {
            event: event.clone(),
            result: result.clone(),
        });
        let mut conn = lock(&self.inner.writer);
        if let Some(done) = result.get() {
            // Committed by the writer's holder before us.
            return done.clone();
        }
        let group = std::mem::take(&mut *lock_queue(&self.inner.appends));
        let results = match self.commit_group(&mut conn, &group) {
            Ok(()) => vec![Ok(()); group.len()],
            Err(_) => group
                .iter()
                .map(|queued| self.commit_group(&mut conn, std::slice::from_ref(queued)))
                .collect(),
        };
        // Set while the writer is held: the next holder must find its result there.
        for (queued, outcome) in group.iter().zip(results) {
            let _ = queued.result.set(outcome);
        }
        drop(conn);
        self.inner.checkpoints.committed();
        result.get().cloned().unwrap_or_else(|| {
            Err(StoreError::new(
                "internal error: an append was neither committed nor failed",
            ))
        })
    }

    /// Appends `group` in one transaction.
    fn commit_group(
        &self,
        conn: &mut Connection,
        group: &[QueuedAppend],
    ) -> Result<(), StoreError> {
        let mut encoded = Vec::with_capacity(group.len());
        for queued in group {
            encoded.push(apply::EncodedEvent::new(&self.inner.path, &queued.event)?);
        }
        let doing = encoded.first().map(|e| e.doing()).unwrap_or_default();
        let fail = |err: rusqlite::Error| self.sqlite_error(&doing, err);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        for event in &encoded {
            apply::append(&tx, &self.inner.path, event)?;
        }
        tx.commit().map_err(fail)
    }

    /// Creates a session and appends `events` (numbered from 1) in one transaction.
    pub fn create_session_with_events_blocking(
        &self,
        new: NewSession,
        events: Vec<RecordedEvent>,
    ) -> Result<SessionInfo, StoreError> {
        let info = new_session_info(new);
        let events: Vec<Event> = events
            .into_iter()
            .filter(|recorded| !recorded.kind.is_transient())
            .zip(1..)
            .map(|(recorded, seq)| Event {
                seq,
                session_id: info.id.clone(),
                at: recorded.at,
                kind: recorded.kind,
            })
            .collect();
        let encoded = events
            .iter()
            .map(|event| apply::EncodedEvent::new(&self.inner.path, event))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = lock(&self.inner.writer);
        let fail = |err: rusqlite::Error| self.sqlite_error("writing a whole session", err);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        insert_session(&tx, &info).map_err(fail)?;
        for event in &encoded {
            apply::append(&tx, &self.inner.path, event)?;
        }
        tx.commit().map_err(fail)?;
        drop(conn);
        self.session_blocking(&info.id)?.ok_or_else(|| {
            StoreError::new(format!("session `{}` vanished as it was written", info.id))
        })
    }

    /// Deletes the session, its messages and events, and its sub-agents' sessions
    /// (recursively); forks of it lose their `parent_id`. False when there was no such session.
    pub fn delete_session_blocking(&self, id: &SessionId) -> Result<bool, StoreError> {
        let conn = lock(&self.inner.writer);
        conn.prepare_cached(
            "WITH RECURSIVE doomed(id) AS ( \
                 SELECT id FROM sessions WHERE id = ?1 \
                 UNION ALL \
                 SELECT s.id FROM sessions s JOIN doomed d ON s.parent_id = d.id \
                 WHERE s.agent IS NOT NULL) \
             DELETE FROM sessions WHERE id IN (SELECT id FROM doomed)",
        )
        .and_then(|mut delete| delete.execute([id.as_str()]))
        .map(|deleted| deleted > 0)
        .map_err(|err| self.sqlite_error(&format!("deleting session `{id}`"), err))
    }

    /// The sessions whose parent is `id`, oldest first.
    pub fn child_sessions_blocking(&self, id: &SessionId) -> Result<Vec<SessionInfo>, StoreError> {
        let conn = lock(&self.inner.reader);
        conn.prepare_cached(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE parent_id = ?1 ORDER BY created_at, id"
        ))
        .and_then(|mut select| {
            select
                .query_map([id.as_str()], session_from_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|err| self.sqlite_error(&format!("listing the children of session `{id}`"), err))
    }

    /// The session's context state; the default for an unknown session.
    pub fn context_state_blocking(&self, id: &SessionId) -> Result<ContextState, StoreError> {
        let conn = lock(&self.inner.reader);
        let body: Option<String> = conn
            .prepare_cached("SELECT context FROM sessions WHERE id = ?1")
            .and_then(|mut select| select.query_row([id.as_str()], |row| row.get(0)).optional())
            .map_err(|err| {
                self.sqlite_error(&format!("reading the context state of session `{id}`"), err)
            })?;
        match body {
            None => Ok(ContextState::default()),
            Some(body) => serde_json::from_str(&body).map_err(|err| {
                error::bad_row(
                    &self.inner.path,
                    &format!("the context state of session `{id}`"),
                    &err,
                )
            }),
        }
    }

    /// Runs `work` on a blocking thread with a handle to this store.
    pub(crate) async fn on_blocking_thread<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(result) => result,
            Err(err) => Err(StoreError::new(format!(
                "a session store call on `{}` did not finish: {err}",
                self.inner.path.display()
            ))),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_session(&self, new: NewSession) -> Result<SessionInfo, StoreError> {
        self.on_blocking_thread(move |store| store.create_session_blocking(new))
            .await
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionInfo>, StoreError> {
        let id = id.clone();
        self.on_blocking_thread(move |store| store.session_blocking(&id))
            .await
    }

    async fn latest_session(&self, cwd: &str) -> Result<Option<SessionInfo>, StoreError> {
        let cwd = cwd.to_owned();
        self.on_blocking_thread(move |store| store.latest_session_blocking(&cwd))
            .await
    }

    async fn list_sessions(&self, limit: usize) -> Result<Vec<SessionInfo>, StoreError> {
        self.on_blocking_thread(move |store| store.list_sessions_blocking(limit))
            .await
    }

    async fn user_sessions_in(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let workspace = workspace.to_owned();
        self.on_blocking_thread(move |store| store.user_sessions_in_blocking(&workspace, limit))
            .await
    }

    async fn messages(&self, id: &SessionId) -> Result<Vec<Message>, StoreError> {
        let id = id.clone();
        self.on_blocking_thread(move |store| store.messages_blocking(&id))
            .await
    }

    async fn events(&self, id: &SessionId) -> Result<Vec<Event>, StoreError> {
        let id = id.clone();
        self.on_blocking_thread(move |store| store.events_blocking(&id))
            .await
    }

    async fn events_after(
        &self,
        id: &SessionId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let id = id.clone();
        self.on_blocking_thread(move |store| store.events_after_blocking(&id, after_seq, limit))
            .await
    }

    async fn append_event(&self, event: &Event) -> Result<(), StoreError> {
        if event.kind.is_transient() {
            return Ok(());
        }
        let event = event.clone();
        self.on_blocking_thread(move |store| store.append_event_blocking(&event))
            .await
    }

    async fn create_session_with_events(
        &self,
        new: NewSession,
        events: Vec<RecordedEvent>,
    ) -> Result<SessionInfo, StoreError> {
        self.on_blocking_thread(move |store| store.create_session_with_events_blocking(new, events))
            .await
    }

    async fn delete_session(&self, id: &SessionId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.on_blocking_thread(move |store| store.delete_session_blocking(&id))
            .await
    }

    async fn child_sessions(&self, id: &SessionId) -> Result<Vec<SessionInfo>, StoreError> {
        let id = id.clone();
        self.on_blocking_thread(move |store| store.child_sessions_blocking(&id))
            .await
    }

    async fn context_state(&self, id: &SessionId) -> Result<ContextState, StoreError> {
        let id = id.clone();
        self.on_blocking_thread(move |store| store.context_state_blocking(&id))
            .await
    }
}

/// A new session's info: a fresh id (`ses_` and a time-ordered UUIDv7 in hex), untitled,
/// with no messages or events.
fn new_session_info(new: NewSession) -> SessionInfo {
    let now = now_ms();
    SessionInfo {
        id: SessionId(format!("ses_{}", uuid::Uuid::now_v7().simple())),
        cwd: new.cwd,
        workspace: new.workspace,
        title: String::new(),
        model: new.model,
        created_at: now,
        updated_at: now,
        message_count: 0,
        last_event_seq: 0,
        usage: Usage::default(),
        parent_id: new.parent_id,
        agent: new.agent,
    }
}

fn insert_session(conn: &Connection, info: &SessionInfo) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (id, parent_id, agent, cwd, workspace, model, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        info.id.as_str(),
        info.parent_id.as_ref().map(SessionId::as_str),
        info.agent,
        info.cwd,
        info.workspace,
        info.model,
        info.created_at
    ])?;
    Ok(())
}

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionInfo> {
    Ok(SessionInfo {
        id: SessionId(row.get(0)?),
        cwd: row.get(1)?,
        workspace: row.get(2)?,
        title: row.get(3)?,
        model: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        message_count: row.get(7)?,
        last_event_seq: row.get(8)?,
        usage: Usage {
            input_tokens: row.get(9)?,
            output_tokens: row.get(10)?,
            cache_read_tokens: row.get(11)?,
            cache_write_tokens: row.get(12)?,
            reasoning_tokens: row.get(13)?,
            cost_usd: row.get(14)?,
        },
        parent_id: row.get::<_, Option<String>>(15)?.map(SessionId),
        agent: row.get(16)?,
    })
}

/// The `seq` and JSON `body` columns (0 and 1), the body borrowed from SQLite's buffer.
fn seq_and_body<'row>(row: &'row Row<'_>) -> rusqlite::Result<(u64, &'row str)> {
    Ok((row.get(0)?, row.get_ref(1)?.as_str()?))
}
