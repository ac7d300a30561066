//! Sessions and their conversations: create, list, read, fork, delete; prompts, aborts and
//! permission answers, which become the engine's Ops.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use code_mesh_core::orchestra::RunTree;
use code_mesh_protocol::config::Strategy;
use code_mesh_protocol::{
    Event, Message, Op, PermissionDecision, RunAgents, SessionId, SessionInfo,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::body::{JsonBody, OptionalJsonBody, PathParams, QueryParams};
use crate::error::ApiError;
use crate::error::responses::{
    BadRequest, BodyRefused, Conflict, NotFound, Unauthorized, Unavailable,
};
use crate::host::OpenRequest;
use crate::state::AppState;

/// A session with what its engine is doing now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub session: SessionInfo,
    /// Whether the server has the session's engine running.
    pub live: bool,
    /// Whether a turn is running.
    pub running: bool,
    /// The `permission_requested` events still waiting for an answer.
    pub pending_permissions: Vec<Event>,
}

/// Options of a new session; every field may be left out.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// `provider/model`; the configured model when left out.
    #[serde(default)]
    pub model: Option<String>,
    /// `single`, `hierarchical`, `pipeline`, `mesh` or `swarm`; the configured one when left
    /// out.
    #[serde(default)]
    #[schema(pattern = "^(single|hierarchical|pipeline|mesh|swarm)$")]
    pub strategy: Option<String>,
}

/// A prompt for the session's next turn.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The prompt; blank text is refused.
    #[schema(min_length = 1, pattern = "\\S")]
    pub text: String,
}

/// Where to fork a session.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkSession {
    /// The last message to copy; all of them when left out.
    #[serde(default)]
    pub through_seq: Option<u64>,
}

/// An answer to a permission request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionAnswer {
    pub decision: PermissionDecision,
}

/// Work the engine took on; its progress arrives as events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub session_id: SessionId,
    pub accepted: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many sessions (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a larger `seq` (default 0: from the start).
    pub after: Option<u64>,
    /// At most this many events (1 to 5000, default 1000).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SessionPath {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PermissionPath {
    pub id: String,
    pub request_id: String,
}

/// The user sessions of this workspace, newest first.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", params(ListQuery),
    responses(
        (status = 200, description = "The sessions", body = Vec<SessionInfo>),
        BadRequest,
        Unauthorized,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    let limit = bounded(query.limit, 50, 500, "limit")?;
    let listed = state
        .store()
        .user_sessions_in(state.workspace(), limit)
        .await?;
    Ok(Json(listed))
}

/// Starts a session in the server's workspace.
#[utoipa::path(post, path = "/api/sessions", tag = "sessions", request_body(content = Option<CreateSession>, content_type = "application/json"),
    responses(
        (status = 201, description = "The new session", body = SessionView),
        BadRequest,
        Unauthorized,
        BodyRefused,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    OptionalJsonBody(body): OptionalJsonBody<CreateSession>,
) -> Result<impl IntoResponse, ApiError> {
    let strategy = body.strategy.as_deref().map(parse_strategy).transpose()?;
    let model = body.model.filter(|model| !model.trim().is_empty());
    let slot = state
        .sessions()
        .open_new(OpenRequest {
            resume: None,
            model,
            strategy,
        })
        .await?;
    let view = view(&state, slot.id.as_str()).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One session and what its engine is doing.
#[utoipa::path(get, path = "/api/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "A session id")),
    responses(
        (status = 200, description = "The session", body = SessionView),
        Unauthorized,
        NotFound,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(view(&state, &path.id).await?))
}

async fn view(state: &AppState, id: &str) -> Result<SessionView, ApiError> {
    let session = state.session(id).await?;
    let status = state
        .sessions()
        .existing(&session.id)
        .map(|slot| slot.status())
        .unwrap_or_default();
    Ok(SessionView {
        session,
        live: status.live,
        running: status.running,
        pending_permissions: status.pending,
    })
}

/// Deletes a session and its history (its engine is stopped first).
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "A session id")),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized,
        NotFound,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
) -> Result<StatusCode, ApiError> {
    let session = state.session(&path.id).await?;
    if session.agent.is_some() {
        return Err(ApiError::agent_session(&session));
    }
    state.sessions().close(&session.id).await;
    if state.store().delete_session(&session.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::session_not_found(&session.id.0))
    }
}

/// Copies a session's conversation into a new session.
#[utoipa::path(post, path = "/api/sessions/{id}/fork", tag = "sessions", params(("id" = String, Path, description = "A session id")),
    request_body(content = Option<ForkSession>, content_type = "application/json"),
    responses(
        (status = 201, description = "The new session", body = SessionInfo),
        BadRequest,
        Unauthorized,
        NotFound,
        BodyRefused,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn fork(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
    OptionalJsonBody(body): OptionalJsonBody<ForkSession>,
) -> Result<impl IntoResponse, ApiError> {
    let session = state.session(&path.id).await?;
    if session.agent.is_some() {
        return Err(ApiError::agent_session(&session));
    }
    let forked = state
        .sessions()
        .host()
        .fork(&session.id, body.through_seq)
        .await?;
    Ok((StatusCode::CREATED, Json(forked)))
}

/// The session's messages, oldest first.
#[utoipa::path(get, path = "/api/sessions/{id}/messages", tag = "messages", params(("id" = String, Path, description = "A session id")),
    responses(
        (status = 200, description = "The messages", body = Vec<Message>),
        Unauthorized,
        NotFound,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn messages(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
) -> Result<Json<Vec<Message>>, ApiError> {
    let session = state.session(&path.id).await?;
    Ok(Json(state.store().messages(&session.id).await?))
}

/// Starts a turn with this prompt; it runs in the background and reports through events.
#[utoipa::path(post, path = "/api/sessions/{id}/messages", tag = "messages", params(("id" = String, Path, description = "A session id")),
    request_body(content = PostMessage, content_type = "application/json"),
    responses(
        (status = 202, description = "The turn started", body = Accepted),
        BadRequest,
        Unauthorized,
        NotFound,
        Conflict,
        BodyRefused,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn post_message(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
    JsonBody(body): JsonBody<PostMessage>,
) -> Result<impl IntoResponse, ApiError> {
    let session = state.session(&path.id).await?;
    apply_op(&state, &session, Op::UserTurn { text: body.text }).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            session_id: session.id,
            accepted: true,
        }),
    ))
}

/// The session's stored events after a `seq`, oldest first (transient deltas are not stored).
#[utoipa::path(get, path = "/api/sessions/{id}/events", tag = "events", params(("id" = String, Path, description = "A session id"), EventsQuery),
    responses(
        (status = 200, description = "The events", body = Vec<Event>),
        BadRequest,
        Unauthorized,
        NotFound,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn events(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Json<Vec<Event>>, ApiError> {
    let limit = bounded(query.limit, 1000, 5000, "limit")?;
    let session = state.session(&path.id).await?;
    let events = state
        .store()
        .events_after(&session.id, query.after.unwrap_or(0), limit)
        .await?;
    Ok(Json(events))
}

/// Cancels the running turn (what arrived so far is kept).
#[utoipa::path(post, path = "/api/sessions/{id}/abort", tag = "messages", params(("id" = String, Path, description = "A session id")),
    responses(
        (status = 202, description = "Cancelling", body = Accepted),
        Unauthorized,
        NotFound,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn abort(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
) -> Result<impl IntoResponse, ApiError> {
    let session = state.session(&path.id).await?;
    apply_op(&state, &session, Op::Cancel).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            session_id: session.id,
            accepted: true,
        }),
    ))
}

/// Answers a permission request the session is waiting on.
#[utoipa::path(post, path = "/api/sessions/{id}/permissions/{request_id}", tag = "messages",
    params(("id" = String, Path, description = "A session id"), ("request_id" = String, Path, description = "The request's id, from its permission_requested event")),
    request_body(content = PermissionAnswer, content_type = "application/json"),
    responses(
        (status = 204, description = "Answered"),
        BadRequest,
        Unauthorized,
        NotFound,
        BodyRefused,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn answer_permission(
    State(state): State<AppState>,
    PathParams(path): PathParams<PermissionPath>,
    JsonBody(body): JsonBody<PermissionAnswer>,
) -> Result<StatusCode, ApiError> {
    let session = state.session(&path.id).await?;
    apply_op(
        &state,
        &session,
        Op::PermissionReply {
            request_id: path.request_id,
            decision: body.decision,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agents and tasks of a multi-agent run (empty for a single agent's session).
#[utoipa::path(get, path = "/api/sessions/{id}/agents", tag = "sessions", params(("id" = String, Path, description = "A session id")),
    responses(
        (status = 200, description = "The run's agents and tasks", body = RunAgents),
        Unauthorized,
        NotFound,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn agents(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
) -> Result<Json<RunAgents>, ApiError> {
    let session = state.session(&path.id).await?;
    // The stored events hold every agent and task event (none is transient), so the tree read
    // from them is the live one too.
    let mut tree = RunTree::new();
    let mut after = 0;
    loop {
        let page = state.store().events_after(&session.id, after, 1000).await?;
        let Some(last) = page.last().map(|event| event.seq) else {
            break;
        };
        for event in &page {
            tree.apply(&event.kind);
        }
        after = last;
    }
    Ok(Json(tree.to_agents()))
}

/// Carries an Op to session `id`'s engine, resuming the session when it needs one; the HTTP
/// routes and the WebSocket share it.
pub(crate) async fn apply_op(
    state: &AppState,
    session: &SessionInfo,
    op: Op,
) -> Result<(), ApiError> {
    if session.agent.is_some() {
        return Err(ApiError::agent_session(session));
    }
    let id = &session.id;
    match op {
        Op::UserTurn { text } => {
            if text.trim().is_empty() {
                return Err(ApiError::bad_request("the prompt is empty")
                    .with_hint("send the task as `text`"));
            }
            let slot = state.sessions().ensure_open(id).await?;
            slot.start_turn(Op::UserTurn { text })
        }
        Op::Compact => {
            let slot = state.sessions().ensure_open(id).await?;
            slot.start_turn(Op::Compact)
        }
        Op::Cancel => match state.sessions().existing(id) {
            Some(slot) if slot.is_open() => slot.abort(),
            // No engine, so no turn: there is nothing to cancel.
            _ => Ok(()),
        },
        Op::PermissionReply {
            request_id,
            decision,
        } => match state.sessions().existing(id) {
            Some(slot) => slot.answer(&request_id, decision),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                crate::error::ProblemCode::PermissionRequestNotFound,
                format!(
                    "session `{id}` has no permission request `{request_id}` waiting for an answer"
                ),
            )),
        },
        Op::Shutdown => Err(ApiError::bad_request(
            "the server keeps its sessions' engines; a client cannot shut one down",
        )
        .with_hint("send cancel to stop the running turn, or DELETE the session")),
    }
}

fn parse_strategy(name: &str) -> Result<Strategy, ApiError> {
    Strategy::ALL
        .into_iter()
        .find(|strategy| strategy.to_string() == name)
        .ok_or_else(|| {
            let names: Vec<String> = Strategy::ALL.iter().map(ToString::to_string).collect();
            ApiError::bad_request(format!("`{name}` is not a strategy"))
                .with_hint(format!("use one of: {}", names.join(", ")))
        })
}

/// A limit parameter between 1 and `max`, `default` when left out.
fn bounded(
    value: Option<usize>,
    default: usize,
    max: usize,
    name: &str,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(value) if (1..=max).contains(&value) => Ok(value),
        Some(value) => Err(ApiError::bad_request(format!(
            "`{name}` is {value}; it must be 1 to {max}"
        ))),
    }
}
