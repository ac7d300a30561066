//! Opening, migrating, sharing and refusing databases.

use std::sync::{Arc, Barrier};
use std::thread;

use code_mesh_protocol::{Role, SessionId};
use code_mesh_store::{SCHEMA_VERSION, SqliteStore};
use pretty_assertions::assert_eq;

use crate::support::{event, message_added, new_session, temp_db, text_message};

fn pragma(path: &std::path::Path, name: &str) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("PRAGMA {name}"), [], |row| {
        row.get::<_, rusqlite::types::Value>(0)
    })
    .map(|value| format!("{value:?}"))
    .unwrap()
}

#[test]
fn opening_creates_parent_directories_and_a_wal_database() {
    let (dir, _) = temp_db();
    let path = dir.path().join("a").join("b").join("code-mesh.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert!(path.is_file());
    assert_eq!(pragma(&path, "journal_mode"), r#"Text("wal")"#);
    assert_eq!(
        pragma(&path, "user_version"),
        format!("Integer({SCHEMA_VERSION})")
    );
}

#[test]
fn opening_again_keeps_the_data_and_the_schema() {
    let (_dir, path) = temp_db();
    let first = SqliteStore::open(&path).unwrap();
    let id = first.create_session_blocking(new_session("/w")).unwrap().id;
    let message = text_message(1, Role::User, "hello", 1);
    first
        .append_event_blocking(&event(&id, 1, 2, message_added(message.clone())))
        .unwrap();
    let info = first.session_blocking(&id).unwrap();

    // A second open while the first is still open, then a third after both are gone.
    let second = SqliteStore::open(&path).unwrap();
    assert_eq!(second.session_blocking(&id).unwrap(), info);
    drop(first);
    drop(second);
    let third = SqliteStore::open(&path).unwrap();
    assert_eq!(third.session_blocking(&id).unwrap(), info);
    assert_eq!(third.messages_blocking(&id).unwrap(), vec![message]);
    assert_eq!(
        pragma(&path, "user_version"),
        format!("Integer({SCHEMA_VERSION})")
    );
}

#[test]
fn stores_opening_a_new_database_at_once_migrate_it_once() {
    let (_dir, path) = temp_db();
    let barrier = Arc::new(Barrier::new(4));
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                SqliteStore::open(&path).map(|_| ())
            })
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().unwrap();
    }
    assert_eq!(
        pragma(&path, "user_version"),
        format!("Integer({SCHEMA_VERSION})")
    );
}

#[test]
fn two_stores_on_one_file_append_from_two_threads() {
    let (_dir, path) = temp_db();
    let per_thread = 300;
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = (0..2)
        .map(|n| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || -> SessionId {
                let store = SqliteStore::open(&path).unwrap();
                let id = store
                    .create_session_blocking(new_session(&format!("/w{n}")))
                    .unwrap()
                    .id;
                barrier.wait();
                for seq in 1..=per_thread {
                    let text = format!("thread {n} message {seq}");
                    let message = text_message(seq, Role::User, &text, seq);
                    store
                        .append_event_blocking(&event(&id, seq, seq, message_added(message)))
                        .unwrap();
                    // Reads interleave with the other thread's writes.
                    if seq % 50 == 0 {
                        store.list_sessions_blocking(10).unwrap();
                    }
                }
                id
            })
        })
        .collect();
    let ids: Vec<SessionId> = writers.into_iter().map(|w| w.join().unwrap()).collect();

    let store = SqliteStore::open(&path).unwrap();
    for (n, id) in ids.iter().enumerate() {
        let info = store.session_blocking(id).unwrap().unwrap();
        assert_eq!(info.message_count, per_thread);
        assert_eq!(info.last_event_seq, per_thread);
        assert_eq!(info.title, format!("thread {n} message 1"));
        let seqs: Vec<u64> = store
            .messages_blocking(id)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, (1..=per_thread).collect::<Vec<_>>());
    }
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_a_hint() {
    let (dir, _) = temp_db();
    let path = dir.path().join("code-mesh.db");
    std::fs::write(&path, "this is not a database\n".repeat(200)).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.message.contains(&path.display().to_string()), "{err}");
    let hint = err.hint.unwrap();
    assert!(hint.contains("move it aside"), "{hint}");
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let (_dir, path) = temp_db();
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.message.contains("schema version 99"), "{err}");
    assert!(err.hint.unwrap().contains("upgrade"));
}

#[test]
fn a_directory_that_cannot_be_created_is_reported() {
    let (dir, _) = temp_db();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let err = SqliteStore::open(blocker.join("sub").join("code-mesh.db")).unwrap_err();
    assert!(
        err.message.contains(&blocker.display().to_string()),
        "{err}"
    );
    assert!(err.hint.is_some());
}
