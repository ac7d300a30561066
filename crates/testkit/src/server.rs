//! The server handle: start it, point a client at `base_url()`, then inspect and verify.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{ScriptError, ServerError, VerifyError};
use crate::request::RecordedRequest;
use crate::script::Script;
use crate::state::Shared;

/// A scripted OpenAI-compatible chat server on a local port.
///
/// Dropping it asks the server to stop; [`ScriptedServer::shutdown`] also waits for it.
#[derive(Debug)]
pub struct ScriptedServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Starts serving `script` on `127.0.0.1` at a free port, on the current tokio
    /// runtime (which needs its IO and time drivers).
    pub async fn start(script: Script) -> Result<Self, ServerError> {
        Self::bind(script, "127.0.0.1", 0).await
    }

    /// Starts serving `script` on `host:port` (port 0 picks a free one).
    pub async fn bind(script: Script, host: &str, port: u16) -> Result<Self, ServerError> {
        let turns = crate::plan::plan(&script).map_err(|error| ScriptError::Invalid {
            origin: "script".to_owned(),
            line: None,
            turn: error.index + 1,
            message: error.message,
        })?;
        let shared = Shared::new(turns, script.pairing);
        let bind_error = |source| ServerError::Bind {
            address: format!("{host}:{port}"),
            source,
        };
        let listener = TcpListener::bind((host, port)).await.map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        // Small SSE writes must leave at once: Nagle plus delayed ACKs would add ~40 ms
        // stalls and blur `chunk_delay_ms`.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = crate::respond::router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            // Accept errors are retried inside axum; nothing else can end the loop early.
            let _ = serving.await;
        });
        Ok(ScriptedServer {
            address,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Starts the server on its own thread and runtime, for synchronous tests that run
    /// a client process; dropping the returned handle stops it.
    pub fn start_in_background(script: Script) -> Result<BackgroundServer, ServerError> {
        BackgroundServer::start(script)
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The server's root, `http://127.0.0.1:PORT` without `/v1` (what `ANTHROPIC_BASE_URL`
    /// and `OLLAMA_HOST` expect).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The API base URL, `http://127.0.0.1:PORT/v1` (what `OPENAI_BASE_URL` expects).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Every violation so far, each starting with the request number.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations()
    }

    /// How many turns have been taken by requests.
    pub fn turns_served(&self) -> usize {
        self.shared.turns_served()
    }

    /// Whether every turn was taken and every response fully sent.
    pub fn is_done(&self) -> bool {
        self.shared.is_done()
    }

    /// Waits until [`ScriptedServer::is_done`].
    pub async fn wait_until_done(&self) {
        self.shared.wait_until_done().await;
    }

    /// `Ok` when there were no violations, every turn was served and every tool call
    /// issued came back with its result; otherwise every problem found.
    pub fn verify(&self) -> Result<(), VerifyError> {
        let problems = self.shared.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(VerifyError { problems })
        }
    }

    /// Stops accepting, lets responses in flight finish, and waits for the server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A [`ScriptedServer`] running on its own thread with its own runtime.
///
/// Derefs to the server for inspection. Dropping it stops the runtime at once, ending
/// any response still in flight: by then the test has finished with the client.
#[derive(Debug)]
pub struct BackgroundServer {
    server: ScriptedServer,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    fn start(script: Script) -> Result<Self, ServerError> {
        let failed = |message: String| ServerError::Background { message };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| failed(format!("cannot build a runtime: {error}")))?;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        // `oneshot::Sender::send` is synchronous, so `Drop` can signal the runtime.
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("code-mesh-testkit".to_owned())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = started_tx.send(ScriptedServer::start(script).await);
                    let _ = stopped.await;
                });
                // Dropping the runtime here cancels every connection task.
            })
            .map_err(|error| failed(format!("cannot spawn a thread: {error}")))?;
        let server = started_rx
            .recv()
            .map_err(|_| failed("the server thread ended before starting".to_owned()))??;
        Ok(BackgroundServer {
            server,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl std::ops::Deref for BackgroundServer {
    type Target = ScriptedServer;

    fn deref(&self) -> &ScriptedServer {
        &self.server
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
