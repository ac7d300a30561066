//! The rules `append_event` enforces.

use code_mesh_core::Store;
use code_mesh_protocol::{EventKind, Role, SessionId, TurnEndReason, TurnId, Usage};
use code_mesh_store::SqliteStore;
use pretty_assertions::assert_eq;

use crate::support::{event, message_added, new_session, temp_db, text_message};

fn warning(text: &str) -> EventKind {
    EventKind::Warning {
        message: text.to_owned(),
    }
}

#[test]
fn an_event_for_an_unknown_session_is_an_error_naming_the_database() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let missing = SessionId::from("ses_missing");
    let err = store
        .append_event_blocking(&event(&missing, 1, 10, warning("hi")))
        .unwrap_err();
    assert!(err.message.contains("ses_missing"), "{err}");
    assert!(err.message.contains("no such session"), "{err}");
    assert!(err.message.contains(&path.display().to_string()), "{err}");
    assert!(err.hint.is_some());
    assert_eq!(store.events_blocking(&missing).unwrap(), vec![]);
    assert_eq!(store.session_blocking(&missing).unwrap(), None);
    assert_eq!(store.messages_blocking(&missing).unwrap(), vec![]);
}

#[test]
fn seq_must_increase_but_may_skip_numbers() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store.create_session_blocking(new_session("/w")).unwrap().id;

    let err = store
        .append_event_blocking(&event(&id, 0, 10, warning("zero")))
        .unwrap_err();
    assert!(
        err.message.contains("not above the last stored one (0)"),
        "{err}"
    );

    store
        .append_event_blocking(&event(&id, 1, 10, warning("one")))
        .unwrap();
    // Transient events take seq numbers the store never sees.
    store
        .append_event_blocking(&event(&id, 4, 11, warning("four")))
        .unwrap();
    for seq in [4, 3, 1] {
        let err = store
            .append_event_blocking(&event(&id, seq, 12, warning("again")))
            .unwrap_err();
        assert!(
            err.message.contains("not above the last stored one (4)"),
            "{err}"
        );
    }

    let stored = store.events_blocking(&id).unwrap();
    assert_eq!(
        stored,
        vec![
            event(&id, 1, 10, warning("one")),
            event(&id, 4, 11, warning("four"))
        ]
    );
    assert_eq!(
        store.session_blocking(&id).unwrap().unwrap().last_event_seq,
        4
    );
}

#[test]
fn a_failed_append_stores_nothing() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store.create_session_blocking(new_session("/w")).unwrap().id;
    let first = text_message(1, Role::User, "first", 5);
    store
        .append_event_blocking(&event(&id, 1, 10, message_added(first.clone())))
        .unwrap();
    let before = store.session_blocking(&id).unwrap();

    // A second message with the same message seq: the event row goes in, then the message
    // insert fails, and the whole transaction must roll back.
    let duplicate = text_message(1, Role::User, "duplicate", 6);
    let err = store
        .append_event_blocking(&event(&id, 2, 20, message_added(duplicate)))
        .unwrap_err();
    assert!(err.message.contains("appending event 2"), "{err}");

    assert_eq!(store.session_blocking(&id).unwrap(), before);
    assert_eq!(store.messages_blocking(&id).unwrap(), vec![first.clone()]);
    assert_eq!(
        store.events_blocking(&id).unwrap(),
        vec![event(&id, 1, 10, message_added(first))]
    );
    // The seq is still free.
    store
        .append_event_blocking(&event(&id, 2, 30, warning("after")))
        .unwrap();
}

#[tokio::test]
async fn transient_events_are_ignored() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store.create_session(new_session("/w")).await.unwrap().id;
    let before = store.session(&id).await.unwrap();
    store
        .append_event(&event(
            &id,
            1,
            99,
            EventKind::TextDelta { delta: "x".into() },
        ))
        .await
        .unwrap();
    store
        .append_event_blocking(&event(
            &id,
            2,
            99,
            EventKind::ReasoningDelta { delta: "y".into() },
        ))
        .unwrap();
    // Ignored even for a session that does not exist.
    store
        .append_event(&event(
            &SessionId::from("ses_nope"),
            1,
            99,
            EventKind::TextDelta { delta: "x".into() },
        ))
        .await
        .unwrap();
    assert_eq!(store.session(&id).await.unwrap(), before);
    assert_eq!(store.events(&id).await.unwrap(), vec![]);
}

#[test]
fn events_update_model_usage_and_times() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let created = store.create_session_blocking(new_session("/w")).unwrap();
    let id = created.id.clone();
    let at = created.created_at + 1_000;
    let total = Usage {
        input_tokens: 1,
        output_tokens: 2,
        cache_read_tokens: 3,
        cache_write_tokens: 4,
        reasoning_tokens: 5,
        cost_usd: None,
    };
    let appends = [
        EventKind::SessionStarted {
            cwd: "/elsewhere".into(),
            workspace: "/other".into(),
            model: "ollama/qwen3".into(),
            resumed: true,
        },
        EventKind::UsageUpdated {
            usage: Usage::default(),
            session_total: total,
        },
        EventKind::TurnFinished {
            turn: TurnId(1),
            reason: TurnEndReason::Cancelled,
            steps: 1,
            usage: Usage::default(),
        },
    ];
    for (index, kind) in appends.into_iter().enumerate() {
        store
            .append_event_blocking(&event(&id, index as u64 + 1, at + index as u64, kind))
            .unwrap();
    }
    // An event stamped earlier (a clock stepping back) does not move `updated_at` back.
    store
        .append_event_blocking(&event(&id, 4, created.created_at, warning("late")))
        .unwrap();

    let mut expected = created.clone();
    // The session keeps the directory it was started in; the model follows the last start.
    expected.model = "ollama/qwen3".into();
    expected.usage = total;
    expected.updated_at = at + 2;
    expected.last_event_seq = 4;
    assert_eq!(store.session_blocking(&id).unwrap(), Some(expected));
}

#[test]
fn the_wal_is_checkpointed_in_the_background_not_by_appends() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store.create_session_blocking(new_session("/w")).unwrap().id;
    assert_eq!(store.background_checkpoints(), 0);
    let body = "x".repeat(2000);
    for seq in 1..=1000u64 {
        store
            .append_event_blocking(&event(&id, seq, seq, warning(&body)))
            .unwrap();
    }
    // Two requests were made (after 500 and 1,000 commits); wait for the thread, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.background_checkpoints() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(store.background_checkpoints() >= 1);
    assert_eq!(store.events_blocking(&id).unwrap().len(), 1000);
}

/// Appends from many threads at once are committed in groups; a bad event among them fails
/// alone and the others of its group are still stored, each exactly once and in order.
#[test]
fn concurrent_appends_commit_in_groups_and_a_bad_one_fails_alone() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let sessions: Vec<SessionId> = (0..12)
        .map(|_| store.create_session_blocking(new_session("/w")).unwrap().id)
        .collect();
    let missing = SessionId::from("ses_missing");
    std::thread::scope(|scope| {
        for id in &sessions {
            let store = store.clone();
            scope.spawn(move || {
                for seq in 1..=40 {
                    store
                        .append_event_blocking(&event(id, seq, seq, warning(&format!("{seq}"))))
                        .unwrap();
                }
            });
        }
        let store = store.clone();
        let missing = &missing;
        scope.spawn(move || {
            for seq in 1..=40 {
                let err = store
                    .append_event_blocking(&event(missing, seq, seq, warning("lost")))
                    .unwrap_err();
                assert!(err.message.contains("ses_missing"), "{err}");
            }
        });
    });
    for id in &sessions {
        let seqs: Vec<u64> = store
            .events_blocking(id)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
        assert_eq!(
            store.session_blocking(id).unwrap().unwrap().last_event_seq,
            40
        );
    }
    assert_eq!(store.events_blocking(&missing).unwrap(), vec![]);
}
