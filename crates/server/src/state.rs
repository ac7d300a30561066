//! What every handler shares: the live sessions, the store, the token and the workspace.

use std::sync::Arc;

use code_mesh_core::{CancellationToken, Store};
use code_mesh_protocol::{SessionId, SessionInfo};

use crate::ServerOptions;
use crate::error::ApiError;
use crate::host::SessionHost;
use crate::live::LiveSessions;

/// The server's shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    sessions: Arc<LiveSessions>,
    store: Arc<dyn Store>,
    options: ServerOptions,
    /// Cancelled when the server stops, ending every stream.
    stopping: CancellationToken,
}

impl AppState {
    pub(crate) fn new(
        host: Arc<dyn SessionHost>,
        store: Arc<dyn Store>,
        options: ServerOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                sessions: Arc::new(LiveSessions::new(host)),
                store,
                options,
                stopping: CancellationToken::new(),
            }),
        }
    }

    pub(crate) fn sessions(&self) -> &Arc<LiveSessions> {
        &self.inner.sessions
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub(crate) fn token(&self) -> &str {
        &self.inner.options.token
    }

    pub(crate) fn stopping(&self) -> &CancellationToken {
        &self.inner.stopping
    }

    /// Ends every stream and stops every session's engine (their turns are cancelled and
    /// stay resumable).
    pub async fn shutdown(&self) {
        self.inner.stopping.cancel();
        self.inner.sessions.close_all().await;
    }

    /// Stops the engines of sessions idle for `idle_for` now (no turn, no waiting question, no
    /// watcher); returns how many. The next prompt resumes them.
    pub async fn close_idle(&self, idle_for: std::time::Duration) -> usize {
        self.inner.sessions.close_idle(idle_for).await
    }

    /// Stops idle sessions' engines (see `LiveSessions::close_idle`) every minute until the
    /// server stops; run it in its own task.
    pub async fn close_idle_sessions(self, idle_for: std::time::Duration) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60).min(idle_for));
        loop {
            tokio::select! {
                () = self.inner.stopping.cancelled() => return,
                _ = tick.tick() => {
                    let closed = self.close_idle(idle_for).await;
                    if closed > 0 {
                        tracing::debug!(closed, "stopped idle sessions' engines");
                    }
                }
            }
        }
    }

    /// A future that resolves when [`AppState::shutdown`] starts, for `axum::serve`'s
    /// graceful shutdown.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.inner.stopping.clone().cancelled_owned()
    }

    /// The workspace this server serves.
    pub(crate) fn workspace(&self) -> &str {
        &self.inner.options.workspace
    }

    /// Whether `info` belongs to this server's workspace: the only sessions its routes reach.
    pub(crate) fn in_workspace(&self, info: &SessionInfo) -> bool {
        let workspace = &self.inner.options.workspace;
        info.workspace == *workspace
    }

    /// Stored session `id`, if it belongs to this workspace.
    pub(crate) async fn session(&self, id: &str) -> Result<SessionInfo, ApiError> {
        let id = session_id(id)?;
        match self.inner.store.session(&id).await? {
            Some(info) if self.in_workspace(&info) => Ok(info),
            _ => Err(ApiError::session_not_found(&id.0)),
        }
    }
}

/// A session id from a path; ids are short printable tokens, so anything else is refused
/// before it reaches the store.
pub(crate) fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    let valid = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    if valid {
        Ok(SessionId(raw.to_owned()))
    } else {
        Err(ApiError::session_not_found(raw))
    }
}
