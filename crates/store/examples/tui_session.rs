//! Writes a long session into a Code Mesh database, for measuring the terminal UI with a big
//! history open (`bench/tui.py`: peak memory and time to the first frame at 10,000 messages).
//!
//! Run: `cargo run -p code-mesh-store --release --example tui_session -- DATABASE MESSAGES CWD`
//! and it prints the new session's id. `DATABASE` is `$CODE_MESH_HOME/data/code-mesh.db` for
//! the binary to find it; `CWD` is the directory the session belongs to.
//!
//! The history is turns of three messages: the user's prompt, the assistant's answer (Markdown
//! with a list and a Rust code block) calling the `read` tool, and the tool's result. User
//! messages say `Step N:` with their number, so a script can tell the last one is on screen.
//! It is written in one transaction through the same path `sessions import` uses.

use std::error::Error;

use code_mesh_core::{NewSession, RecordedEvent};
use code_mesh_protocol::{
    EventKind, Message, Part, Role, ToolCall, ToolResult, TurnEndReason, TurnId, Usage,
};
use code_mesh_store::SqliteStore;

const MODEL: &str = "openai/bench-model";
const START: u64 = 1_764_245_000_000;

fn answer(seq: u64) -> String {
    format!(
        "## Step {seq}\n\nThe parser reads **nested blocks** one level at a time; `parse_block` \
         recurses and the *depth* is checked against the limit:\n\n\
         - `src/lib.rs`: the entry point\n- `src/block.rs`: the recursion\n\n\
         ```rust\nfn parse_block(input: &str, depth: usize) -> Result<Block, Error> {{\n    \
         if depth > MAX_DEPTH {{\n        return Err(Error::TooDeep);\n    }}\n    \
         let inner = parse_expression(input)?;\n    Ok(Block {{ inner, depth }})\n}}\n```\n\n\
         Let me read the test file next."
    )
}

fn message(seq: u64) -> Message {
    let call_id = format!("call_{}", seq / 3);
    let (role, parts) = match seq % 3 {
        1 => (
            Role::User,
            vec![Part::Text {
                text: format!(
                    "Step {seq}: look at src/lib.rs and tell me what the parser does with \
                     nested blocks."
                ),
            }],
        ),
        2 => (
            Role::Assistant,
            vec![
                Part::Text { text: answer(seq) },
                Part::ToolCall(ToolCall {
                    call_id,
                    name: "read".to_owned(),
                    arguments: r#"{"path":"tests/parse.rs","offset":0,"limit":200}"#.to_owned(),
                    signature: None,
                }),
            ],
        ),
        _ => (
            Role::Tool,
            vec![Part::ToolResult(ToolResult {
                call_id,
                name: "read".to_owned(),
                output: "#[test]\nfn nested() { assert!(parse(\"{{}}\").is_ok()); }\n".repeat(6),
                is_error: false,
            })],
        ),
    };
    let assistant = role == Role::Assistant;
    Message {
        seq,
        role,
        parts,
        model: assistant.then(|| MODEL.to_owned()),
        usage: assistant.then(|| Usage {
            input_tokens: 1_200,
            output_tokens: 80,
            ..Usage::default()
        }),
        interrupted: false,
        created_at: START + seq,
    }
}

/// The stored events of `messages` messages: each turn's start, its messages, its end.
fn events(messages: u64) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    let mut seq = 0;
    while seq < messages {
        let turn = TurnId(u32::try_from(seq / 3 + 1).unwrap_or(u32::MAX));
        events.push(RecordedEvent {
            at: START + seq,
            kind: EventKind::TurnStarted { turn },
        });
        while seq < messages {
            seq += 1;
            events.push(RecordedEvent {
                at: START + seq,
                kind: EventKind::MessageAdded {
                    message: message(seq),
                },
            });
            if seq % 3 == 0 {
                break;
            }
        }
        events.push(RecordedEvent {
            at: START + seq,
            kind: EventKind::TurnFinished {
                turn,
                reason: TurnEndReason::Completed,
                steps: 2,
                usage: Usage::default(),
            },
        });
    }
    events
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [database, messages, cwd] = args.as_slice() else {
        return Err("usage: tui_session DATABASE MESSAGES CWD \
                    (e.g. $CODE_MESH_HOME/data/code-mesh.db 10000 $PWD)"
            .into());
    };
    let messages: u64 = messages
        .parse()
        .map_err(|err| format!("MESSAGES must be a count of messages, not `{messages}`: {err}"))?;
    if let Some(dir) = std::path::Path::new(database).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let store = SqliteStore::open(database)?;
    let session = store.create_session_with_events_blocking(
        NewSession {
            cwd: cwd.clone(),
            workspace: cwd.clone(),
            model: MODEL.to_owned(),
            ..NewSession::default()
        },
        events(messages),
    )?;
    if session.message_count != messages {
        return Err(format!(
            "the store holds {} messages of the {messages} written",
            session.message_count
        )
        .into());
    }
    println!("{}", session.id);
    Ok(())
}
