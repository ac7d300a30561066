//! The API's errors: `application/problem+json` bodies (RFC 9457) with a stable `code` that
//! clients match on, a one-line `detail` and, where there is one, a `hint` saying what fixes it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};

use crate::host::{HostError, HostErrorKind};

/// The stable error codes of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    Unauthorized,
    NotFound,
    SessionNotFound,
    PermissionRequestNotFound,
    BadRequest,
    InvalidJson,
    TurnRunning,
    AgentSession,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    SessionUnavailable,
    Internal,
}

impl ProblemCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::Unauthorized => "unauthorized",
            ProblemCode::NotFound => "not_found",
            ProblemCode::SessionNotFound => "session_not_found",
            ProblemCode::PermissionRequestNotFound => "permission_request_not_found",
            ProblemCode::BadRequest => "bad_request",
            ProblemCode::InvalidJson => "invalid_json",
            ProblemCode::TurnRunning => "turn_running",
            ProblemCode::AgentSession => "agent_session",
            ProblemCode::PayloadTooLarge => "payload_too_large",
            ProblemCode::UnsupportedMediaType => "unsupported_media_type",
            ProblemCode::MethodNotAllowed => "method_not_allowed",
            ProblemCode::SessionUnavailable => "session_unavailable",
            ProblemCode::Internal => "internal",
        }
    }
}

/// A problem body, as every error response carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:code-mesh:problem:CODE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the problem kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened, in one sentence.
    pub detail: String,
    /// The stable code to match on.
    pub code: ProblemCode,
    /// What would fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// An error a handler returns; it renders as a [`Problem`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{detail}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ProblemCode,
    pub detail: String,
    pub hint: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ProblemCode::BadRequest, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ProblemCode::Internal,
            detail,
        )
    }

    pub fn session_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ProblemCode::SessionNotFound,
            format!("no session `{id}` in this workspace"),
        )
        .with_hint("GET /api/sessions lists the sessions there are")
    }

    /// Refuses to drive a sub-agent's session: its run does.
    pub fn agent_session(info: &code_mesh_protocol::SessionInfo) -> Self {
        let agent = info.agent.as_deref().unwrap_or("an agent");
        let run = info.parent_id.as_ref().map_or_else(
            || "its run's session".to_owned(),
            |id| format!("session `{id}`"),
        );
        Self::new(
            StatusCode::CONFLICT,
            ProblemCode::AgentSession,
            format!(
                "session `{}` is the conversation of agent `{agent}` inside a run, which drives it",
                info.id
            ),
        )
        .with_hint(format!(
            "read it here; send prompts, answers and aborts to {run}"
        ))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ProblemCode::Unauthorized, detail).with_hint(
            "send `Authorization: Bearer TOKEN` with the token `code-mesh serve` printed (or set with --token)",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ProblemCode::NotFound, detail)
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:code-mesh:problem:{}", self.code.as_str()),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            hint: self.hint.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<HostError> for ApiError {
    fn from(err: HostError) -> Self {
        let (status, code) = match err.kind {
            HostErrorKind::BadRequest => (StatusCode::BAD_REQUEST, ProblemCode::BadRequest),
            HostErrorKind::NotFound => (StatusCode::NOT_FOUND, ProblemCode::SessionNotFound),
            HostErrorKind::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                ProblemCode::SessionUnavailable,
            ),
            HostErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, ProblemCode::Internal),
        };
        Self {
            status,
            code,
            detail: err.message,
            hint: err.hint,
        }
    }
}

impl From<code_mesh_core::StoreError> for ApiError {
    fn from(err: code_mesh_core::StoreError) -> Self {
        let mut api = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ProblemCode::SessionUnavailable,
            format!("the session store failed: {err}"),
        );
        api.hint = err.hint();
        api
    }
}

/// The problem responses routes declare in the OpenAPI document, one type per status, so each
/// route lists the ones it can answer (`responses((status = 200, …), Unauthorized, NotFound)`).
/// They are never built: they only describe responses.
#[allow(dead_code)]
pub(crate) mod responses {
    use super::{IntoResponses, Problem};

    /// Bad parameters, or a request that cannot be carried out as asked.
    #[derive(IntoResponses)]
    #[response(
        status = 400,
        description = "Bad parameters or a request that cannot be",
        content_type = "application/problem+json"
    )]
    pub(crate) struct BadRequest(Problem);

    /// No valid token.
    #[derive(IntoResponses)]
    #[response(
        status = 401,
        description = "No valid token",
        content_type = "application/problem+json"
    )]
    pub(crate) struct Unauthorized(Problem);

    #[derive(IntoResponses)]
    #[response(
        status = 404,
        description = "No such session here",
        content_type = "application/problem+json"
    )]
    pub(crate) struct NotFound(Problem);

    #[derive(IntoResponses)]
    #[response(
        status = 409,
        description = "A turn is running, or the session is a sub-agent's",
        content_type = "application/problem+json"
    )]
    pub(crate) struct Conflict(Problem);

    /// What a JSON body can be refused for: too large, not JSON, or not the route's shape.
    #[derive(IntoResponses)]
    pub(crate) enum BodyRefused {
        #[response(
            status = 413,
            description = "Body too large",
            content_type = "application/problem+json"
        )]
        TooLarge(Problem),
        #[response(
            status = 415,
            description = "Body not JSON",
            content_type = "application/problem+json"
        )]
        NotJson(Problem),
        #[response(
            status = 422,
            description = "Body does not fit",
            content_type = "application/problem+json"
        )]
        WrongShape(Problem),
    }

    #[derive(IntoResponses)]
    #[response(
        status = 503,
        description = "The store failed, or the session could not be opened",
        content_type = "application/problem+json"
    )]
    pub(crate) struct Unavailable(Problem);
}
