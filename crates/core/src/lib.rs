//! The Code Mesh engine.
//!
//! A front end opens a [`Session`], submits [`Op`]s through its [`SessionHandle`] and reads
//! [`Event`]s back; the session's loop runs in its own task (the [`SessionDriver`]). Inside, the
//! turn loop builds each model request (system prompt, project instructions, history, tool
//! specs), streams the answer as events, runs the requested tool calls (reads concurrently,
//! writes and commands alone and in order) under the permission policy, and feeds the results
//! back until the model stops, the turn limit is reached or the user cancels.
//!
//! The engine reaches the outside world only through three traits: [`Provider`] (a model
//! API), [`Tool`] (something the model can call) and [`Store`] (where sessions and events are
//! kept). This crate therefore performs no network, process or async-file I/O of its own and
//! builds for `wasm32-unknown-unknown`; it must not depend on any other Code Mesh crate than
//! `protocol`, nor on tokio's runtime, filesystem or process features.
//!
//! [`Op`]: code_mesh_protocol::Op
//! [`Event`]: code_mesh_protocol::Event

pub mod agents;
mod clock;
pub mod consensus;
mod context;
mod error;
mod events;
mod files;
mod history;
mod hooks;
pub mod instructions;
pub mod learning;
pub mod memory;
mod memory_store;
pub mod mesh;
pub mod orchestra;
mod permission;
mod prompt;
mod provider;
mod repeat;
mod replay;
mod session;
mod store;
mod title;
mod tool;
mod turn;

pub use agents::{
    AgentProfile, ProfileError, ProfileOverride, agent_prompt_section, agent_system_prompt,
    builtin_profiles, merge_profiles,
};
pub use clock::now_ms;
pub use context::{
    Budget, Calibration, ContextSettings, DEFAULT_MAX_CONTEXT_SIZE, DEFAULT_RESERVE_OUTPUT_TOKENS,
    Estimator, NOTHING_TO_COMPACT, TokenCounter,
};
pub use error::EngineError;
pub use events::EVENT_BUS_CAPACITY;
pub use files::{FileStamp, FileTracker};
pub use hooks::{TurnHookContext, TurnHooks};
pub use instructions::InstructionFile;
pub use memory::lesson_memory;
pub use memory_store::MemoryStore;
pub use permission::{
    CommandPart, ConfiguredRule, PermissionAction, PermissionPolicy, PermissionRule,
    PermissionSettings, Verdict, secret_file_reason, split_command,
};
pub use prompt::{
    MAX_MEMORY_ENTRY_BYTES, MAX_MEMORY_SECTION_BYTES, PromptMemory, base_system_prompt,
    describe_age, memory_section,
};
pub use provider::{
    FinishReason, ModelRequest, Provider, ProviderError, ProviderErrorKind, ProviderStream,
    StreamEvent,
};
pub use replay::{ReplayDifference, SessionState};
pub use session::{
    EventBus, OpSender, Session, SessionConfig, SessionDriver, SessionHandle, SessionStart,
};
pub use store::{MemoryBank, NewSession, RecordedEvent, ResponseCache, Store, StoreError};
pub use title::{TITLE_MAX_CHARS, title_from_prompt};
pub use tokio_util::sync::CancellationToken;
pub use tool::{
    PermissionTarget, SandboxPolicy, Tool, ToolContext, ToolError, ToolLimits, ToolOutput,
    ToolOutputSink, ToolRegistry,
};
