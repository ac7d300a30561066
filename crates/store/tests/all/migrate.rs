//! Upgrading databases written by earlier versions: users have version 1 databases full of
//! sessions, and opening one with this build must keep every row.

use code_mesh_core::{SessionState, lesson_memory};
use code_mesh_protocol::{
    CompactionMode, ContextState, ContextSummary, Event, EventKind, Lesson, MemoryKind,
    MemoryQuery, MemoryScope, Role, SessionId, SessionInfo, Usage,
};
use code_mesh_store::{SCHEMA_VERSION, SqliteStore};
use pretty_assertions::assert_eq;
use rusqlite::{Connection, params};

use crate::support::{event, message_added, temp_db, text_message};

/// The schema as version 1 shipped it (`MIGRATIONS[0]` of `schema.rs`, commit e258ccf), frozen
/// here: it is what existing databases hold, whatever later versions do to the migrations.
const VERSION_1: &str = "
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
";

/// One session of a version 1 database: its row and its events, written the way version 1
/// wrote them (the state columns kept by each append).
struct V1Session {
    info: SessionInfo,
    events: Vec<Event>,
}

fn v1_session(id: &str, parent: Option<&str>, prompts: &[&str], base: u64) -> V1Session {
    let id = SessionId::from(id);
    let mut events = vec![event(
        &id,
        1,
        base,
        EventKind::SessionStarted {
            cwd: "/repo/sub".into(),
            workspace: "/repo".into(),
            model: "openai/gpt-5".into(),
            resumed: false,
        },
    )];
    let mut seq = 1;
    let mut message_seq = 0;
    for prompt in prompts {
        for (role, text) in [
            (Role::User, (*prompt).to_owned()),
            (Role::Assistant, format!("Done: {prompt}")),
        ] {
            seq += 1;
            message_seq += 1;
            events.push(event(
                &id,
                seq,
                base + seq,
                message_added(text_message(message_seq, role, &text, base + seq)),
            ));
        }
    }
    let usage = Usage {
        input_tokens: 1500,
        output_tokens: 120,
        cache_read_tokens: 1000,
        cache_write_tokens: 10,
        reasoning_tokens: 7,
        cost_usd: Some(0.0125),
    };
    seq += 1;
    events.push(event(
        &id,
        seq,
        base + seq,
        EventKind::UsageUpdated {
            usage,
            session_total: usage,
        },
    ));
    let state = SessionState::replay(&events);
    let info = SessionInfo {
        id: id.clone(),
        cwd: "/repo/sub".into(),
        workspace: "/repo".into(),
        title: state.title.clone(),
        model: state.model.clone(),
        created_at: base,
        updated_at: state.updated_at,
        message_count: state.messages.len() as u64,
        last_event_seq: state.last_event_seq,
        usage: state.usage,
        parent_id: parent.map(SessionId::from),
        agent: None,
    };
    V1Session { info, events }
}

/// Writes `sessions` into a new version 1 database at `path`, as version 1 would have.
fn write_v1_database(path: &std::path::Path, sessions: &[V1Session]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut conn = Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
        .unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute_batch(VERSION_1).unwrap();
    tx.execute_batch("PRAGMA user_version = 1").unwrap();
    for session in sessions {
        let info = &session.info;
        tx.execute(
            "INSERT INTO sessions (id, parent_id, cwd, workspace, title, model, created_at, \
             updated_at, message_count, last_event_seq, input_tokens, output_tokens, \
             cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                info.id.as_str(),
                info.parent_id.as_ref().map(SessionId::as_str),
                info.cwd,
                info.workspace,
                info.title,
                info.model,
                info.created_at,
                info.updated_at,
                info.message_count,
                info.last_event_seq,
                info.usage.input_tokens,
                info.usage.output_tokens,
                info.usage.cache_read_tokens,
                info.usage.cache_write_tokens,
                info.usage.reasoning_tokens,
                info.usage.cost_usd,
            ],
        )
        .unwrap();
        for event in &session.events {
            tx.execute(
                "INSERT INTO events (session_id, seq, type, body, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    info.id.as_str(),
                    event.seq,
                    event.kind.name(),
                    serde_json::to_string(&event.kind).unwrap(),
                    event.at
                ],
            )
            .unwrap();
            if let EventKind::MessageAdded { message } = &event.kind {
                let role = serde_json::to_value(message.role).unwrap();
                tx.execute(
                    "INSERT INTO messages (session_id, seq, role, body, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        info.id.as_str(),
                        message.seq,
                        role.as_str().unwrap(),
                        serde_json::to_string(message).unwrap(),
                        message.created_at
                    ],
                )
                .unwrap();
            }
        }
    }
    tx.execute(
        "INSERT INTO response_cache (key, value, created_at) VALUES ('digest', 'answer', 5)",
        [],
    )
    .unwrap();
    tx.commit().unwrap();
}

fn v1_sessions() -> Vec<V1Session> {
    vec![
        v1_session(
            "ses_old1",
            None,
            &["fix the parser", "now add tests"],
            1_700_000_000_000,
        ),
        v1_session(
            "ses_old2",
            Some("ses_old1"),
            &["a fork of it"],
            1_700_000_100_000,
        ),
        v1_session("ses_old3", None, &[], 1_700_000_200_000),
    ]
}

#[test]
fn a_version_1_database_is_upgraded_keeping_every_session_message_and_event() {
    let (_dir, path) = temp_db();
    let old = v1_sessions();
    write_v1_database(&path, &old);

    let store = SqliteStore::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let cached: String = conn
        .query_row(
            "SELECT value FROM response_cache WHERE key = 'digest'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(cached, "answer");

    for session in &old {
        let id = &session.info.id;
        // The new columns take their defaults: no agent, an empty context state.
        assert_eq!(
            store.session_blocking(id).unwrap().as_ref(),
            Some(&session.info)
        );
        assert_eq!(store.events_blocking(id).unwrap(), session.events);
        let replayed = SessionState::replay(&session.events);
        let messages = store.messages_blocking(id).unwrap();
        assert_eq!(messages, replayed.messages);
        let context = store.context_state_blocking(id).unwrap();
        assert_eq!(context, ContextState::default());
        assert_eq!(
            replayed.differences(&session.info, &messages, &context),
            vec![]
        );
    }
    let listed: Vec<SessionId> = store
        .list_sessions_blocking(10)
        .unwrap()
        .into_iter()
        .map(|info| info.id)
        .collect();
    assert_eq!(
        listed,
        ["ses_old3", "ses_old2", "ses_old1"].map(SessionId::from)
    );
    assert_eq!(
        store
            .child_sessions_blocking(&SessionId::from("ses_old1"))
            .unwrap(),
        vec![old[1].info.clone()]
    );
}

#[test]
fn an_upgraded_database_takes_new_events_memories_and_deletes() {
    let (_dir, path) = temp_db();
    let old = v1_sessions();
    write_v1_database(&path, &old);
    let store = SqliteStore::open(&path).unwrap();
    let id = old[0].info.id.clone();
    let next = old[0].info.last_event_seq + 1;

    store
        .append_event_blocking(&event(
            &id,
            next,
            1_800_000_000_000,
            EventKind::ContextCompacted {
                mode: CompactionMode::Summarized,
                through_seq: 2,
                summary: Some("## Goal\nfix the parser".into()),
                pruned_outputs: 0,
                tokens_before: 900,
                tokens_after: 300,
            },
        ))
        .unwrap();
    let lesson = Lesson {
        key: "test-command".into(),
        content: "the tests run with `cargo nextest run`".into(),
    };
    store
        .append_event_blocking(&event(
            &id,
            next + 1,
            1_800_000_000_001,
            EventKind::TaskOutcomeRecorded {
                outcome: Default::default(),
                lessons: vec![lesson.clone()],
            },
        ))
        .unwrap();
    assert_eq!(
        store.context_state_blocking(&id).unwrap(),
        ContextState {
            pruned_through: 2,
            summary: Some(ContextSummary {
                through_seq: 2,
                text: "## Goal\nfix the parser".into()
            })
        }
    );
    let hits = store
        .recall_blocking(&MemoryQuery {
            text: Some("which test command".into()),
            project: Some("/repo".into()),
            ..MemoryQuery::default()
        })
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].entry.memory, lesson_memory(&lesson, "/repo", &id));
    assert_eq!(hits[0].entry.memory.scope, MemoryScope::Project);
    assert_eq!(hits[0].entry.memory.kind, MemoryKind::Lesson);

    // The version 1 foreign keys still hold: the fork survives its parent.
    assert!(store.delete_session_blocking(&id).unwrap());
    assert_eq!(store.messages_blocking(&id).unwrap(), vec![]);
    assert_eq!(store.events_blocking(&id).unwrap(), vec![]);
    let fork = store.session_blocking(&old[1].info.id).unwrap().unwrap();
    assert_eq!(fork.parent_id, None);
    assert_eq!(store.messages_blocking(&fork.id).unwrap().len(), 2);
    // The lesson outlives the session that recorded it.
    assert_eq!(
        store
            .recall_blocking(&MemoryQuery {
                text: Some("nextest".into()),
                ..MemoryQuery::default()
            })
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn two_stores_opening_a_version_1_database_at_once_upgrade_it_once() {
    let (_dir, path) = temp_db();
    let old = v1_sessions();
    write_v1_database(&path, &old);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let openers: Vec<_> = (0..3)
        .map(|_| {
            let path = path.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                SqliteStore::open(&path).map(|_| ())
            })
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    for session in &old {
        assert_eq!(
            store.events_blocking(&session.info.id).unwrap(),
            session.events
        );
    }
}
