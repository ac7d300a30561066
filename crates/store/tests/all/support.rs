//! Builders shared by the tests.

use std::path::PathBuf;

use code_mesh_core::NewSession;
use code_mesh_protocol::{Event, EventKind, Message, Part, Role, SessionId};
use tempfile::TempDir;

/// A fresh directory and the database path inside it (not created yet).
pub fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("code-mesh.db");
    (dir, path)
}

pub fn new_session(cwd: &str) -> NewSession {
    NewSession {
        cwd: cwd.to_owned(),
        workspace: "/repo".to_owned(),
        model: "anthropic/claude-sonnet-4-5".to_owned(),
        ..NewSession::default()
    }
}

pub fn event(session_id: &SessionId, seq: u64, at: u64, kind: EventKind) -> Event {
    Event {
        seq,
        session_id: session_id.clone(),
        at,
        kind,
    }
}

pub fn text_message(seq: u64, role: Role, text: &str, created_at: u64) -> Message {
    Message {
        seq,
        role,
        parts: vec![Part::Text {
            text: text.to_owned(),
        }],
        model: None,
        usage: None,
        interrupted: false,
        created_at,
    }
}

pub fn message_added(message: Message) -> EventKind {
    EventKind::MessageAdded { message }
}
