//! [`SqliteStore`]: the synchronous operations, and the async [`Store`] implementation that
//! runs them on tokio's blocking threads.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use code_mesh_core::{NewSession, Store, StoreError, now_ms};
use code_mesh_protocol::{Event, EventKind, Message, Role, SessionId, SessionInfo, Usage};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::{error, schema};
use code_mesh_core::title_from_prompt;

/// The columns [`session_from_row`] reads, in its order. A macro so that the queries using it
/// stay `&'static str`s, found in the statement cache without formatting.
macro_rules! session_columns {
    () => {
        "id, cwd, workspace, title, model, created_at, updated_at, message_count, \
         last_event_seq, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, \
         reasoning_tokens, cost_usd"
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
        let reader = schema::connect(&path)?;
        tracing::debug!(path = %path.display(), "opened session store");
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
            }),
        })
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
        let now = now_ms();
        let info = SessionInfo {
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
        };
        let conn = lock(&self.inner.writer);
        conn.prepare_cached(
            "INSERT INTO sessions (id, cwd, workspace, model, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                info.id.as_str(),
                info.cwd,
                info.workspace,
                info.model,
                now
            ])
        })
        .map_err(|err| self.sqlite_error("creating a session", err))?;
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
        Ok(messages)
    }

    /// The session's stored events in `seq` order; empty for an unknown session.
    pub fn events_blocking(&self, id: &SessionId) -> Result<Vec<Event>, StoreError> {
        let doing = || format!("reading the events of session `{id}`");
        let conn = lock(&self.inner.reader);
        let mut select = conn
            .prepare_cached("SELECT seq, body, at FROM events WHERE session_id = ?1 ORDER BY seq")
            .map_err(|err| self.sqlite_error(&doing(), err))?;
        let mut rows = select
            .query([id.as_str()])
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

    /// Appends one event and applies it to the session in the same transaction:
    /// `message_added` stores the message (and titles an untitled session from the first user
    /// prompt), `usage_updated` sets the usage totals, `session_started` the model; every
    /// event moves `updated_at` and `last_event_seq`. Transient events are ignored.
    ///
    /// Fails, storing nothing, for an unknown session or a `seq` not above the last stored.
    pub fn append_event_blocking(&self, event: &Event) -> Result<(), StoreError> {
        if event.kind.is_transient() {
            return Ok(());
        }
        let id = event.session_id.as_str();
        let doing = || {
            format!(
                "appending event {} (`{}`) to session `{id}`",
                event.seq,
                event.kind.name()
            )
        };
        let to_json = |value: Result<String, serde_json::Error>| {
            value.map_err(|err| error::unstorable(&self.inner.path, &doing(), err))
        };
        // Encode before taking the lock: the lock is held for SQLite work only.
        let body = to_json(serde_json::to_string(&event.kind))?;
        let added = match &event.kind {
            EventKind::MessageAdded { message } => {
                Some((message, to_json(serde_json::to_string(message))?))
            }
            _ => None,
        };

        let mut conn = lock(&self.inner.writer);
        let fail = |err: rusqlite::Error| self.sqlite_error(&doing(), err);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let state = tx
            .prepare_cached("SELECT last_event_seq, title = '' FROM sessions WHERE id = ?1")
            .and_then(|mut select| {
                select
                    .query_row([id], |row| {
                        Ok((row.get::<_, u64>(0)?, row.get::<_, bool>(1)?))
                    })
                    .optional()
            })
            .map_err(fail)?;
        let Some((last_seq, untitled)) = state else {
            return Err(StoreError::new(format!(
                "{} in `{}` failed: there is no such session",
                doing(),
                self.inner.path.display()
            ))
            .with_hint("the session may have been deleted; start a new one"));
        };
        if event.seq <= last_seq {
            return Err(StoreError::new(format!(
                "{} in `{}` failed: its seq is not above the last stored one ({last_seq})",
                doing(),
                self.inner.path.display()
            ))
            .with_hint("another process may be writing to the same session; resume it again"));
        }

        tx.prepare_cached(
            "INSERT INTO events (session_id, seq, type, body, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut insert| {
            insert.execute(params![id, event.seq, event.kind.name(), body, event.at])
        })
        .map_err(fail)?;

        match (&event.kind, added) {
            (_, Some((message, message_body))) => {
                tx.prepare_cached(
                    "INSERT INTO messages (session_id, seq, role, body, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut insert| {
                    insert.execute(params![
                        id,
                        message.seq,
                        role_name(message.role),
                        message_body,
                        message.created_at
                    ])
                })
                .map_err(fail)?;
                let title = if untitled && message.role == Role::User {
                    title_from_prompt(&message.text())
                } else {
                    String::new()
                };
                tx.prepare_cached(
                    "UPDATE sessions SET message_count = message_count + 1, \
                     title = CASE WHEN ?2 = '' THEN title ELSE ?2 END WHERE id = ?1",
                )
                .and_then(|mut update| update.execute(params![id, title]))
                .map_err(fail)?;
            }
            (EventKind::UsageUpdated { session_total, .. }, None) => {
                tx.prepare_cached(
                    "UPDATE sessions SET input_tokens = ?2, output_tokens = ?3, \
                     cache_read_tokens = ?4, cache_write_tokens = ?5, reasoning_tokens = ?6, \
                     cost_usd = ?7 WHERE id = ?1",
                )
                .and_then(|mut update| {
                    update.execute(params![
                        id,
                        session_total.input_tokens,
                        session_total.output_tokens,
                        session_total.cache_read_tokens,
                        session_total.cache_write_tokens,
                        session_total.reasoning_tokens,
                        session_total.cost_usd
                    ])
                })
                .map_err(fail)?;
            }
            (EventKind::SessionStarted { model, .. }, None) => {
                tx.prepare_cached("UPDATE sessions SET model = ?2 WHERE id = ?1")
                    .and_then(|mut update| update.execute(params![id, model]))
                    .map_err(fail)?;
            }
            _ => {}
        }

        // MAX: a clock stepping back must not move a session down the list.
        tx.prepare_cached(
            "UPDATE sessions SET last_event_seq = ?2, updated_at = MAX(updated_at, ?3) \
             WHERE id = ?1",
        )
        .and_then(|mut update| update.execute(params![id, event.seq, event.at]))
        .map_err(fail)?;
        tx.commit().map_err(fail)
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

    async fn append_event(&self, event: &Event) -> Result<(), StoreError> {
        if event.kind.is_transient() {
            return Ok(());
        }
        let event = event.clone();
        self.on_blocking_thread(move |store| store.append_event_blocking(&event))
            .await
    }
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
    })
}

/// The `seq` and JSON `body` columns (0 and 1), the body borrowed from SQLite's buffer.
fn seq_and_body<'row>(row: &'row Row<'_>) -> rusqlite::Result<(u64, &'row str)> {
    Ok((row.get(0)?, row.get_ref(1)?.as_str()?))
}

/// The `role` column's value: the role's JSON name.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}
