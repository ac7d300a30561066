//! The shared vocabulary of Code Mesh.
//!
//! Everything that crosses a crate boundary or leaves the process is defined here once:
//! identifiers, conversation messages and their parts, tool calls and results, token usage,
//! the [`Op`]s a front end submits to the engine and the [`Event`]s the engine reports, and the
//! config schema. `code-mesh run --json` prints [`Event`]s as JSON lines, so the serde field
//! names below are a public contract: add fields, never rename or remove them.
//!
//! This crate is pure data: it depends on serde only and performs no I/O, so it builds for
//! every target, `wasm32-unknown-unknown` included. The `openapi` feature adds utoipa
//! `ToSchema` derives for the HTTP API's OpenAPI document; the JSON is the same either way.

mod agent;
pub mod config;
mod event;
mod ids;
mod memory;
mod message;
mod model;
mod op;
mod session;
mod tool;
mod usage;

pub use agent::{
    AgentId, AgentInfo, AgentNode, AgentOutcome, AgentProfile, AgentType, RunAgents, TaskId,
    TaskInfo, TaskNode, TaskState,
};
pub use event::{CompactionMode, ErrorCode, Event, EventKind, PermissionSource, TurnEndReason};
pub use ids::{SessionId, TurnId};
pub use memory::{
    ErrorFix, Lesson, MemoryEntry, MemoryHit, MemoryKind, MemoryQuery, MemoryScope, NewMemory,
    TaskOutcome,
};
pub use message::{Message, Part, Role, ToolCall, ToolResult};
pub use model::ModelListing;
pub use op::{Op, PermissionDecision};
pub use session::{ContextState, ContextSummary, SessionInfo};
pub use tool::{SandboxMode, ToolKind, ToolSpec};
pub use usage::Usage;

#[cfg(all(test, feature = "openapi"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod openapi_tests;
#[cfg(test)]
mod tests;
