use serde::{Deserialize, Serialize};

use crate::config::PermissionRule;
use crate::{
    AgentId, AgentInfo, AgentOutcome, Lesson, Message, PermissionDecision, SessionId, TaskId,
    TaskInfo, TaskOutcome, ToolKind, TurnId, Usage,
};

/// Something the engine reports. `run --json` prints one per line; the store appends the
/// persistent ones, so a session can be rebuilt from its events.
///
/// On the wire the kind's fields sit beside `seq`, `session_id` and `at`, with the kind's name
/// in `type`: `{"seq":3,"session_id":"ses_…","at":1764245000000,"type":"text_delta","delta":"Hi"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Per-session sequence number, starting at 1, without gaps across resumptions.
    pub seq: u64,
    pub session_id: SessionId,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of [`Event`]. Names follow the seed's `SystemEvent` where one exists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The session is ready: new, or resumed with its history.
    SessionStarted {
        cwd: String,
        workspace: String,
        model: String,
        resumed: bool,
    },
    /// The session was made as a copy of another's history up to a message: the `message_added`
    /// events that follow hold the copied messages.
    SessionForked {
        parent_id: SessionId,
        /// The last message `seq` of the parent that was copied.
        through_seq: u64,
    },
    /// A message was added to the history (a user prompt, a finished assistant message, or the
    /// results of its tool calls). The history is exactly the sequence of these.
    MessageAdded { message: Message },
    /// A user turn began.
    TurnStarted { turn: TurnId },
    /// A request to the model is about to be sent; `step` counts requests within the turn.
    RequestStarted {
        turn: TurnId,
        step: u32,
        model: String,
    },
    /// Streamed assistant text. Not stored: the finished message is.
    TextDelta { delta: String },
    /// Streamed reasoning text. Not stored: the finished message is.
    ReasoningDelta { delta: String },
    /// Output of a running tool call (a command's stdout and stderr) as it arrives. Not
    /// stored: the finished call's result is.
    ToolOutputDelta { call_id: String, delta: String },
    /// The model asked for a tool call and it is about to be checked and run.
    ToolCallStarted {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// A tool call needs the user's approval; answer with `Op::PermissionReply`.
    PermissionRequested {
        request_id: String,
        call_id: String,
        tool: String,
        kind: ToolKind,
        /// One line saying what the call would do, e.g. "run `cargo test`".
        summary: String,
    },
    /// How a tool call's permission was settled. Together these events are the session's
    /// audit log (`code-mesh sessions show ID --audit`).
    PermissionDecided {
        request_id: String,
        call_id: String,
        decision: PermissionDecision,
        source: PermissionSource,
        /// The rule that decided, e.g. "rule `bash: git push*` from /p/code-mesh.toml:3" or
        /// "default: reads inside the workspace run"; absent when a person answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// What an "allow always" answer allows from now on in this session, as config rules
        /// (`{ tool = "bash", pattern = "git status *", action = "allow" }`), for a front end
        /// that keeps the answer by writing them to a config file. Empty otherwise.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remembered: Vec<PermissionRule>,
    },
    /// A tool call ended; `is_error` says whether it failed.
    ToolCallFinished {
        call_id: String,
        name: String,
        output: String,
        is_error: bool,
        duration_ms: u64,
    },
    /// Tokens used by the last request, and the sum over the session.
    UsageUpdated { usage: Usage, session_total: Usage },
    /// Something went wrong. `hint` says what would fix it.
    Error {
        /// A stable machine-readable code; see [`ErrorCode`].
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
    /// Something worth knowing that did not stop the turn.
    Warning { message: String },
    /// A model request failed in a way worth retrying; it is sent again after `delay_ms`.
    ProviderRetry {
        provider: String,
        /// The attempt that failed, starting at 1.
        attempt: u32,
        delay_ms: u64,
        message: String,
    },
    /// A provider failed after its retries and the request went to the next one.
    ProviderFailover {
        /// `provider/model` that failed.
        from: String,
        /// `provider/model` that takes over.
        to: String,
        message: String,
    },
    /// The answer came from the response cache, without a network call.
    ResponseCacheHit { model: String },
    /// The context manager shrank what the model is sent, because the next request would not
    /// have fit the window (or `/compact` asked for it). The stored history is unchanged.
    ContextCompacted {
        mode: CompactionMode,
        /// `pruned`: tool outputs of messages up to this `seq` are now sent as a marker.
        /// `summarized`: messages up to this `seq` are now sent as `summary`.
        through_seq: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        /// Tool outputs replaced by a marker by this compaction.
        #[serde(default)]
        pruned_outputs: u32,
        /// Estimated tokens of the request before and after.
        tokens_before: u64,
        tokens_after: u64,
    },
    /// The learning engine recorded what a finished task taught; the lessons are stored as
    /// project memory in the same transaction.
    TaskOutcomeRecorded {
        outcome: TaskOutcome,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lessons: Vec<Lesson>,
    },
    /// An agent of a multi-agent run started (its conversation is in its own child session).
    AgentSpawned { agent: AgentInfo },
    /// An agent stopped; `succeeded` says whether it finished its work.
    AgentTerminated {
        agent: AgentId,
        succeeded: bool,
        outcome: AgentOutcome,
    },
    /// A task joined the run's task graph (waiting for its dependencies and a free slot).
    TaskCreated { task: TaskInfo },
    /// An agent started working on a task.
    TaskStarted { task: TaskId, agent: AgentId },
    /// A task finished with its agent's answer.
    TaskCompleted { task: TaskId, outcome: AgentOutcome },
    /// A task failed (its agent failed, timed out, or a dependency failed); `reason` says which.
    TaskFailed { task: TaskId, reason: String },
    /// One agent's message to another (`to`), to every agent (`to` absent), or to a topic's
    /// subscribers.
    AgentMessage {
        from: AgentId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<AgentId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        text: String,
    },
    /// The turn ended.
    TurnFinished {
        turn: TurnId,
        reason: TurnEndReason,
        /// Model requests made in the turn.
        steps: u32,
        /// Tokens used by the turn.
        usage: Usage,
    },
}

impl EventKind {
    /// Streaming deltas are shown live but not stored: the finished message holds their text.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            EventKind::TextDelta { .. }
                | EventKind::ReasoningDelta { .. }
                | EventKind::ToolOutputDelta { .. }
        )
    }

    /// The `type` name of this kind as it appears in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::SessionStarted { .. } => "session_started",
            EventKind::SessionForked { .. } => "session_forked",
            EventKind::MessageAdded { .. } => "message_added",
            EventKind::TurnStarted { .. } => "turn_started",
            EventKind::RequestStarted { .. } => "request_started",
            EventKind::TextDelta { .. } => "text_delta",
            EventKind::ReasoningDelta { .. } => "reasoning_delta",
            EventKind::ToolOutputDelta { .. } => "tool_output_delta",
            EventKind::ToolCallStarted { .. } => "tool_call_started",
            EventKind::PermissionRequested { .. } => "permission_requested",
            EventKind::PermissionDecided { .. } => "permission_decided",
            EventKind::ToolCallFinished { .. } => "tool_call_finished",
            EventKind::UsageUpdated { .. } => "usage_updated",
            EventKind::Error { .. } => "error",
            EventKind::Warning { .. } => "warning",
            EventKind::ProviderRetry { .. } => "provider_retry",
            EventKind::ProviderFailover { .. } => "provider_failover",
            EventKind::ResponseCacheHit { .. } => "response_cache_hit",
            EventKind::ContextCompacted { .. } => "context_compacted",
            EventKind::TaskOutcomeRecorded { .. } => "task_outcome_recorded",
            EventKind::AgentSpawned { .. } => "agent_spawned",
            EventKind::AgentTerminated { .. } => "agent_terminated",
            EventKind::TaskCreated { .. } => "task_created",
            EventKind::TaskStarted { .. } => "task_started",
            EventKind::TaskCompleted { .. } => "task_completed",
            EventKind::TaskFailed { .. } => "task_failed",
            EventKind::AgentMessage { .. } => "agent_message",
            EventKind::TurnFinished { .. } => "turn_finished",
        }
    }
}

/// Why a turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TurnEndReason {
    /// The model gave its final answer.
    Completed,
    /// The turn used its `--max-turns` model requests before the model finished.
    MaxTurns,
    /// The user cancelled; what arrived before is kept.
    Cancelled,
    /// An error stopped the turn; an `error` event before this one says which.
    Failed,
}

/// How a `context_compacted` event shrank the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CompactionMode {
    /// Old tool outputs were replaced by a marker saying what was dropped.
    Pruned,
    /// Older messages were replaced by a structured summary.
    Summarized,
}

/// Who settled a permission request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PermissionSource {
    /// The built-in defaults or a configured rule.
    Policy,
    /// `--yes` (or its equivalent) approved it.
    AutoApprove,
    /// The user answered.
    User,
    /// Nobody could be asked (no terminal, no front end), so it was denied.
    NoOneToAsk,
}

/// Stable codes of `error` events, for programs that react to failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The provider could not be reached (connection refused, DNS, TLS, timeout).
    ProviderUnreachable,
    /// The provider rejected the credentials (HTTP 401/403).
    ProviderAuth,
    /// The provider is rate limiting or out of quota (HTTP 429).
    ProviderRateLimited,
    /// The provider answered with an error or with something that is not its API.
    ProviderError,
    /// The response stream broke off before the model finished.
    ProviderStreamCut,
    /// The session store failed; the turn stopped so nothing goes unrecorded.
    Store,
    /// The request was refused because a turn is already running.
    Busy,
    /// The model kept repeating a tool call that failed, so the turn was stopped.
    RepeatedFailure,
    /// The conversation does not fit the model's context window even after pruning and
    /// summarising (e.g. one prompt larger than the window).
    ContextOverflow,
    /// Anything else.
    Internal,
}
