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

/// A small seeded generator (SplitMix64) so that randomised tests repeat exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A float in `[0, 1)` with all 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
