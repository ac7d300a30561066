//! What the server offers besides sessions: health, the models, the effective config and the
//! OpenAPI description.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use code_mesh_protocol::ModelListing;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::error::responses::{Unauthorized, Unavailable};
use crate::state::AppState;

/// The server is up.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The Code Mesh version.
    pub version: String,
}

/// Whether the server answers; needs no token.
#[utoipa::path(get, path = "/api/health", tag = "meta",
    responses((status = 200, description = "The server is up", body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// The models this setup can use, with their limits and prices.
#[utoipa::path(get, path = "/api/models", tag = "meta",
    responses(
        (status = 200, description = "The models", body = Vec<ModelListing>),
        Unauthorized,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn models(
    State(state): State<AppState>,
) -> Result<Json<Vec<ModelListing>>, ApiError> {
    Ok(Json(state.sessions().host().models().await?))
}

/// The effective configuration (all layers merged), every secret masked.
#[utoipa::path(get, path = "/api/config", tag = "meta",
    responses(
        (status = 200, description = "The configuration", body = Object),
        Unauthorized,
    ),
    security(("bearer" = [])))]
pub(crate) async fn config(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.sessions().host().config())
}

/// This API's OpenAPI 3.1 description; needs no token.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::openapi_json(),
    )
}
