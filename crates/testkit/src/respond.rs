//! The one handler: admit the request, then answer with the turn's reply.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::check::ChatRequest;
use crate::plan::{Reply, StreamReply};
use crate::playback::{Issue, Playback};
use crate::script::Usage;
use crate::state::{Admission, Serving, Shared};
use crate::wire::{ChunkHeader, compact_json, error_body, reply_events, scripted_error_body};

/// Every path goes to one handler so unexpected requests are recorded as violations
/// rather than answered by axum's default 404/405.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        // Long conversations exceed axum's 2 MB default; the client is not an attacker.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match shared.admit(&method, uri.path(), &headers, &body) {
        Admission::Reject { status, message } => testkit_error(status, &message),
        Admission::Serve(serving) => serve(shared, serving).await,
    }
}

/// A `testkit:` error in the OpenAI error shape, so clients surface the message.
fn testkit_error(status: StatusCode, message: &str) -> Response {
    let kind = if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    };
    json_response(status, error_body(message, kind, None))
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    let content_type = HeaderValue::from_static("application/json");
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn serve(shared: Arc<Shared>, serving: Serving) -> Response {
    let Serving {
        turn,
        request,
        conversation,
        in_flight,
    } = serving;
    if !turn.delay.is_zero() {
        tokio::time::sleep(turn.delay).await;
    }
    let stream = |events: Vec<Bytes>, issue: Option<Issue>| {
        let playback = Playback {
            events,
            chunk_delay: turn.chunk_delay,
            cut_after: turn.cut_after,
            issue,
            _in_flight: in_flight,
        };
        let content_type = HeaderValue::from_static("text/event-stream; charset=utf-8");
        let headers = [(header::CONTENT_TYPE, content_type)];
        (headers, playback.into_body()).into_response()
    };
    let issue = |ids: &[String], at_event: usize| {
        (!ids.is_empty()).then(|| Issue {
            shared: Arc::clone(&shared),
            ids: ids.to_vec(),
            turn: turn.number,
            conversation: conversation.clone(),
            at_event,
        })
    };
    let mut response = match &turn.reply {
        Reply::Body {
            status,
            body,
            content_type,
        } => plain(*status, body.as_ref(), content_type.as_deref(), &request),
        Reply::Raw { events, call_ids } => {
            let issue = issue(call_ids, events.len().saturating_sub(1));
            stream(events.clone(), issue)
        }
        Reply::Stream(reply) => {
            let id = format!("chatcmpl-testkit{}", turn.number);
            let header = ChunkHeader {
                id: &id,
                created: unix_seconds(),
                model: &request.model,
            };
            let usage = request.include_usage.then(|| {
                reply
                    .usage
                    .unwrap_or_else(|| estimate_usage(&request, reply))
            });
            let events = reply_events(&header, reply, usage);
            let ids: Vec<String> = reply.calls.iter().map(|call| call.id.clone()).collect();
            stream(events.events, issue(&ids, events.finish_index))
        }
    };
    response.headers_mut().extend(turn.headers.clone());
    response
}

fn plain(
    status: axum::http::StatusCode,
    body: Option<&Bytes>,
    content_type: Option<&str>,
    request: &ChatRequest,
) -> Response {
    let Some(body) = body else {
        return json_response(status, scripted_error_body(status.as_u16(), &request.model));
    };
    let content_type = match content_type {
        Some(given) => HeaderValue::from_str(given).ok(),
        None if serde_json::from_slice::<serde_json::Value>(body).is_ok() => {
            Some(HeaderValue::from_static("application/json"))
        }
        None => Some(HeaderValue::from_static("text/plain; charset=utf-8")),
    };
    let mut response = (status, body.clone()).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

/// About four bytes per token: deterministic for a given request and reply.
fn estimate_usage(request: &ChatRequest, reply: &StreamReply) -> Usage {
    let tokens = |bytes: usize| (bytes as u64).div_ceil(4).max(1);
    let generated = reply.text.as_deref().map_or(0, str::len)
        + reply.reasoning.as_deref().map_or(0, str::len)
        + reply
            .calls
            .iter()
            .map(|call| call.name.len() + call.arguments.len())
            .sum::<usize>();
    Usage {
        prompt_tokens: tokens(compact_json(&request.messages).len()),
        completion_tokens: tokens(generated),
    }
}
