//! Several writers on one database at once: threads sharing a store, separate stores (separate
//! connections, as two processes have), and a real second process. Nothing may fail with
//! "database is locked" (the busy timeout covers the brief write locks) and nothing may be lost.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;

use code_mesh_protocol::{
    EventKind, Lesson, MemoryKind, MemoryQuery, MemoryScope, NewMemory, Role, SessionId,
    TaskOutcome,
};
use code_mesh_store::SqliteStore;
use pretty_assertions::assert_eq;

use crate::support::{event, message_added, new_session, temp_db, text_message};

const EVENTS: u64 = 200;

fn note(project: &str, content: String) -> NewMemory {
    NewMemory {
        scope: MemoryScope::Project,
        kind: MemoryKind::Fact,
        project: Some(project.to_owned()),
        agent: None,
        content,
        key: None,
        source_session: None,
        expires_at: None,
    }
}

/// Appends `EVENTS` events to `id` (messages, and every 20th a lesson under a shared key),
/// remembering a note every 10th and searching memory every 25th.
fn work(store: &SqliteStore, id: &SessionId, writer: &str) {
    for seq in 1..=EVENTS {
        let kind = if seq % 20 == 0 {
            EventKind::TaskOutcomeRecorded {
                outcome: TaskOutcome::default(),
                lessons: vec![Lesson {
                    key: "test-command".into(),
                    content: format!("{writer} says the tests run with make check{seq}"),
                }],
            }
        } else {
            let text = format!("{writer} message {seq}");
            message_added(text_message(seq, Role::User, &text, seq))
        };
        store
            .append_event_blocking(&event(id, seq, seq, kind))
            .unwrap_or_else(|err| panic!("{writer}, event {seq}: {err}"));
        if seq % 10 == 0 {
            store
                .remember_blocking(note("/repo", format!("{writer} note {seq} concurrency")))
                .unwrap_or_else(|err| panic!("{writer}, note {seq}: {err}"));
        }
        if seq % 25 == 0 {
            store
                .recall_blocking(&MemoryQuery {
                    text: Some("concurrency note".into()),
                    project: Some("/repo".into()),
                    ..MemoryQuery::default()
                })
                .unwrap_or_else(|err| panic!("{writer}, recall {seq}: {err}"));
            store.list_sessions_blocking(5).unwrap();
        }
    }
}

/// Checks that every writer's session and notes are complete, and that the shared lesson key
/// holds exactly one entry.
fn check(path: &Path, writers: &[(String, SessionId)]) {
    let store = SqliteStore::open(path).unwrap();
    for (writer, id) in writers {
        let info = store.session_blocking(id).unwrap().unwrap();
        assert_eq!(info.last_event_seq, EVENTS, "{writer}");
        assert_eq!(info.message_count, EVENTS - EVENTS / 20, "{writer}");
        assert_eq!(info.title, format!("{writer} message 1"));
        let seqs: Vec<u64> = store
            .events_blocking(id)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=EVENTS).collect::<Vec<_>>(), "{writer}");
        let notes = store
            .recall_blocking(&MemoryQuery {
                text: Some(format!("{writer} concurrency")),
                kinds: vec![MemoryKind::Fact],
                limit: 1000,
                ..MemoryQuery::default()
            })
            .unwrap()
            .into_iter()
            .filter(|hit| {
                hit.entry
                    .memory
                    .content
                    .starts_with(&format!("{writer} note"))
            })
            .count();
        assert_eq!(notes as u64, EVENTS / 10, "{writer}");
    }
    let lessons = store
        .recall_blocking(&MemoryQuery {
            kinds: vec![MemoryKind::Lesson],
            limit: 1000,
            ..MemoryQuery::default()
        })
        .unwrap();
    assert_eq!(lessons.len(), 1, "{lessons:#?}");
    let conn = rusqlite::Connection::open(path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    conn.execute(
        "INSERT INTO memories_fts(memories_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .unwrap();
}

#[test]
fn threads_on_two_stores_append_and_remember_at_once() {
    let (_dir, path) = temp_db();
    let stores = [
        SqliteStore::open(&path).unwrap(),
        SqliteStore::open(&path).unwrap(),
    ];
    let threads = 6;
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|n| {
            // Threads 0, 2, 4 share the first store's connections, 1, 3, 5 the second's.
            let store = stores[n % 2].clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let writer = format!("writer{n}");
                let id = store
                    .create_session_blocking(new_session(&format!("/{writer}")))
                    .unwrap()
                    .id;
                barrier.wait();
                work(&store, &id, &writer);
                (writer, id)
            })
        })
        .collect();
    let writers: Vec<(String, SessionId)> =
        workers.into_iter().map(|w| w.join().unwrap()).collect();
    check(&path, &writers);
}

const DB_VAR: &str = "CODE_MESH_STORE_TEST_SECOND_PROCESS_DB";

/// The second process: runs only when the parent sets the variable. It creates its session,
/// prints its id, waits for the parent's go (a line on stdin), works, and prints `done`.
#[test]
#[ignore = "run by `a_second_process_appends_and_remembers_at_the_same_time`"]
fn second_process_works_when_told() {
    let Ok(path) = std::env::var(DB_VAR) else {
        return;
    };
    let store = SqliteStore::open(path).unwrap();
    let id = store
        .create_session_blocking(new_session("/child"))
        .unwrap()
        .id;
    // Libtest may have printed the test's name on this line already.
    println!("session {id}");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    work(&store, &id, "child");
    println!("done");
}

#[test]
fn a_second_process_appends_and_remembers_at_the_same_time() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let parent_id = store
        .create_session_blocking(new_session("/parent"))
        .unwrap()
        .id;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "concurrency::second_process_works_when_told",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB_VAR, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let child_id = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_once("session ")
                .map(|(_, id)| SessionId::from(id))
        })
        .expect("the child reports its session");
    // Both start together.
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    work(&store, &parent_id, "parent");
    // Read to the end: closing the pipe early would fail the child's last prints.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|line| line == "done"),
        "the child did not finish its work: {rest:?}"
    );
    assert!(child.wait().unwrap().success());
    check(
        &path,
        &[("parent".into(), parent_id), ("child".into(), child_id)],
    );
}
