//! The API's routes.

pub(crate) mod meta;
pub(crate) mod sessions;
pub(crate) mod streams;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};

use crate::error::{ApiError, ProblemCode};
use crate::state::AppState;

/// The routes behind the token.
pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/sessions", get(sessions::list).post(sessions::create))
        .route(
            "/api/sessions/{id}",
            get(sessions::get).delete(sessions::delete),
        )
        .route("/api/sessions/{id}/fork", post(sessions::fork))
        .route(
            "/api/sessions/{id}/messages",
            get(sessions::messages).post(sessions::post_message),
        )
        .route("/api/sessions/{id}/events", get(sessions::events))
        .route("/api/sessions/{id}/stream", get(streams::session_stream))
        .route("/api/sessions/{id}/ws", get(streams::session_ws))
        .route("/api/sessions/{id}/abort", post(sessions::abort))
        .route(
            "/api/sessions/{id}/permissions/{request_id}",
            post(sessions::answer_permission),
        )
        .route("/api/sessions/{id}/agents", get(sessions::agents))
        .route("/api/events", get(streams::global_stream))
        .route("/api/models", get(meta::models))
        .route("/api/config", get(meta::config))
}

/// The routes anyone on the machine may read.
pub(crate) fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(meta::health))
        .route("/openapi.json", get(meta::openapi))
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("there is no route `{}`", uri.path()))
        .with_hint("GET /openapi.json lists the routes")
}

pub(crate) async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ProblemCode::MethodNotAllowed,
        format!("`{}` does not take this method", uri.path()),
    )
    .with_hint("GET /openapi.json lists each route's methods")
}
