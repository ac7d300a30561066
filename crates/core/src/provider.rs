//! The model side of the engine: a [`Provider`] turns a [`ModelRequest`] into a stream of
//! [`StreamEvent`]s.

use std::fmt;
use std::pin::Pin;

use async_trait::async_trait;
use code_mesh_protocol::{ErrorCode, Message, ToolCall, ToolSpec, Usage};
use futures::Stream;

/// One request to a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRequest {
    /// The model's name as its provider knows it (without the `provider/` prefix).
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// What a provider's stream yields. Tool calls and reasoning blocks arrive whole: assembling
/// their fragments is the wire's business; deltas are for live display.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    TextDelta(String),
    /// Reasoning text as it streams, for display.
    ReasoningDelta(String),
    /// A finished reasoning block, to be kept in the history and sent back as the provider
    /// requires. A wire that never sends these leaves the engine to keep the deltas' text.
    Reasoning {
        text: String,
        signature: Option<String>,
        id: Option<String>,
        redacted: bool,
    },
    ToolCall(ToolCall),
    /// Tokens used, with their cost when the model's prices are known.
    Usage(Usage),
    /// The model finished. Usage may still follow; the stream then ends.
    Finished(FinishReason),
    /// An attempt failed and the request is sent again after `delay_ms`. Only before any
    /// content of the answer was yielded.
    Retry {
        provider: String,
        attempt: u32,
        delay_ms: u64,
        message: String,
    },
    /// The provider failed after its retries; the answer now comes from `to`
    /// (`provider/model`), which the history records as the message's model.
    Failover {
        from: String,
        to: String,
        message: String,
    },
    /// The answer is replayed from the response cache.
    CacheHit,
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    ToolCalls,
    /// The output hit the token limit.
    Length,
    ContentFilter,
    Other(String),
}

pub type ProviderStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

/// A model API.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name in config and in `provider/model`, e.g. `openai`.
    fn name(&self) -> &str;

    /// Sends the request and returns the answer as a stream. The stream must end with an error,
    /// never quietly, when the connection breaks before the model finished.
    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError>;
}

/// What went wrong talking to a provider, with what would fix it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    /// The provider's name, e.g. `openai`.
    pub provider: String,
    /// One sentence saying what happened.
    pub message: String,
    /// The HTTP status, when there was one.
    pub status: Option<u16>,
    /// What the user can do about it.
    pub hint: Option<String>,
}

/// Kinds of [`ProviderError`], deciding retries and exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// Could not connect, or the connection failed before any answer.
    Unreachable,
    /// The key was missing or rejected (401/403).
    Auth,
    /// Rate limited or out of quota (429).
    RateLimited,
    /// The server failed (5xx, overloaded).
    Server,
    /// The server refused the request (other 4xx).
    BadRequest,
    /// The server refused the request as longer than the model's context window; the
    /// context manager compacts and retries once.
    ContextTooLong,
    /// The answer was not the provider's API (HTML, malformed JSON, unknown shape).
    Protocol,
    /// The stream broke off before the model finished.
    StreamCut,
    /// Nothing arrived for too long.
    Timeout,
    /// The provider is not configured well enough to be called.
    Config,
}

impl ProviderErrorKind {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ProviderErrorKind::Unreachable
                | ProviderErrorKind::Server
                | ProviderErrorKind::StreamCut
                | ProviderErrorKind::Timeout
        )
    }

    /// The `error` event code for this kind.
    pub fn code(self) -> ErrorCode {
        match self {
            ProviderErrorKind::Unreachable | ProviderErrorKind::Timeout => {
                ErrorCode::ProviderUnreachable
            }
            ProviderErrorKind::Auth => ErrorCode::ProviderAuth,
            ProviderErrorKind::RateLimited => ErrorCode::ProviderRateLimited,
            ProviderErrorKind::StreamCut => ErrorCode::ProviderStreamCut,
            ProviderErrorKind::ContextTooLong => ErrorCode::ContextOverflow,
            ProviderErrorKind::Server
            | ProviderErrorKind::BadRequest
            | ProviderErrorKind::Protocol
            | ProviderErrorKind::Config => ErrorCode::ProviderError,
        }
    }
}

impl ProviderError {
    pub fn new(
        kind: ProviderErrorKind,
        provider: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ProviderError {
            kind,
            provider: provider.into(),
            message: message.into(),
            status: None,
            hint: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FinishReason::Stop => f.write_str("stop"),
            FinishReason::ToolCalls => f.write_str("tool_calls"),
            FinishReason::Length => f.write_str("length"),
            FinishReason::ContentFilter => f.write_str("content_filter"),
            FinishReason::Other(other) => f.write_str(other),
        }
    }
}
