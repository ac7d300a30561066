//! The engine's events as they happen: Server-Sent Events per session and for every session,
//! and a WebSocket per session carrying Ops in and Events out.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use code_mesh_protocol::{Op, SessionInfo};
use futures::{SinkExt, Stream, StreamExt};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::body::{PathParams, QueryParams};
use crate::error::ApiError;
use crate::error::responses::{BadRequest, NotFound, Unauthorized, Unavailable};
use crate::routes::sessions::{SessionPath, apply_op};
use crate::state::AppState;
use crate::stream::{self, GlobalItem, StreamError};

/// A comment line this often keeps proxies and browsers from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The largest Op a WebSocket client may send.
const WS_MESSAGE_LIMIT: usize = crate::BODY_LIMIT_BYTES;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Replay the stored events with a larger `seq` first (`Last-Event-ID` does the same).
    pub after: Option<u64>,
    /// The API token, for clients that cannot set `Authorization` (EventSource, WebSocket).
    #[expect(
        dead_code,
        reason = "the auth middleware reads it; declared for the OpenAPI description"
    )]
    pub token: Option<String>,
}

/// Session `id`'s events as Server-Sent Events: `id:` is the event's `seq`, `data:` its JSON.
#[utoipa::path(get, path = "/api/sessions/{id}/stream", tag = "events",
    params(("id" = String, Path, description = "A session id"), StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this seq")),
    responses(
        (status = 200, description = "An endless event stream", body = String, content_type = "text/event-stream"),
        BadRequest,
        Unauthorized,
        NotFound,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn session_stream(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
    QueryParams(query): QueryParams<StreamQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let session = state.session(&path.id).await?;
    let after = last_event_id(&headers)?.or(query.after);
    let events = events_of(&state, &session, after).await;
    let sse = events.map(|item| {
        Ok(match item {
            Ok(item) => SseEvent::default()
                .id(item.seq.to_string())
                .data(&*item.json),
            Err(StreamError::Store(message)) => SseEvent::default().event("problem").data(message),
        })
    });
    Ok(Sse::new(sse).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GlobalStreamQuery {
    /// The API token, for clients that cannot set `Authorization` (EventSource).
    #[expect(
        dead_code,
        reason = "the auth middleware reads it; declared for the OpenAPI description"
    )]
    pub token: Option<String>,
}

/// Every live session's events as Server-Sent Events (no replay). A client that falls behind
/// gets a `missed` event saying how many it lost.
#[utoipa::path(get, path = "/api/events", tag = "events", params(GlobalStreamQuery),
    responses(
        (status = 200, description = "An endless event stream", body = String, content_type = "text/event-stream"),
        BadRequest,
        Unauthorized,
    ),
    security(("bearer" = [])))]
pub(crate) async fn global_stream(
    State(state): State<AppState>,
    QueryParams(_query): QueryParams<GlobalStreamQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = stream::all_events(state.sessions(), state.stopping().clone());
    let sse = events.map(|item| {
        Ok(match item {
            GlobalItem::Event(frame) => SseEvent::default()
                .id(format!("{}:{}", frame.session_id, frame.seq))
                .data(&*frame.json),
            GlobalItem::Missed(count) => {
                SseEvent::default().event("missed").data(count.to_string())
            }
        })
    });
    Sse::new(sse).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}

/// A WebSocket on session `id`: text frames in are Ops (`{"type":"user_turn","text":"…"}`),
/// text frames out are Events, or a problem body answering an Op that failed.
#[utoipa::path(get, path = "/api/sessions/{id}/ws", tag = "events",
    params(("id" = String, Path, description = "A session id"), StreamQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        BadRequest,
        Unauthorized,
        NotFound,
        Unavailable,
    ),
    security(("bearer" = [])))]
pub(crate) async fn session_ws(
    State(state): State<AppState>,
    PathParams(path): PathParams<SessionPath>,
    QueryParams(query): QueryParams<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let session = state.session(&path.id).await?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::bad_request(format!(
            "this route speaks WebSocket: {}",
            rejection.body_text()
        ))
        .with_hint("connect with a WebSocket client (ws://HOST/api/sessions/ID/ws?token=TOKEN)")
    })?;
    Ok(upgrade
        .max_message_size(WS_MESSAGE_LIMIT)
        .on_upgrade(move |socket| serve_socket(state, session, query.after, socket))
        .into_response())
}

async fn serve_socket(
    state: AppState,
    session: SessionInfo,
    after: Option<u64>,
    socket: WebSocket,
) {
    let (mut outgoing, mut incoming) = socket.split();
    let events = events_of(&state, &session, after).await;
    futures::pin_mut!(events);
    // A ping every KEEP_ALIVE; a peer that answers nothing (not even a pong) for three of them
    // is gone, and its socket and subscription are dropped.
    let mut heartbeat = tokio::time::interval(KEEP_ALIVE);
    heartbeat.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > KEEP_ALIVE * 3 {
                    break;
                }
                if outgoing.send(WsMessage::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            item = events.next() => {
                let text = match item {
                    Some(Ok(item)) => item.json.to_string(),
                    Some(Err(StreamError::Store(message))) => problem_text(&ApiError::new(
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        crate::error::ProblemCode::SessionUnavailable,
                        message,
                    )),
                    None => break,
                };
                if outgoing.send(WsMessage::Text(text.into())).await.is_err() {
                    break;
                }
            }
            message = incoming.next() => {
                last_heard = tokio::time::Instant::now();
                let text = match message {
                    Some(Ok(WsMessage::Text(text))) => text,
                    Some(Ok(WsMessage::Binary(_))) => {
                        let err = ApiError::bad_request("binary frames carry nothing here")
                            .with_hint("send each Op as a JSON text frame");
                        if outgoing.send(WsMessage::Text(problem_text(&err).into())).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Some(Err(err)) => {
                        // An Op over the size limit ends here too: say so before closing.
                        let close = axum::extract::ws::CloseFrame {
                            code: axum::extract::ws::close_code::SIZE,
                            reason: format!("{err}").chars().take(100).collect::<String>().into(),
                        };
                        let _ = outgoing.send(WsMessage::Close(Some(close))).await;
                        break;
                    }
                    Some(Ok(WsMessage::Close(_))) | None => break,
                    // Pings are answered by axum; pongs need nothing.
                    Some(Ok(_)) => continue,
                };
                let outcome = match serde_json::from_str::<Op>(text.as_str()) {
                    Ok(op) => apply_op(&state, &session, op).await,
                    Err(err) => Err(ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        crate::error::ProblemCode::InvalidJson,
                        format!("not an Op: {err}"),
                    )
                    .with_hint("send e.g. {\"type\":\"user_turn\",\"text\":\"…\"} or {\"type\":\"cancel\"}")),
                };
                if let Err(err) = outcome
                    && outgoing.send(WsMessage::Text(problem_text(&err).into())).await.is_err()
                {
                    break;
                }
            }
        }
    }
    let _ = outgoing.close().await;
}

/// A session's events for a stream: a user session's from its slot, a sub-agent's from its run.
async fn events_of(
    state: &AppState,
    session: &SessionInfo,
    after: Option<u64>,
) -> futures::stream::BoxStream<'static, Result<stream::StreamItem, StreamError>> {
    let sessions = state.sessions().clone();
    let store = state.store().clone();
    let stopping = state.stopping().clone();
    if session.agent.is_some() {
        stream::agent_events(sessions, store, session, after, stopping)
            .await
            .boxed()
    } else {
        stream::session_events(sessions, store, session.id.clone(), after, stopping).boxed()
    }
}

fn problem_text(err: &ApiError) -> String {
    serde_json::to_string(&err.problem()).unwrap_or_default()
}

/// The `Last-Event-ID` an EventSource sends when it reconnects: the last `seq` it saw.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        ApiError::bad_request(format!("Last-Event-ID `{text}` is not an event seq"))
            .with_hint("send the `id` of the last event received, or leave the header out")
    })
}
