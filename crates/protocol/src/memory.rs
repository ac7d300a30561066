use serde::{Deserialize, Serialize};

use crate::SessionId;

/// Whose memory an entry belongs to. Session memory is the sessions themselves (their
/// histories, resumed and forked); these are the longer-lived kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemoryScope {
    /// Facts about one repository, shared by every agent working in it.
    Project,
    /// The user's preferences, across every project.
    Global,
    /// What one agent type learned in one repository (e.g. the Tester's notes).
    Agent,
}

impl MemoryScope {
    pub const ALL: [MemoryScope; 3] = [
        MemoryScope::Project,
        MemoryScope::Global,
        MemoryScope::Agent,
    ];

    /// The name used in JSON, config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            MemoryScope::Project => "project",
            MemoryScope::Global => "global",
            MemoryScope::Agent => "agent",
        }
    }

    pub fn from_name(name: &str) -> Option<MemoryScope> {
        MemoryScope::ALL
            .into_iter()
            .find(|scope| scope.name() == name)
    }
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// Something true of the project or the world ("the API lives in crates/server").
    Fact,
    /// How the user wants things done ("use tabs", "answer in French").
    Preference,
    /// What the learning engine drew from a finished task ("tests run with `pytest -q`").
    Lesson,
}

impl MemoryKind {
    pub const ALL: [MemoryKind; 3] = [MemoryKind::Fact, MemoryKind::Preference, MemoryKind::Lesson];

    pub fn name(self) -> &'static str {
        match self {
            MemoryKind::Fact => "fact",
            MemoryKind::Preference => "preference",
            MemoryKind::Lesson => "lesson",
        }
    }

    pub fn from_name(name: &str) -> Option<MemoryKind> {
        MemoryKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// An entry to store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewMemory {
    pub scope: MemoryScope,
    pub kind: MemoryKind,
    /// The repository root, for project and agent entries; `None` for global ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The agent type, for agent entries (e.g. "coder", "tester").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub content: String,
    /// Replaces the entry of the same scope, project, agent and key instead of adding another
    /// (the learning engine keys lessons so a repeated lesson updates rather than piles up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The session that recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_session: Option<SessionId>,
    /// Milliseconds since the Unix epoch after which the entry is ignored (and later removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// A stored entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryEntry {
    pub id: u64,
    #[serde(flatten)]
    pub memory: NewMemory,
    /// Milliseconds since the Unix epoch; updated when a keyed entry is replaced.
    pub created_at: u64,
}

/// What to look for in memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryQuery {
    /// Words to search for (full-text, ranked by BM25); `None` lists entries newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Only these scopes; empty means every scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<MemoryScope>,
    /// Only these kinds; empty means every kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<MemoryKind>,
    /// Project and agent entries of this repository only (global entries always match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Agent entries of this agent type only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Include entries past their expiry.
    #[serde(default)]
    pub include_expired: bool,
    /// At most this many entries (0 means the store's default, 20).
    #[serde(default)]
    pub limit: usize,
}

/// An entry found by a query, with its rank (lower is better, as BM25 reports it; 0 when the
/// query had no text).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryHit {
    pub entry: MemoryEntry,
    pub rank: f64,
}

/// What the learning engine drew from one finished task (a user turn).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskOutcome {
    /// The task, as the user's prompt's title.
    pub task: String,
    /// True when the turn completed and the last test or build it ran passed (or it ran none
    /// and finished without a failing call).
    pub succeeded: bool,
    /// Commands that ran the project's tests and passed, in order of first success.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_commands: Vec<String>,
    /// Commands that built, linted or formatted the project and passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_commands: Vec<String>,
    /// Files the task wrote or edited, relative to the workspace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Errors met and how they were fixed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<ErrorFix>,
}

/// A command that failed and later passed, with what changed in between.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorFix {
    pub command: String,
    /// The first telling line of the failure.
    pub error: String,
    /// What changed before it passed, e.g. "edited src/lib.rs".
    pub fix: String,
}

/// A lesson drawn from a [`TaskOutcome`], stored as project memory of kind `lesson`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lesson {
    /// Identifies what the lesson is about ("test-command", "fix:cargo test"), so a newer
    /// lesson on the same thing replaces the older one.
    pub key: String,
    pub content: String,
}
