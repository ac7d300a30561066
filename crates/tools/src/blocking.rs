//! Running blocking filesystem work off the async threads.

use code_mesh_core::{CancellationToken, ToolContext, ToolError};

/// The message of a call stopped by its cancellation token.
pub(crate) const CANCELLED: &str = "cancelled by the user before the tool finished";

/// Runs `work` on the blocking pool and returns as soon as the call is cancelled; `work` gets
/// the token too and should stop soon after it fires. For reads and searches, whose partial
/// work is harmless to abandon.
pub(crate) async fn cancellable<T, F>(context: &ToolContext, work: F) -> Result<T, ToolError>
where
    T: Send + 'static,
    F: FnOnce(&CancellationToken) -> Result<T, ToolError> + Send + 'static,
{
    if context.cancel.is_cancelled() {
        return Err(ToolError::new(CANCELLED));
    }
    let token = context.cancel.clone();
    let task = tokio::task::spawn_blocking(move || work(&token));
    tokio::select! {
        joined = task => flatten(joined),
        () = context.cancel.cancelled() => Err(ToolError::new(CANCELLED)),
    }
}

/// Runs `work` on the blocking pool to completion. For writes: once started, a short write
/// finishes, so the result never claims "cancelled" for a file that did change.
pub(crate) async fn to_completion<T, F>(context: &ToolContext, work: F) -> Result<T, ToolError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ToolError> + Send + 'static,
{
    if context.cancel.is_cancelled() {
        return Err(ToolError::new(CANCELLED));
    }
    flatten(tokio::task::spawn_blocking(work).await)
}

fn flatten<T>(
    joined: Result<Result<T, ToolError>, tokio::task::JoinError>,
) -> Result<T, ToolError> {
    joined.unwrap_or_else(|error| {
        tracing::error!(%error, "tool task failed");
        Err(ToolError::new(format!(
            "internal error in the tool ({error}); this is a bug in Code Mesh, not in your \
             call; try another way"
        )))
    })
}
