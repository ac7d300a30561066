//! Writing whole sessions (fork, import), deleting them, sub-agent children, the context
//! state, and the lessons `task_outcome_recorded` leaves in memory.

use code_mesh_core::{NewSession, RecordedEvent, SessionState, Store, lesson_memory};
use code_mesh_protocol::{
    CompactionMode, ContextState, ContextSummary, EventKind, Lesson, MemoryQuery, Role, SessionId,
    SessionInfo, TaskOutcome, Usage,
};
use code_mesh_store::SqliteStore;
use pretty_assertions::assert_eq;

use crate::support::{event, message_added, new_session, temp_db, text_message};

fn recorded(at: u64, kind: EventKind) -> RecordedEvent {
    RecordedEvent { at, kind }
}

fn started(model: &str) -> EventKind {
    EventKind::SessionStarted {
        cwd: "/w".into(),
        workspace: "/repo".into(),
        model: model.into(),
        resumed: false,
    }
}

fn compacted(mode: CompactionMode, through_seq: u64, summary: Option<&str>) -> EventKind {
    EventKind::ContextCompacted {
        mode,
        through_seq,
        summary: summary.map(str::to_owned),
        pruned_outputs: 3,
        tokens_before: 1000,
        tokens_after: 400,
    }
}

fn child_of(parent: &SessionId, agent: Option<&str>) -> NewSession {
    NewSession {
        parent_id: Some(parent.clone()),
        agent: agent.map(str::to_owned),
        ..new_session("/w")
    }
}

fn lesson(key: &str, content: &str) -> Lesson {
    Lesson {
        key: key.into(),
        content: content.into(),
    }
}

fn outcome(lessons: Vec<Lesson>) -> EventKind {
    EventKind::TaskOutcomeRecorded {
        outcome: TaskOutcome {
            task: "fix the build".into(),
            succeeded: true,
            test_commands: vec!["cargo test".into()],
            ..TaskOutcome::default()
        },
        lessons,
    }
}

fn all_memories(store: &SqliteStore) -> Vec<String> {
    let mut found: Vec<String> = store
        .recall_blocking(&MemoryQuery {
            include_expired: true,
            limit: 1000,
            ..MemoryQuery::default()
        })
        .unwrap()
        .into_iter()
        .map(|hit| hit.entry.memory.content)
        .collect();
    found.sort();
    found
}

fn session_count(store: &SqliteStore) -> usize {
    store.list_sessions_blocking(1000).unwrap().len()
}

#[test]
fn a_whole_session_is_written_numbered_from_one_without_transient_events() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let parent = store.create_session_blocking(new_session("/w")).unwrap().id;
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        cost_usd: Some(0.25),
        ..Usage::default()
    };
    let events = vec![
        recorded(
            100,
            EventKind::SessionForked {
                parent_id: parent.clone(),
                through_seq: 2,
            },
        ),
        recorded(101, EventKind::TextDelta { delta: "hi".into() }),
        recorded(
            102,
            message_added(text_message(1, Role::User, "copied prompt", 7)),
        ),
        recorded(103, EventKind::ReasoningDelta { delta: "hm".into() }),
        recorded(
            104,
            message_added(text_message(2, Role::Assistant, "copied answer", 8)),
        ),
        recorded(
            105,
            EventKind::UsageUpdated {
                usage,
                session_total: usage,
            },
        ),
        recorded(106, compacted(CompactionMode::Pruned, 1, None)),
    ];
    let info = store
        .create_session_with_events_blocking(child_of(&parent, None), events)
        .unwrap();
    let stored = store.events_blocking(&info.id).unwrap();
    let seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let ats: Vec<u64> = stored.iter().map(|e| e.at).collect();
    assert_eq!(ats, [100, 102, 104, 105, 106]);
    assert!(stored.iter().all(|e| e.session_id == info.id));

    assert_eq!(info.title, "copied prompt");
    assert_eq!(info.message_count, 2);
    assert_eq!(info.last_event_seq, 5);
    assert_eq!(info.usage, usage);
    // The later of the creation time and the last event's.
    assert_eq!(info.updated_at, info.created_at.max(106));
    assert_eq!(info.parent_id.as_ref(), Some(&parent));
    assert_eq!(info.agent, None);
    assert_eq!(
        store.session_blocking(&info.id).unwrap(),
        Some(info.clone())
    );

    let messages = store.messages_blocking(&info.id).unwrap();
    let context = store.context_state_blocking(&info.id).unwrap();
    assert_eq!(context.pruned_through, 1);
    assert_eq!(
        SessionState::replay(&stored).differences(&info, &messages, &context),
        vec![]
    );
}

#[test]
fn a_bad_event_in_the_middle_of_a_whole_session_stores_nothing() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let lessons = vec![lesson("test-command", "tests run with make check")];
    let too_big = Usage {
        input_tokens: u64::MAX,
        ..Usage::default()
    };
    // Each fails inside the transaction, after the session row and the first events (and a
    // lesson) were written.
    let bad_events = [
        // Two messages with one seq.
        message_added(text_message(1, Role::Assistant, "duplicate", 9)),
        // A number SQLite's integers cannot hold.
        EventKind::UsageUpdated {
            usage: too_big,
            session_total: too_big,
        },
    ];
    for bad in bad_events {
        let events = vec![
            recorded(1, started("openai/gpt-5")),
            recorded(2, message_added(text_message(1, Role::User, "prompt", 2))),
            recorded(3, outcome(lessons.clone())),
            recorded(4, bad),
            recorded(
                5,
                message_added(text_message(2, Role::Assistant, "after", 5)),
            ),
        ];
        let err = store
            .create_session_with_events_blocking(new_session("/w"), events)
            .unwrap_err();
        assert!(err.message.contains(&path.display().to_string()), "{err}");
        assert_eq!(session_count(&store), 0);
        assert_eq!(all_memories(&store), Vec::<String>::new());
        let conn = rusqlite::Connection::open(&path).unwrap();
        for table in ["sessions", "messages", "events", "memories"] {
            let rows: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .unwrap();
            assert_eq!(rows, 0, "{table}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_session_takes_its_sub_agents_recursively_but_keeps_its_forks() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let store: &dyn Store = &store;
    let root = store.create_session(new_session("/w")).await.unwrap().id;
    let tester = store
        .create_session(child_of(&root, Some("tester")))
        .await
        .unwrap()
        .id;
    let grandchild = store
        .create_session(child_of(&tester, Some("reviewer")))
        .await
        .unwrap()
        .id;
    let fork = store
        .create_session(child_of(&root, None))
        .await
        .unwrap()
        .id;
    // A sub-agent of the fork belongs to the fork, and a fork of the sub-agent to no one.
    let fork_agent = store
        .create_session(child_of(&fork, Some("coder")))
        .await
        .unwrap()
        .id;
    let fork_of_tester = store
        .create_session(child_of(&tester, None))
        .await
        .unwrap()
        .id;
    let other = store.create_session(new_session("/w")).await.unwrap().id;
    for (n, id) in [&root, &tester, &grandchild, &fork, &other]
        .into_iter()
        .enumerate()
    {
        let n = n as u64;
        store
            .append_event(&event(
                id,
                1,
                10 + n,
                message_added(text_message(1, Role::User, "work", 1)),
            ))
            .await
            .unwrap();
        store
            .append_event(&event(
                id,
                2,
                20 + n,
                compacted(CompactionMode::Pruned, 1, None),
            ))
            .await
            .unwrap();
    }

    assert!(store.delete_session(&root).await.unwrap());
    assert!(!store.delete_session(&root).await.unwrap());
    for gone in [&root, &tester, &grandchild] {
        assert_eq!(store.session(gone).await.unwrap(), None, "{gone}");
        assert_eq!(store.messages(gone).await.unwrap(), vec![]);
        assert_eq!(store.events(gone).await.unwrap(), vec![]);
        assert_eq!(
            store.context_state(gone).await.unwrap(),
            ContextState::default()
        );
    }
    let fork_info = store.session(&fork).await.unwrap().unwrap();
    assert_eq!(fork_info.parent_id, None);
    assert_eq!(store.messages(&fork).await.unwrap().len(), 1);
    assert_eq!(store.events(&fork).await.unwrap().len(), 2);
    let kept_agent = store.session(&fork_agent).await.unwrap().unwrap();
    assert_eq!(kept_agent.parent_id.as_ref(), Some(&fork));
    let orphan = store.session(&fork_of_tester).await.unwrap().unwrap();
    assert_eq!(orphan.parent_id, None);
    assert_eq!(store.messages(&other).await.unwrap().len(), 1);

    // No row of the deleted sessions is left behind.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for table in ["messages", "events"] {
        let stray: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {table} WHERE session_id NOT IN (SELECT id FROM sessions)"
                ),
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(stray, 0, "{table}");
    }
    assert_eq!(
        store.list_sessions(100).await.unwrap().len(),
        4,
        "fork, its agent, the tester's fork and the other session"
    );
}

#[test]
fn child_sessions_are_the_direct_children_oldest_first() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let root = store.create_session_blocking(new_session("/w")).unwrap().id;
    let children: Vec<SessionInfo> = (0..5)
        .map(|n| {
            let agent = (n % 2 == 0).then_some("tester");
            store
                .create_session_blocking(child_of(&root, agent))
                .unwrap()
        })
        .collect();
    store
        .create_session_blocking(child_of(&children[0].id, Some("reviewer")))
        .unwrap();
    store.create_session_blocking(new_session("/w")).unwrap();
    // Activity does not reorder them.
    store
        .append_event_blocking(&event(
            &children[0].id,
            1,
            u64::MAX >> 2,
            EventKind::Warning {
                message: "late".into(),
            },
        ))
        .unwrap();
    let listed: Vec<SessionId> = store
        .child_sessions_blocking(&root)
        .unwrap()
        .into_iter()
        .map(|info| info.id)
        .collect();
    let expected: Vec<SessionId> = children.iter().map(|info| info.id.clone()).collect();
    assert_eq!(listed, expected);
    assert_eq!(
        store
            .child_sessions_blocking(&children[0].id)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .child_sessions_blocking(&SessionId::from("ses_missing"))
            .unwrap(),
        vec![]
    );
}

#[test]
fn the_context_state_follows_pruning_and_summaries() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store.create_session_blocking(new_session("/w")).unwrap().id;
    let mut seq = 0;
    let mut push = |kind: EventKind| {
        seq += 1;
        store
            .append_event_blocking(&event(&id, seq, seq, kind))
            .unwrap();
        store.context_state_blocking(&id).unwrap()
    };
    assert_eq!(
        push(compacted(CompactionMode::Pruned, 4, None)),
        ContextState {
            pruned_through: 4,
            summary: None
        }
    );
    // Pruning never moves back.
    assert_eq!(
        push(compacted(CompactionMode::Pruned, 2, None)).pruned_through,
        4
    );
    let summary = |through_seq: u64, text: &str| {
        Some(ContextSummary {
            through_seq,
            text: text.into(),
        })
    };
    assert_eq!(
        push(compacted(CompactionMode::Summarized, 6, Some("## Goal\nA"))),
        ContextState {
            pruned_through: 6,
            summary: summary(6, "## Goal\nA")
        }
    );
    // A later summary replaces the earlier; a pruning keeps it.
    assert_eq!(
        push(compacted(CompactionMode::Summarized, 9, Some("## Goal\nB"))),
        ContextState {
            pruned_through: 9,
            summary: summary(9, "## Goal\nB")
        }
    );
    assert_eq!(
        push(compacted(CompactionMode::Pruned, 12, None)),
        ContextState {
            pruned_through: 12,
            summary: summary(9, "## Goal\nB")
        }
    );
    // A summary without text still records how far it reaches.
    assert_eq!(
        push(compacted(CompactionMode::Summarized, 13, None)).summary,
        summary(13, "")
    );
    // It survives reopening.
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        reopened.context_state_blocking(&id).unwrap(),
        store.context_state_blocking(&id).unwrap()
    );
    assert_eq!(
        store
            .context_state_blocking(&SessionId::from("ses_missing"))
            .unwrap(),
        ContextState::default()
    );
}

#[test]
fn a_task_outcome_stores_its_lessons_as_project_memory_of_the_workspace() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store
        .create_session_blocking(new_session("/repo/sub"))
        .unwrap()
        .id;
    let first = lesson("test-command", "tests run with `make check`");
    let fix = lesson(
        "fix:make check",
        "`make check` needs `libfoo-dev` installed",
    );
    store
        .append_event_blocking(&event(
            &id,
            1,
            50,
            outcome(vec![first.clone(), fix.clone()]),
        ))
        .unwrap();
    let query = MemoryQuery {
        project: Some("/repo".into()),
        ..MemoryQuery::default()
    };
    let mut entries: Vec<_> = store
        .recall_blocking(&query)
        .unwrap()
        .into_iter()
        .map(|hit| hit.entry)
        .collect();
    entries.sort_by_key(|entry| entry.id);
    let memories: Vec<_> = entries.iter().map(|entry| entry.memory.clone()).collect();
    assert_eq!(
        memories,
        vec![
            lesson_memory(&first, "/repo", &id),
            lesson_memory(&fix, "/repo", &id)
        ]
    );
    assert!(entries.iter().all(|entry| entry.created_at == 50));

    // A newer lesson with the same key replaces the older, from any session of the project.
    let later = store
        .create_session_blocking(new_session("/repo"))
        .unwrap()
        .id;
    let newer = lesson("test-command", "tests run with `make test`");
    store
        .append_event_blocking(&event(&later, 1, 60, outcome(vec![newer.clone()])))
        .unwrap();
    assert_eq!(
        all_memories(&store),
        [
            "`make check` needs `libfoo-dev` installed",
            "tests run with `make test`"
        ]
    );
    // Other projects do not see them.
    let elsewhere = MemoryQuery {
        project: Some("/other".into()),
        ..MemoryQuery::default()
    };
    assert_eq!(store.recall_blocking(&elsewhere).unwrap(), vec![]);
}

#[test]
fn a_failing_task_outcome_append_stores_neither_the_event_nor_its_lessons() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store.create_session_blocking(new_session("/w")).unwrap().id;
    // Make the second lesson's insert fail, after the event and the first lesson went in.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON memories WHEN new.content = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();
    let err = store
        .append_event_blocking(&event(
            &id,
            1,
            5,
            outcome(vec![lesson("a", "fine lesson"), lesson("b", "boom")]),
        ))
        .unwrap_err();
    assert!(err.message.contains("refused by the test"), "{err}");
    assert_eq!(store.events_blocking(&id).unwrap(), vec![]);
    assert_eq!(
        store.session_blocking(&id).unwrap().unwrap().last_event_seq,
        0
    );
    assert_eq!(all_memories(&store), Vec::<String>::new());

    // The same seq succeeds once the lessons can be stored.
    store
        .append_event_blocking(&event(&id, 1, 5, outcome(vec![lesson("a", "fine lesson")])))
        .unwrap();
    assert_eq!(all_memories(&store), ["fine lesson"]);
    assert_eq!(store.events_blocking(&id).unwrap().len(), 1);
}
