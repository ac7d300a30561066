//! Connection settings and the versioned schema.
//!
//! The schema version lives in SQLite's `PRAGMA user_version`. Opening a database runs, inside
//! one `BEGIN IMMEDIATE` transaction, every migration above the stored version and then sets
//! the new version; a second process opening the same file at the same moment waits on the
//! write lock (up to the busy timeout), then finds the migrations done and skips them.

use std::path::Path;
use std::time::{Duration, Instant};

use code_mesh_core::StoreError;
use rusqlite::{Connection, TransactionBehavior};

use crate::error;

/// The schema version this build writes. Databases with a higher version are refused rather
/// than misread.
pub const SCHEMA_VERSION: i32 = 2;

/// How long a statement waits for another connection's write lock before failing.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection; a little above the number of distinct queries.
const STATEMENT_CACHE: usize = 32;

/// The migrations, in order: `MIGRATIONS[n]` takes the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    // Version 1.
    //
    // `sessions` holds one row per session: what `SessionInfo` reports, kept up to date by
    // `append_event` in the event's own transaction, so listing and resuming never replay
    // events. Usage totals are spread over columns so they can be summed in SQL. `parent_id`
    // is for forks (set by a later `sessions fork`); a deleted parent leaves its forks alone.
    //
    // `messages` is the conversation history, the state `message_added` events build: one row
    // per message, keyed by the message's own `seq`, its body the whole `Message` as JSON
    // (`role` and `created_at` are copied out for queries). Resuming reads this table alone.
    //
    // `events` is the append-only log: one row per stored (non-transient) event, keyed by the
    // event's `seq`, its body the `EventKind` as JSON (the `type`-tagged object, without
    // `seq`, `session_id` and `at`, which are columns). Replaying a session reads this table.
    //
    // Both child tables are ordinary rowid tables: rows can be large (tool outputs), which
    // `WITHOUT ROWID` handles poorly, and their primary-key index already serves
    // `WHERE session_id = ? ORDER BY seq`.
    //
    // `response_cache` holds model answers for `[providers] cache = true`, keyed by the
    // providers crate's digest of the request; `value` is opaque here. It belongs to no
    // session: an identical request from any session may be answered from it.
    "
    CREATE TABLE sessions (
        id                 TEXT PRIMARY KEY NOT NULL,
        parent_id          TEXT REFERENCES sessions(id) ON DELETE SET NULL,
        cwd                TEXT NOT NULL,
        workspace          TEXT NOT NULL,
        title              TEXT NOT NULL DEFAULT '',
        model              TEXT NOT NULL,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        message_count      INTEGER NOT NULL DEFAULT 0,
        last_event_seq     INTEGER NOT NULL DEFAULT 0,
        input_tokens       INTEGER NOT NULL DEFAULT 0,
        output_tokens      INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
        -- NULL while no answer of the session had a known price.
        cost_usd           REAL
    );
    CREATE INDEX sessions_by_cwd ON sessions(cwd, updated_at);
    CREATE INDEX sessions_by_update ON sessions(updated_at);
    CREATE INDEX sessions_by_parent ON sessions(parent_id);

    CREATE TABLE messages (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        role       TEXT NOT NULL,
        body       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    );

    CREATE TABLE events (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        type       TEXT NOT NULL,
        body       TEXT NOT NULL,
        at         INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    );

    CREATE TABLE response_cache (
        key        TEXT PRIMARY KEY NOT NULL,
        value      TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    ",
    // Version 2.
    //
    // `sessions.agent` marks a sub-agent's session (its `parent_id` is the parent agent's
    // session); `sessions.context` is the `ContextState` JSON the `context_compacted` events
    // leave, kept in the event's transaction like the rest of the session's state.
    //
    // `memories` holds long-lived memory (project facts, preferences, agents' notes, lessons).
    // It references no session: memory outlives the session that recorded it. A keyed entry
    // is unique per scope, project, agent and key (lessons are keyed so a newer lesson on the
    // same thing replaces the older). `memories_fts` is an external-content FTS5 index over
    // `content` (porter stemming, so "tests" finds "test"), kept in step by triggers; recall
    // ranks with its `bm25()`. Ids are never reused (AUTOINCREMENT): `memory forget ID` must
    // not remove an entry that took the id of one forgotten or replaced since it was listed.
    // `memories_by_time` serves listings (newest first, read backwards until the limit);
    // `memories_by_expiry` the purge of expired entries that every `remember` runs.
    "
    ALTER TABLE sessions ADD COLUMN agent TEXT;
    ALTER TABLE sessions ADD COLUMN context TEXT NOT NULL DEFAULT '{}';

    CREATE TABLE memories (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        scope          TEXT NOT NULL,
        kind           TEXT NOT NULL,
        project        TEXT,
        agent          TEXT,
        content        TEXT NOT NULL,
        key            TEXT,
        source_session TEXT,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER
    );
    CREATE UNIQUE INDEX memories_by_key
        ON memories(scope, IFNULL(project, ''), IFNULL(agent, ''), key) WHERE key IS NOT NULL;
    CREATE INDEX memories_by_time ON memories(created_at);
    CREATE INDEX memories_by_expiry ON memories(expires_at) WHERE expires_at IS NOT NULL;

    CREATE VIRTUAL TABLE memories_fts USING fts5(
        content, content = 'memories', content_rowid = 'id', tokenize = 'porter unicode61'
    );
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO memories_fts(rowid, content) VALUES (new.id, new.content);
    END;
    ",
];

// Every version has its migration.
const _: () = assert!(MIGRATIONS.len() == SCHEMA_VERSION as usize);

/// Opens one connection to the database at `path` with the store's settings: WAL journal,
/// `synchronous=NORMAL` (a committed transaction survives the process being killed; only a
/// power loss can roll back the last few, and never corrupts the file), a busy timeout, and
/// foreign keys on.
pub(crate) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let fail = |doing: &str, err: rusqlite::Error| error::sqlite(path, doing, &err);
    let conn = Connection::open(path).map_err(|e| fail("opening the database", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| fail("setting the busy timeout", e))?;
    // Returns the mode now in force; a file that is not a database fails here. Switching a
    // new file to WAL takes an exclusive lock without calling the busy handler, so another
    // connection opening the same new file at that moment makes it fail at once with
    // `SQLITE_BUSY`: wait and retry, as the busy timeout would.
    let started = Instant::now();
    let mode: String = loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)) {
            Err(err) if is_busy(&err) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            result => break result.map_err(|e| fail("switching to WAL mode", e))?,
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::new(format!(
            "the database at `{}` could not be switched to WAL mode (it is in `{mode}` mode)",
            path.display()
        ))
        .with_hint("keep the database on a local file system, not a network share"));
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        .map_err(|e| fail("configuring the connection", e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction; a no-op when it is there.
pub(crate) fn migrate(path: &Path, conn: &mut Connection) -> Result<(), StoreError> {
    let fail = |doing: &str, err: rusqlite::Error| error::sqlite(path, doing, &err);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| fail("locking the database to check its schema", e))?;
    let version: i32 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| fail("reading the schema version", e))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::new(format!(
            "the database at `{}` has schema version {version}, newer than this Code Mesh \
             understands ({SCHEMA_VERSION})",
            path.display()
        ))
        .with_hint("upgrade Code Mesh, or point CODE_MESH_HOME at another directory"));
    }
    let start = usize::try_from(version).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        let to = index + 1;
        tx.execute_batch(sql)
            .map_err(|e| fail(&format!("migrating the schema to version {to}"), e))?;
        tracing::debug!(path = %path.display(), version = to, "migrated session store schema");
    }
    if version < SCHEMA_VERSION {
        // PRAGMA arguments cannot be bound; the value is a constant.
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(|e| fail("recording the schema version", e))?;
    }
    tx.commit()
        .map_err(|e| fail("committing the schema migration", e))
}
