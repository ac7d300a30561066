//! What the server needs from the program that runs it: opening engine sessions wired with
//! providers, tools and permissions, forking, the model list and the effective config. The
//! binary implements [`SessionHost`]; the server itself knows only `core`'s API.

use async_trait::async_trait;
use code_mesh_core::SessionHandle;
use code_mesh_protocol::config::Strategy;
use code_mesh_protocol::{ModelListing, SessionId, SessionInfo};

/// How to open a session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenRequest {
    /// Resume this stored session; `None` starts a new one.
    pub resume: Option<SessionId>,
    /// `provider/model`; `None` keeps a resumed session's model, or the configured one.
    pub model: Option<String>,
    /// `None` is the configured strategy.
    pub strategy: Option<Strategy>,
}

/// A session opened for the server: the handle it drives and the driver's task.
#[derive(Debug)]
pub struct OpenedSession {
    pub handle: SessionHandle,
    pub driver: tokio::task::JoinHandle<()>,
}

/// The program that wires sessions: the `code-mesh` binary, or a test's own host.
#[async_trait]
pub trait SessionHost: Send + Sync + 'static {
    /// Opens a new session or resumes one, as `run` would with the same options.
    async fn open(&self, request: OpenRequest) -> Result<OpenedSession, HostError>;

    /// Copies session `id`'s conversation through message `through_seq` (all when `None`)
    /// into a new session.
    async fn fork(
        &self,
        id: &SessionId,
        through_seq: Option<u64>,
    ) -> Result<SessionInfo, HostError>;

    /// The models this setup can use (what `code-mesh models --json` lists).
    async fn models(&self) -> Result<Vec<ModelListing>, HostError>;

    /// The effective configuration as JSON, every secret masked.
    fn config(&self) -> serde_json::Value;
}

/// Why the host could not do what was asked, with a hint for the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    pub kind: HostErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

/// What kind of failure a [`HostError`] is, which decides its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostErrorKind {
    /// The request asked for something that cannot be (an unknown model, a bad fork point).
    BadRequest,
    /// What the request names does not exist.
    NotFound,
    /// The session cannot be opened now (no provider key, an unreadable store).
    Unavailable,
    Internal,
}

impl HostError {
    pub fn new(kind: HostErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}
