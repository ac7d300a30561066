//! Code Mesh's HTTP API and web page (`code-mesh serve`).
//!
//! The same engine API as every other front end, Ops in and Events out, over REST routes,
//! Server-Sent Events and a WebSocket, with problem-JSON errors, bearer-token auth and an
//! OpenAPI 3.1 description generated from the handlers (`/openapi.json`). The page at `/` is
//! plain TypeScript compiled ahead of time (`web/`) and embedded in the binary.
//!
//! This crate knows only `core`'s API and the protocol. Wiring sessions with providers, tools,
//! config and permissions is the binary's, through [`SessionHost`]; it must not depend on the
//! provider, tool or store crates.

mod auth;
mod body;
mod error;
mod host;
mod live;
mod openapi;
mod routes;
mod state;
mod stream;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use code_mesh_core::Store;

pub use error::{ApiError, Problem, ProblemCode};
pub use host::{HostError, HostErrorKind, OpenRequest, OpenedSession, SessionHost};
pub use openapi::openapi_json;
pub use state::AppState;

/// The largest request body the API reads (a prompt, an answer); larger ones get a 413.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The bearer token every API request must carry.
    pub token: String,
    /// Origins allowed to call the API from a browser page served elsewhere; empty: none
    /// (CORS off).
    pub cors_origins: Vec<String>,
    /// The workspace the server's sessions live in: sessions of other workspaces are not
    /// reachable through it.
    pub workspace: String,
}

/// The API's router over `host` and `store`. Returns the state too, so the caller can stop
/// every session on shutdown ([`AppState::shutdown`]).
pub fn router(
    host: Arc<dyn SessionHost>,
    store: Arc<dyn Store>,
    options: ServerOptions,
) -> Result<(Router, AppState), ServerError> {
    let cors = auth::cors_layer(&options.cors_origins)?;
    let state = AppState::new(host, store, options);
    let api = routes::api_routes()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES));
    let mut router = Router::new()
        .merge(api)
        .merge(routes::public_routes())
        .merge(web::routes())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state.clone());
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    Ok((router, state))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Why the server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("`{origin}` is not an origin CORS can allow: {reason}")]
    BadCorsOrigin { origin: String, reason: String },
}
