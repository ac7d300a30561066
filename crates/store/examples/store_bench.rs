//! Measures the store operations with performance targets (DESIGN.md): appending an event
//! (target: under 0.2 ms) and resuming a 10,000-message session (target: under 50 ms), and the
//! same at 100,000 messages.
//!
//! Run: `cargo run -p code-mesh-store --release --example store_bench [-- SIZES...]`
//! (`SIZES` default to `10000 100000`; `bench/store.sh` runs this and `memory_bench`).
//!
//! First it appends 10,000 `message_added` events (user prompts, assistant answers with a tool
//! call, tool results: about 0.5 KB of JSON each on average) three ways — the synchronous API,
//! the async `Store` trait (`spawn_blocking`), and, for comparison, a dedicated writer thread
//! fed by a channel — then reopens the database and loads the history.
//!
//! Then, for each size, it writes a session of that many messages, measures appends to it
//! (messages and the other stored events a turn produces) and resuming it the way the engine
//! does: open the store afresh, `session`, `messages`, `context_state`.

use std::error::Error;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use code_mesh_core::{NewSession, RecordedEvent, Store, StoreError};
use code_mesh_protocol::{
    Event, EventKind, Message, Part, Role, SessionId, ToolCall, ToolResult, TurnEndReason, TurnId,
    Usage,
};
use code_mesh_store::SqliteStore;
use tokio::sync::oneshot;

const MESSAGES: u64 = 10_000;

fn message(seq: u64) -> Message {
    let (role, parts) = match seq % 3 {
        1 => (
            Role::User,
            vec![Part::Text {
                text: format!(
                    "Step {seq}: look at src/lib.rs and tell me what the parser does with nested blocks."
                ),
            }],
        ),
        2 => (
            Role::Assistant,
            vec![
                Part::Text {
                    text: format!(
                        "Let me read the file first. {}",
                        "Some reasoning about the code. ".repeat(8)
                    ),
                },
                Part::ToolCall(ToolCall {
                    call_id: format!("call_{seq}"),
                    name: "read".to_owned(),
                    arguments: r#"{"path":"src/lib.rs","offset":0,"limit":200}"#.to_owned(),
                    signature: None,
                }),
            ],
        ),
        _ => (
            Role::Tool,
            vec![Part::ToolResult(ToolResult {
                call_id: format!("call_{}", seq - 1),
                name: "read".to_owned(),
                output: "fn parse(input: &str) -> Result<Ast, Error> { parse_expression(input) }\n"
                    .repeat(12),
                is_error: false,
            })],
        ),
    };
    let assistant = role == Role::Assistant;
    Message {
        seq,
        role,
        parts,
        model: assistant.then(|| "anthropic/claude-sonnet-4-5".to_owned()),
        usage: assistant.then(|| Usage {
            input_tokens: 1200,
            output_tokens: 80,
            ..Usage::default()
        }),
        interrupted: false,
        created_at: 1_764_245_000_000 + seq,
    }
}

fn event(id: &SessionId, seq: u64) -> Event {
    Event {
        seq,
        session_id: id.clone(),
        at: 1_764_245_000_000 + seq,
        kind: EventKind::MessageAdded {
            message: message(seq),
        },
    }
}

fn new_session(label: &str) -> NewSession {
    NewSession {
        cwd: format!("/bench/{label}"),
        workspace: "/bench".to_owned(),
        model: "anthropic/claude-sonnet-4-5".to_owned(),
        ..NewSession::default()
    }
}

/// Prints mean, median, 99th percentile and worst of per-append latencies.
fn report(label: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let total: Duration = latencies.iter().sum();
    let mean = total / latencies.len().max(1) as u32;
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "append ({label}): mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs, max {:.2} ms over {} events",
        mean.as_secs_f64() * 1e6,
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        at(1.0).as_secs_f64() * 1e3,
        latencies.len(),
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    compare_append_designs()?;
    for size in sizes {
        at_scale(size)?;
    }
    Ok(())
}

fn compare_append_designs() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("code-mesh.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;

    let store = SqliteStore::open(&path)?;

    // 1. The synchronous API, on this thread.
    let sync_id = store.create_session_blocking(new_session("sync"))?.id;
    let mut latencies = Vec::with_capacity(MESSAGES as usize);
    for seq in 1..=MESSAGES {
        let event = event(&sync_id, seq);
        let started = Instant::now();
        store.append_event_blocking(&event)?;
        latencies.push(started.elapsed());
    }
    report("sync API", latencies);

    // 2. The async Store trait, as the engine calls it.
    let trait_store: Arc<dyn Store> = Arc::new(store.clone());
    let async_id = runtime
        .block_on(trait_store.create_session(new_session("async")))?
        .id;
    let latencies = runtime.block_on(async {
        let mut latencies = Vec::with_capacity(MESSAGES as usize);
        for seq in 1..=MESSAGES {
            let event = event(&async_id, seq);
            let started = Instant::now();
            trait_store.append_event(&event).await?;
            latencies.push(started.elapsed());
        }
        Ok::<_, StoreError>(latencies)
    })?;
    report("async Store trait, spawn_blocking", latencies);

    // 3. The alternative design: one writer thread fed by a channel, oneshot replies.
    type Job = (Event, oneshot::Sender<Result<(), StoreError>>);
    let (jobs, inbox) = mpsc::channel::<Job>();
    let writer_store = store.clone();
    let writer = std::thread::spawn(move || {
        for (event, reply) in inbox {
            let _ = reply.send(writer_store.append_event_blocking(&event));
        }
    });
    let thread_id = store.create_session_blocking(new_session("thread"))?.id;
    let latencies = runtime.block_on(async {
        let mut latencies = Vec::with_capacity(MESSAGES as usize);
        for seq in 1..=MESSAGES {
            let event = event(&thread_id, seq);
            let started = Instant::now();
            let (reply, answer) = oneshot::channel();
            jobs.send((event, reply))
                .map_err(|_| StoreError::new("writer thread gone"))?;
            answer
                .await
                .map_err(|_| StoreError::new("writer thread gone"))??;
            latencies.push(started.elapsed());
        }
        Ok::<_, StoreError>(latencies)
    })?;
    report("async, dedicated writer thread", latencies);
    drop(jobs);
    let _ = writer.join();
    drop(trait_store);
    drop(store);

    let size = std::fs::metadata(&path)?.len()
        + std::fs::metadata(dir.path().join("code-mesh.db-wal")).map_or(0, |m| m.len());
    println!(
        "database: {:.1} MiB (with WAL) for 3 x {MESSAGES} messages and events",
        size as f64 / (1024.0 * 1024.0)
    );

    // Resume: open the file afresh, read the session, load its history.
    let started = Instant::now();
    let store = SqliteStore::open(&path)?;
    let opened = started.elapsed();
    let started = Instant::now();
    let info = store
        .session_blocking(&sync_id)?
        .ok_or_else(|| StoreError::new("session vanished"))?;
    let messages = store.messages_blocking(&sync_id)?;
    let loaded = started.elapsed();
    assert_eq!(messages.len() as u64, info.message_count);
    println!(
        "resume (sync API): open {:.2} ms, session + {} messages {:.2} ms, total {:.2} ms",
        opened.as_secs_f64() * 1e3,
        messages.len(),
        loaded.as_secs_f64() * 1e3,
        (opened + loaded).as_secs_f64() * 1e3,
    );

    let trait_store: Arc<dyn Store> = Arc::new(store.clone());
    let (loaded, count) = runtime.block_on(async {
        let started = Instant::now();
        trait_store.session(&async_id).await?;
        let messages = trait_store.messages(&async_id).await?;
        Ok::<_, StoreError>((started.elapsed(), messages.len()))
    })?;
    println!(
        "resume (async Store trait): session + {count} messages {:.2} ms",
        loaded.as_secs_f64() * 1e3
    );

    let started = Instant::now();
    let events = store.events_blocking(&sync_id)?;
    println!(
        "replay: {} events loaded in {:.2} ms",
        events.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// The events a turn stores besides its messages, cycled through by the scaled append test.
fn turn_event(seq: u64) -> EventKind {
    match seq % 4 {
        0 => EventKind::TurnStarted {
            turn: TurnId(seq as u32),
        },
        1 => EventKind::ToolCallFinished {
            call_id: format!("call_{seq}"),
            name: "bash".to_owned(),
            output: "test result: ok. 42 passed; 0 failed\n".repeat(4),
            is_error: false,
            duration_ms: 1200,
        },
        2 => {
            let usage = Usage {
                input_tokens: 1200 * seq,
                output_tokens: 80 * seq,
                cost_usd: Some(0.000_003 * seq as f64),
                ..Usage::default()
            };
            EventKind::UsageUpdated {
                usage,
                session_total: usage,
            }
        }
        _ => EventKind::TurnFinished {
            turn: TurnId(seq as u32),
            reason: TurnEndReason::Completed,
            steps: 3,
            usage: Usage::default(),
        },
    }
}

/// Appends to and resumes a session of `size` messages.
fn at_scale(size: u64) -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("code-mesh.db");
    let store = SqliteStore::open(&path)?;
    let started = Instant::now();
    let recorded: Vec<RecordedEvent> = (1..=size)
        .map(|seq| RecordedEvent {
            at: 1_764_245_000_000 + seq,
            kind: EventKind::MessageAdded {
                message: message(seq),
            },
        })
        .collect();
    let id = store
        .create_session_with_events_blocking(new_session("scale"), recorded)?
        .id;
    println!(
        "\n{size} messages: written in one transaction in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // Appends as a turn makes them: every other event a message, the rest turn events.
    const APPENDS: u64 = 2_000;
    let mut messages = Vec::new();
    let mut others = Vec::new();
    for n in 1..=APPENDS {
        let seq = size + n;
        let (kind, into) = if n % 2 == 0 {
            let message_seq = size + n / 2;
            (
                EventKind::MessageAdded {
                    message: message(message_seq),
                },
                &mut messages,
            )
        } else {
            (turn_event(n), &mut others)
        };
        let event = Event {
            seq,
            session_id: id.clone(),
            at: 1_764_245_000_000 + seq,
            kind,
        };
        let started = Instant::now();
        store.append_event_blocking(&event)?;
        into.push(started.elapsed());
    }
    report(&format!("message_added, session of {size}"), messages);
    report(&format!("other events, session of {size}"), others);
    drop(store);

    let size_mib = (std::fs::metadata(&path)?.len()
        + std::fs::metadata(dir.path().join("code-mesh.db-wal")).map_or(0, |m| m.len()))
        as f64
        / (1024.0 * 1024.0);
    println!("database: {size_mib:.1} MiB with WAL");

    // Resume as `Session::open` does, five times; the page cache is warm after the first.
    let mut totals = Vec::new();
    for round in 0..5 {
        let started = Instant::now();
        let store = SqliteStore::open(&path)?;
        let opened = started.elapsed();
        let info = store
            .session_blocking(&id)?
            .ok_or_else(|| StoreError::new("session vanished"))?;
        let history = store.messages_blocking(&id)?;
        let loaded = started.elapsed();
        store.context_state_blocking(&id)?;
        let total = started.elapsed();
        assert_eq!(history.len() as u64, info.message_count);
        println!(
            "resume {round}: open {:.2} ms, + session and {} messages {:.2} ms, \
             + context state: total {:.2} ms",
            opened.as_secs_f64() * 1e3,
            history.len(),
            (loaded - opened).as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
        );
        totals.push(total);
    }
    totals.sort();
    println!(
        "resume {size}: median {:.2} ms, worst {:.2} ms",
        totals[2].as_secs_f64() * 1e3,
        totals[4].as_secs_f64() * 1e3
    );
    Ok(())
}
