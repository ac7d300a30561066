//! What the model can call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_protocol::{EventKind, SandboxMode, ToolKind, ToolSpec};
use tokio_util::sync::CancellationToken;

use crate::FileTracker;
use crate::events::EventSink;

/// A tool the model can call.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and argument schema, as offered to the model.
    fn spec(&self) -> ToolSpec;

    /// Whether the tool reads, writes or executes; decides permissions and concurrency.
    fn kind(&self) -> ToolKind;

    /// One line saying what a call with these arguments would do, for permission prompts,
    /// e.g. "run `cargo test`" or "write src/main.rs".
    fn summarize(&self, arguments: &serde_json::Value) -> String;

    /// What permission rules match this call against: the paths it touches, the command it
    /// runs, or the URL it fetches.
    ///
    /// Every tool that touches files, runs commands or reaches the network should implement
    /// it, from the arguments as the model wrote them (they may be invalid: return what can
    /// be read, or [`PermissionTarget::None`]). Give every path the call reads or writes,
    /// unresolved (`PermissionTarget::Paths(vec![path])`, the search root `"."` for a search
    /// without one, all files of a patch); the whole command line for anything run by a
    /// shell (`PermissionTarget::Command`, which the policy splits into simple commands); the
    /// URL for a fetch. Secrets (`.env`, keys, `~/.ssh`) are denied only through targets, and
    /// a rule with a pattern never matches a call whose target is `None`: only rules on the
    /// whole tool apply to it. See `crate::PermissionPolicy` for how targets are matched.
    fn permission_target(&self, _arguments: &serde_json::Value) -> PermissionTarget {
        PermissionTarget::None
    }

    /// Runs the call. An `Err` is sent back to the model as a failed result, so its message
    /// must say what went wrong and what to do instead. Implementations stop promptly when
    /// `context.cancel` fires and leave no child process behind.
    async fn call(
        &self,
        arguments: serde_json::Value,
        context: &ToolContext,
    ) -> Result<ToolOutput, ToolError>;
}

/// Where and under which limits a tool call runs.
#[derive(Clone, Debug)]
pub struct ToolContext {
    /// The session the call belongs to (for per-session tool state such as the todo list).
    pub session_id: code_mesh_protocol::SessionId,
    /// The workspace root (canonical): file tools stay inside it.
    pub workspace: PathBuf,
    /// The working directory (canonical) relative paths start from.
    pub cwd: PathBuf,
    /// Directories outside the workspace that file tools may reach too (canonical).
    pub allowed_paths: Vec<PathBuf>,
    pub call_id: String,
    pub cancel: CancellationToken,
    pub limits: ToolLimits,
    /// How commands run by this call are confined.
    pub sandbox: SandboxPolicy,
    /// The files the session has seen, shared by every call of the session.
    pub files: Arc<FileTracker>,
    /// Where a command reports its output as it arrives.
    pub output: ToolOutputSink,
}

/// What a permission rule is matched against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PermissionTarget {
    None,
    /// Paths as the model wrote them (resolved by the policy against the working directory).
    Paths(Vec<String>),
    /// A shell command line.
    Command(String),
    /// A URL.
    Url(String),
}

/// The confinement of commands a tool runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxPolicy {
    pub mode: SandboxMode,
    /// Whether commands may open network sockets (Unix sockets are always allowed).
    pub network: bool,
    /// Directories commands may write besides the workspace and temp (declared caches).
    pub writable_roots: Vec<PathBuf>,
    /// Paths commands may not even read (secrets).
    pub denied_paths: Vec<PathBuf>,
}

/// Streams a running call's output to the session as `tool_output_delta` events.
#[derive(Clone, Default)]
pub struct ToolOutputSink {
    target: Option<(Arc<EventSink>, String)>,
}

impl ToolOutputSink {
    pub(crate) fn new(sink: Arc<EventSink>, call_id: String) -> Self {
        ToolOutputSink {
            target: Some((sink, call_id)),
        }
    }

    /// A sink that drops everything (tests, tools run outside a session).
    pub fn discard() -> Self {
        ToolOutputSink::default()
    }

    /// Reports a piece of output. Never fails the call: the output also reaches the result.
    pub async fn send(&self, delta: &str) {
        if let Some((sink, call_id)) = &self.target {
            let _ = sink
                .emit(EventKind::ToolOutputDelta {
                    call_id: call_id.clone(),
                    delta: delta.to_owned(),
                })
                .await;
        }
    }
}

impl std::fmt::Debug for ToolOutputSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolOutputSink")
            .field("streaming", &self.target.is_some())
            .finish()
    }
}

/// Bounds on what one tool call may take and return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolLimits {
    /// Default timeout of a shell command, in milliseconds.
    pub shell_timeout_ms: u64,
    /// Cap on the output returned to the model, in bytes.
    pub max_output_bytes: usize,
}

impl Default for ToolLimits {
    fn default() -> Self {
        ToolLimits {
            shell_timeout_ms: 120_000,
            max_output_bytes: 30_000,
        }
    }
}

/// What a successful call returns to the model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolOutput {
    pub text: String,
}

impl From<String> for ToolOutput {
    fn from(text: String) -> Self {
        ToolOutput { text }
    }
}

/// A failed call: the message goes to the model, so it says what to do instead.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    pub message: String,
}

impl ToolError {
    pub fn new(message: impl Into<String>) -> Self {
        ToolError {
            message: message.into(),
        }
    }
}

/// The tools offered to the model, by name, in a stable order.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Arc<dyn Tool>>,
    /// Each tool's name, in `tools`' order: a spec is a whole JSON schema to build, too much
    /// to ask for a name (every agent of a run picks its tools by name).
    names: Vec<String>,
    by_name: HashMap<String, usize>,
}

impl ToolRegistry {
    pub fn new() -> Self {
        ToolRegistry::default()
    }

    /// Adds a tool; a later tool with the same name replaces the earlier one.
    pub fn register(&mut self, tool: Arc<dyn Tool>) {
        let name = tool.spec().name;
        self.insert(name, tool);
    }

    fn insert(&mut self, name: String, tool: Arc<dyn Tool>) {
        match self.by_name.get(&name) {
            Some(&index) => self.tools[index] = tool,
            None => {
                self.by_name.insert(name.clone(), self.tools.len());
                self.tools.push(tool);
                self.names.push(name);
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.by_name.get(name).map(|&index| &self.tools[index])
    }

    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|tool| tool.spec()).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// A registry with only the tools named in `names`, in this registry's order, and the
    /// names it does not have (in the order given), for the caller to report.
    pub fn only(&self, names: &[String]) -> (ToolRegistry, Vec<String>) {
        let mut restricted = ToolRegistry::new();
        for (tool, name) in self.tools.iter().zip(&self.names) {
            if names.contains(name) {
                restricted.insert(name.clone(), tool.clone());
            }
        }
        let unknown = names
            .iter()
            .filter(|name| !self.by_name.contains_key(*name))
            .cloned()
            .collect();
        (restricted, unknown)
    }
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
