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
use crate::state::{Admission, ParseRequest, Serving, Shared};
use crate::wire::{ChunkHeader, compact_json, error_body, reply_events, scripted_error_body};
use crate::wires::{anthropic, gemini, ollama, responses};

/// The endpoints scripted turns answer, for the message about any other request.
pub(crate) const SCRIPTED_ROUTES: &str = "`POST /v1/chat/completions`, `POST /v1/responses`, \
     `POST /v1/messages`, `POST /v1beta/models/MODEL:streamGenerateContent` and `POST /api/chat`";

/// The wire a request speaks, by its method and path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    Chat,
    Responses,
    Anthropic,
    Gemini,
    Ollama,
}

impl Wire {
    fn of(method: &Method, path: &str) -> Option<Wire> {
        if method != Method::POST {
            return None;
        }
        match path {
            "/v1/chat/completions" | "/chat/completions" => Some(Wire::Chat),
            "/v1/responses" | "/responses" => Some(Wire::Responses),
            "/v1/messages" => Some(Wire::Anthropic),
            ollama::CHAT_PATH => Some(Wire::Ollama),
            path if gemini::is_stream_path(path) => Some(Wire::Gemini),
            _ => None,
        }
    }

    fn parser(self) -> ParseRequest {
        match self {
            Wire::Chat => |body, _| crate::check::parse_request(body),
            Wire::Responses => |body, _| responses::parse_request(body),
            Wire::Anthropic => |body, _| anthropic::parse_request(body),
            Wire::Gemini => gemini::parse_request,
            Wire::Ollama => |body, _| ollama::parse_request(body),
        }
    }
}

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
    // Ollama's model list and details answer at once, without taking a turn.
    match (&method, uri.path()) {
        (&Method::GET, "/api/tags") => {
            return json_response(StatusCode::OK, ollama::tags_body(&shared.turn_models()));
        }
        (&Method::POST, "/api/show") => {
            let model = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|body| body["model"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return json_response(StatusCode::OK, ollama::show_body(&model));
        }
        _ => {}
    }
    let wire = Wire::of(&method, uri.path());
    let parse = wire.map(Wire::parser);
    match shared.admit(&method, &uri, &headers, &body, parse) {
        Admission::Reject { status, message } if wire == Some(Wire::Anthropic) => {
            json_response(status, anthropic::error_body(status.as_u16(), &message))
        }
        Admission::Reject { status, message } if wire == Some(Wire::Gemini) => {
            json_response(status, gemini::error_body(status.as_u16(), &message))
        }
        Admission::Reject { status, message } if wire == Some(Wire::Ollama) => {
            json_response(status, ollama::error_body(&message))
        }
        Admission::Reject { status, message } => testkit_error(status, &message),
        Admission::Serve(serving) => serve(shared, serving, wire.unwrap_or(Wire::Chat)).await,
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

async fn serve(shared: Arc<Shared>, serving: Serving, wire: Wire) -> Response {
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
            status, body: None, ..
        } if wire == Wire::Anthropic => json_response(
            *status,
            anthropic::scripted_error_body(status.as_u16(), &request.model),
        ),
        Reply::Raw { events, call_ids } if wire == Wire::Anthropic => {
            let mut ids = call_ids.clone();
            ids.extend(anthropic::raw_call_ids(events));
            stream(events.clone(), issue(&ids, events.len().saturating_sub(1)))
        }
        Reply::Stream(reply) if wire == Wire::Anthropic => {
            let usage = reply
                .usage
                .unwrap_or_else(|| estimate_usage(&request, reply));
            let events = anthropic::reply_events(turn.number, &request.model, reply, usage);
            stream(events.events, issue(&events.call_ids, events.finish_index))
        }
        Reply::Body {
            status, body: None, ..
        } if wire == Wire::Gemini => json_response(
            *status,
            gemini::scripted_error_body(status.as_u16(), &request.model),
        ),
        Reply::Body {
            status, body: None, ..
        } if wire == Wire::Ollama => json_response(
            *status,
            ollama::scripted_error_body(status.as_u16(), &request.model),
        ),
        Reply::Raw { events, call_ids } if wire == Wire::Ollama => {
            let mut response = stream(
                events.clone(),
                issue(call_ids, events.len().saturating_sub(1)),
            );
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(ollama::NDJSON),
            );
            response
        }
        Reply::Stream(reply) if wire == Wire::Gemini => {
            let usage = reply
                .usage
                .unwrap_or_else(|| estimate_usage(&request, reply));
            let events = gemini::reply_events(turn.number, &request.model, reply, usage);
            let ids: Vec<String> = reply.calls.iter().map(|call| call.id.clone()).collect();
            stream(events.events, issue(&ids, events.finish_index))
        }
        Reply::Stream(reply) if wire == Wire::Ollama => {
            let usage = reply
                .usage
                .unwrap_or_else(|| estimate_usage(&request, reply));
            let events = ollama::reply_events(&request.model, reply, usage);
            let ids: Vec<String> = reply.calls.iter().map(|call| call.id.clone()).collect();
            let mut response = stream(events.events, issue(&ids, events.finish_index));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(ollama::NDJSON),
            );
            response
        }
        Reply::Body {
            status,
            body,
            content_type,
        } => plain(*status, body.as_ref(), content_type.as_deref(), &request),
        Reply::Raw { events, call_ids } => {
            let issue = issue(call_ids, events.len().saturating_sub(1));
            stream(events.clone(), issue)
        }
        Reply::Stream(reply) if wire == Wire::Responses => {
            let header = responses::ResponseHeader {
                turn: turn.number,
                created_at: unix_seconds(),
                model: &request.model,
            };
            let usage = reply
                .usage
                .unwrap_or_else(|| estimate_usage(&request, reply));
            let events = responses::reply_events(&header, &request, reply, usage);
            let ids: Vec<String> = reply.calls.iter().map(|call| call.id.clone()).collect();
            stream(events.events, issue(&ids, events.finish_index))
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
