//! The cross-check that the SQL in `apply.rs` mirrors [`SessionState::apply`]: long random
//! (seeded) event sequences go into the SQLite store and into core's `MemoryStore`, and each
//! session's stored state must equal what replaying its stored events gives, in both stores,
//! with the same messages, events, context and lessons in both.

use std::collections::HashMap;

use code_mesh_core::{MemoryBank, MemoryStore, NewSession, RecordedEvent, SessionState, Store};
use code_mesh_protocol::{
    CompactionMode, ErrorCode, Event, EventKind, Lesson, MemoryQuery, Message, NewMemory, Part,
    PermissionDecision, PermissionSource, Role, SessionId, SessionInfo, TaskOutcome, ToolCall,
    ToolKind, ToolResult, TurnEndReason, TurnId, Usage,
};
use code_mesh_store::SqliteStore;
use pretty_assertions::assert_eq;

use crate::support::{Rng, temp_db};

const WORDS: &[&str] = &[
    "fix",
    "the",
    "parser",
    "tests",
    "cargo",
    "build",
    "src/lib.rs",
    "naïve",
    "東京",
    "🙂",
    "error[E0308]:",
    "mismatched",
    "types",
    "\"quoted\"",
    "'single'",
    "back\\slash",
    "tab\there",
    "",
    " ",
    "\n",
    "\r\n",
    "…",
    "NULL",
    "0",
    "-1",
    "{\"json\":true}",
];

fn text(rng: &mut Rng, max_words: u64) -> String {
    let count = rng.below(max_words + 1);
    let mut out = String::new();
    for n in 0..count {
        if n > 0 {
            out.push_str(if rng.chance(10) { "\n" } else { " " });
        }
        out.push_str(rng.pick::<&str>(WORDS));
    }
    out
}

fn usage(rng: &mut Rng) -> Usage {
    // Costs as the catalogue computes them (price × tokens) and as arbitrary doubles: every
    // bit must survive both the JSON bodies and the REAL columns.
    let cost = match rng.below(4) {
        0 => None,
        1 => Some(rng.below(100_000) as f64 * 0.000_003 + rng.below(5_000) as f64 * 0.000_015),
        2 => Some(rng.unit() * 10.0),
        _ => Some(rng.unit()),
    };
    Usage {
        input_tokens: rng.below(1 << 40),
        output_tokens: rng.below(100_000),
        cache_read_tokens: rng.below(50_000),
        cache_write_tokens: rng.below(10),
        reasoning_tokens: rng.below(3),
        cost_usd: cost,
    }
}

fn part(rng: &mut Rng, n: u64) -> Part {
    match rng.below(5) {
        0 | 1 => Part::Text {
            text: text(rng, 30),
        },
        2 => Part::Reasoning {
            text: text(rng, 10),
            signature: rng.chance(50).then(|| "sig==".to_owned()),
            id: rng.chance(30).then(|| format!("rs_{n}")),
            redacted: rng.chance(10),
        },
        3 => Part::ToolCall(ToolCall {
            call_id: format!("call_{n}"),
            name: "bash".into(),
            arguments: if rng.chance(80) {
                r#"{"command":"cargo test"}"#.into()
            } else {
                "{not json".into()
            },
            signature: rng.chance(20).then(|| "thought".to_owned()),
        }),
        _ => Part::ToolResult(ToolResult {
            call_id: format!("call_{n}"),
            name: "bash".into(),
            output: text(rng, 50),
            is_error: rng.chance(30),
        }),
    }
}

fn message(rng: &mut Rng, seq: u64, at: u64) -> Message {
    let role = *rng.pick(&[Role::User, Role::User, Role::Assistant, Role::Tool]);
    let parts = (0..rng.below(4)).map(|n| part(rng, seq * 10 + n)).collect();
    let assistant = role == Role::Assistant;
    Message {
        seq,
        role,
        parts,
        model: (assistant && rng.chance(80)).then(|| "openai/gpt-5".to_owned()),
        usage: (assistant && rng.chance(80)).then(|| usage(rng)),
        interrupted: rng.chance(5),
        created_at: at,
    }
}

fn lessons(rng: &mut Rng) -> Vec<Lesson> {
    (0..rng.below(4))
        .map(|_| Lesson {
            key: (*rng.pick(&["test-command", "build-command", "fix:cargo test", "files"]))
                .to_owned(),
            content: format!("lesson {} {}", rng.below(1000), text(rng, 6)),
        })
        .collect()
}

/// The next event kind of a random session; `messages` counts its messages so far.
fn kind(rng: &mut Rng, messages: &mut u64, at: u64) -> EventKind {
    let turn = TurnId(rng.below(50) as u32);
    match rng.below(100) {
        0..=34 => {
            *messages += 1;
            EventKind::MessageAdded {
                message: message(rng, *messages, at),
            }
        }
        35..=44 => {
            let usage = usage(rng);
            EventKind::UsageUpdated {
                usage,
                session_total: usage,
            }
        }
        45..=49 => EventKind::SessionStarted {
            cwd: "/repo/sub".into(),
            workspace: "/repo".into(),
            model: (*rng.pick(&[
                "openai/gpt-5",
                "anthropic/claude-sonnet-4-5",
                "ollama/qwen3",
            ]))
            .to_owned(),
            resumed: rng.chance(50),
        },
        50..=56 => EventKind::ContextCompacted {
            mode: if rng.chance(50) {
                CompactionMode::Pruned
            } else {
                CompactionMode::Summarized
            },
            through_seq: rng.below(*messages + 1),
            summary: rng
                .chance(80)
                .then(|| format!("## Goal\n{}", text(rng, 20))),
            pruned_outputs: rng.below(10) as u32,
            tokens_before: rng.below(200_000),
            tokens_after: rng.below(50_000),
        },
        57..=61 => EventKind::TaskOutcomeRecorded {
            outcome: TaskOutcome {
                task: text(rng, 5),
                succeeded: rng.chance(50),
                test_commands: vec!["cargo test".into()],
                ..TaskOutcome::default()
            },
            lessons: lessons(rng),
        },
        62..=71 => EventKind::TextDelta {
            delta: text(rng, 3),
        },
        72..=74 => EventKind::ReasoningDelta {
            delta: text(rng, 3),
        },
        75..=77 => EventKind::ToolOutputDelta {
            call_id: "call_1".into(),
            delta: text(rng, 3),
        },
        78..=80 => EventKind::TurnStarted { turn },
        81..=83 => EventKind::TurnFinished {
            turn,
            reason: TurnEndReason::Completed,
            steps: 2,
            usage: usage(rng),
        },
        84..=86 => EventKind::ToolCallFinished {
            call_id: "call_1".into(),
            name: "bash".into(),
            output: text(rng, 10),
            is_error: rng.chance(50),
            duration_ms: rng.below(10_000),
        },
        87..=88 => EventKind::PermissionRequested {
            request_id: "req_1".into(),
            call_id: "call_1".into(),
            tool: "bash".into(),
            kind: ToolKind::Execute,
            summary: "run `cargo test`".into(),
        },
        89..=90 => EventKind::PermissionDecided {
            request_id: "req_1".into(),
            call_id: "call_1".into(),
            decision: PermissionDecision::AllowOnce,
            source: PermissionSource::Policy,
            rule: rng.chance(50).then(|| "default".to_owned()),
            remembered: Vec::new(),
        },
        91..=92 => EventKind::Error {
            code: ErrorCode::ProviderUnreachable,
            message: text(rng, 8),
            hint: None,
        },
        93..=94 => EventKind::Warning {
            message: text(rng, 8),
        },
        95..=96 => EventKind::RequestStarted {
            turn,
            step: 1,
            model: "openai/gpt-5".into(),
        },
        97 => EventKind::SessionForked {
            parent_id: SessionId::from("ses_elsewhere"),
            through_seq: rng.below(10),
        },
        98 => EventKind::ProviderRetry {
            provider: "openai".into(),
            attempt: 1,
            delay_ms: 500,
            message: text(rng, 4),
        },
        _ => EventKind::ResponseCacheHit {
            model: "openai/gpt-5".into(),
        },
    }
}

/// One random session's events: seq numbers with gaps (as transient events leave in the
/// engine), times that mostly move forward but sometimes step back (a clock change).
fn random_events(rng: &mut Rng, count: usize) -> Vec<RecordedEvent> {
    let mut at = 1_764_000_000_000 + rng.below(1_000_000);
    let mut messages = 0;
    (0..count)
        .map(|_| {
            at = if rng.chance(3) {
                at.saturating_sub(rng.below(5_000))
            } else {
                at + rng.below(3_000)
            };
            RecordedEvent {
                at,
                kind: kind(rng, &mut messages, at),
            }
        })
        .collect()
}

/// Everything both stores must agree on for one session (ids and creation times differ).
#[derive(Debug, PartialEq)]
struct Stored {
    info: SessionInfo,
    messages: Vec<Message>,
    events: Vec<(u64, u64, EventKind)>,
    context: code_mesh_protocol::ContextState,
}

async fn stored(store: &dyn Store, id: &SessionId) -> Stored {
    let info = store.session(id).await.unwrap().unwrap();
    let messages = store.messages(id).await.unwrap();
    let events = store.events(id).await.unwrap();
    let context = store.context_state(id).await.unwrap();
    let differences = SessionState::replay(&events).differences(&info, &messages, &context);
    assert_eq!(differences, vec![], "session {id}: {differences:#?}");
    Stored {
        info: SessionInfo {
            id: SessionId::from("ses_normalised"),
            // Both are the later of the creation time and the events' times; the creation
            // times differ between the stores.
            created_at: 0,
            updated_at: 0,
            ..info
        },
        messages,
        events: events.into_iter().map(|e| (e.seq, e.at, e.kind)).collect(),
        context,
    }
}

/// The lessons a store holds, with session ids replaced by their index in `ids`.
async fn memories(bank: &dyn MemoryBank, ids: &[SessionId]) -> Vec<NewMemory> {
    let mut found: Vec<NewMemory> = bank
        .recall(&MemoryQuery {
            include_expired: true,
            limit: 100_000,
            ..MemoryQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|hit| {
            let mut memory = hit.entry.memory;
            memory.source_session = memory.source_session.map(|id| {
                let index = ids.iter().position(|known| *known == id).unwrap();
                SessionId(format!("session {index}"))
            });
            memory
        })
        .collect();
    found.sort_by(|a, b| (&a.key, &a.content).cmp(&(&b.key, &b.content)));
    found
}

fn new_session() -> NewSession {
    NewSession {
        cwd: "/repo/sub".into(),
        workspace: "/repo".into(),
        model: "openai/gpt-5".into(),
        ..NewSession::default()
    }
}

/// Appends the sessions' events to `store` one by one, interleaving sessions as concurrent
/// sessions would, numbering each session's events with gaps for the transient ones.
async fn append_interleaved(
    store: &dyn Store,
    rng: &mut Rng,
    sessions: &[Vec<RecordedEvent>],
) -> Vec<SessionId> {
    let mut ids = Vec::new();
    for _ in sessions {
        ids.push(store.create_session(new_session()).await.unwrap().id);
    }
    let mut next = vec![0usize; sessions.len()];
    let mut seqs = vec![0u64; sessions.len()];
    while next.iter().zip(sessions).any(|(n, s)| *n < s.len()) {
        let index = rng.below(sessions.len() as u64) as usize;
        let Some(recorded) = sessions[index].get(next[index]) else {
            continue;
        };
        next[index] += 1;
        seqs[index] += 1 + u64::from(rng.chance(5));
        let event = Event {
            seq: seqs[index],
            session_id: ids[index].clone(),
            at: recorded.at,
            kind: recorded.kind.clone(),
        };
        store.append_event(&event).await.unwrap();
    }
    ids
}

async fn check_seed(seed: u64, sessions: usize, events: usize) {
    let mut rng = Rng::new(seed);
    let generated: Vec<Vec<RecordedEvent>> = (0..sessions)
        .map(|_| random_events(&mut rng, events))
        .collect();

    let (_dir, path) = temp_db();
    let sqlite = SqliteStore::open(&path).unwrap();
    let memory = MemoryStore::new();
    // The same interleaving and gaps in both stores.
    let sqlite_ids = append_interleaved(&sqlite, &mut Rng::new(seed ^ 1), &generated).await;
    let memory_ids = append_interleaved(&memory, &mut Rng::new(seed ^ 1), &generated).await;

    let mut reopened_ids = Vec::new();
    let reopened = SqliteStore::open(&path).unwrap();
    for (index, (sqlite_id, memory_id)) in sqlite_ids.iter().zip(&memory_ids).enumerate() {
        let in_sqlite = stored(&reopened, sqlite_id).await;
        let in_memory = stored(&memory, memory_id).await;
        assert_eq!(in_sqlite, in_memory, "seed {seed}, session {index}");
        let messages = generated[index]
            .iter()
            .filter(|r| matches!(r.kind, EventKind::MessageAdded { .. }))
            .count();
        assert_eq!(in_sqlite.messages.len(), messages);

        // Written whole (a fork or an import), the session comes out the same.
        let whole = reopened
            .create_session_with_events(new_session(), generated[index].clone())
            .await
            .unwrap();
        let in_whole = stored(&reopened, &whole.id).await;
        assert_eq!(in_whole.messages, in_sqlite.messages);
        assert_eq!(in_whole.context, in_sqlite.context);
        assert_eq!(in_whole.info.title, in_sqlite.info.title);
        assert_eq!(in_whole.info.usage, in_sqlite.info.usage);
        let kinds = |s: &Stored| s.events.iter().map(|e| e.2.clone()).collect::<Vec<_>>();
        assert_eq!(kinds(&in_whole), kinds(&in_sqlite));
        reopened_ids.push(whole.id);
    }

    // The lessons: project memory of the workspace, newest per key, from the same sessions.
    // (The whole copies re-recorded them, replacing the keyed entries with their own.)
    let whole_memory = MemoryStore::new();
    let mut whole_ids = Vec::new();
    for events in &generated {
        whole_ids.push(
            whole_memory
                .create_session_with_events(new_session(), events.clone())
                .await
                .unwrap()
                .id,
        );
    }
    assert_eq!(
        memories(&reopened, &reopened_ids).await,
        memories(&whole_memory, &whole_ids).await,
        "seed {seed}"
    );
    let lessons_in_memory = memories(&memory, &memory_ids).await;
    assert!(
        lessons_in_memory
            .iter()
            .all(|m| m.project.as_deref() == Some("/repo")),
        "{lessons_in_memory:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_state_equals_replayed_events_in_both_stores() {
    for seed in [1, 2, 3, 0x5EED, 20_251_127] {
        check_seed(seed, 4, 400).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_session_replays_to_its_stored_state() {
    check_seed(77, 1, 3_000).await;
}

/// Replaying catches a store that drifted from its events (so the check above can fail).
#[test]
fn replay_reports_a_tampered_store() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store.create_session_blocking(new_session()).unwrap().id;
    let mut rng = Rng::new(9);
    let mut messages = 0;
    let mut seq = 0;
    while messages < 5 {
        let at = 1000 + seq;
        let kind = kind(&mut rng, &mut messages, at);
        seq += 1;
        store
            .append_event_blocking(&Event {
                seq,
                session_id: id.clone(),
                at,
                kind,
            })
            .unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE sessions SET title = 'edited', message_count = message_count + 1, \
         context = '{\"pruned_through\":999}' WHERE id = ?1",
        [id.as_str()],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM messages WHERE session_id = ?1 AND seq = 2",
        [id.as_str()],
    )
    .unwrap();
    let info = store.session_blocking(&id).unwrap().unwrap();
    let differences = SessionState::replay(&store.events_blocking(&id).unwrap()).differences(
        &info,
        &store.messages_blocking(&id).unwrap(),
        &store.context_state_blocking(&id).unwrap(),
    );
    let fields: Vec<&str> = differences.iter().map(|d| d.field.as_str()).collect();
    let by_field: HashMap<&str, usize> = fields.iter().map(|f| (*f, 1)).collect();
    for field in ["title", "message count", "context", "message 2"] {
        assert!(
            by_field.contains_key(field),
            "{field} missing from {fields:?}"
        );
    }
}
