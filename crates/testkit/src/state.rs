//! The server's shared state: which turns are left, what arrived, what went wrong.
//!
//! One mutex guards it all and is never held across an `.await`: each request is
//! admitted (recorded, checked, matched to a turn) in one synchronous step, so concurrent
//! requests get distinct turns in arrival order.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::Notify;

use crate::check::{ChatRequest, Ledger, check_expect, conversation_key, message_text};
use crate::plan::PlannedTurn;
use crate::request::RecordedRequest;
use crate::script::Pairing;

/// State shared by the handlers and the server handle.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Woken whenever a turn is taken or a response finishes.
    changed: Notify,
}

#[derive(Debug)]
struct State {
    turns: Vec<Arc<PlannedTurn>>,
    consumed: Vec<bool>,
    served: usize,
    pairing: Pairing,
    requests: Vec<RecordedRequest>,
    violations: Vec<String>,
    ledger: Ledger,
    in_flight: usize,
}

/// What to do with a request.
pub(crate) enum Admission {
    /// Answer with a `testkit:` error; the violation is already recorded.
    Reject { status: StatusCode, message: String },
    /// Play this turn.
    Serve(Serving),
}

/// A turn taken by a request, with what its response needs.
pub(crate) struct Serving {
    pub turn: Arc<PlannedTurn>,
    pub request: ChatRequest,
    pub conversation: Option<String>,
    pub in_flight: InFlight,
}

/// Counts a response as in flight until dropped, so "done" means "fully sent".
pub(crate) struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
        self.0.changed.notify_waiters();
    }
}

/// Reads a request body of one wire into the normalized request the checks work on; the
/// URI is there for wires that put the model (Gemini) or options in it.
pub(crate) type ParseRequest = fn(&Value, &Uri) -> Result<ChatRequest, String>;

impl Shared {
    pub fn new(turns: Vec<PlannedTurn>, pairing: Pairing) -> Arc<Self> {
        let consumed = vec![false; turns.len()];
        Arc::new(Shared {
            state: Mutex::new(State {
                turns: turns.into_iter().map(Arc::new).collect(),
                consumed,
                served: 0,
                pairing,
                requests: Vec::new(),
                violations: Vec::new(),
                ledger: Ledger::default(),
                in_flight: 0,
            }),
            changed: Notify::new(),
        })
    }

    /// A panic in one handler must not hide every later check, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the request, checks it and picks the turn that answers it.
    pub fn admit(
        self: &Arc<Self>,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
        parse: Option<ParseRequest>,
    ) -> Admission {
        let path = uri.path();
        let mut state = self.lock();
        let number = state.requests.len() + 1;
        let parsed = serde_json::from_slice::<Value>(body);
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body: parsed.as_ref().cloned().unwrap_or(Value::Null),
            raw_body: String::from_utf8_lossy(body).into_owned(),
            turn: None,
        });
        let Some(parse) = parse else {
            let problem = format!(
                "unexpected `{method} {path}`: only {} are scripted",
                crate::respond::SCRIPTED_ROUTES
            );
            return state.reject(number, StatusCode::NOT_FOUND, vec![problem]);
        };
        let mut request = match parsed
            .map_err(|error| format!("the request body is not JSON: {error}"))
            .and_then(|body| parse(&body, uri))
        {
            Ok(request) => request,
            Err(problem) => return state.reject(number, StatusCode::BAD_REQUEST, vec![problem]),
        };
        // Wires without call ids number their calls by position; give them the issued ids.
        let conversation = conversation_key(&request);
        state
            .ledger
            .resolve_positions(&mut request, conversation.as_deref());
        let pairing = state.pairing;
        let problems = state.ledger.check(&request, pairing);
        if !problems.is_empty() {
            return state.reject(number, StatusCode::BAD_REQUEST, problems);
        }
        let agent = request_agent(&request);
        let Some(index) = state.next_turn_for(&request.model, agent.as_deref()) else {
            let problem = state.exhausted_message(&request.model, agent.as_deref());
            return state.reject(number, StatusCode::INTERNAL_SERVER_ERROR, vec![problem]);
        };
        state.consumed[index] = true;
        state.served += 1;
        state.in_flight += 1;
        let turn = Arc::clone(&state.turns[index]);
        if let Some(recorded) = state.requests.last_mut() {
            recorded.turn = Some(turn.number);
        }
        for problem in check_expect(&turn.expect, &request) {
            let message = format!("request {number} (turn {}): {problem}", turn.number);
            state.violations.push(message);
        }
        drop(state);
        self.changed.notify_waiters();
        Admission::Serve(Serving {
            conversation: conversation_key(&request),
            turn,
            request,
            in_flight: InFlight(Arc::clone(self)),
        })
    }

    /// Records tool calls as issued: later requests of the conversation must return them.
    pub fn issue(&self, ids: &[String], turn: usize, conversation: Option<String>) {
        self.lock().ledger.issue(ids, turn, conversation);
    }

    /// The models the turns are for, in script order, without repeats.
    pub fn turn_models(&self) -> Vec<String> {
        let state = self.lock();
        let mut models: Vec<String> = Vec::new();
        for model in state.turns.iter().filter_map(|turn| turn.model.as_ref()) {
            if !models.contains(model) {
                models.push(model.clone());
            }
        }
        models
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn turns_served(&self) -> usize {
        self.lock().served
    }

    /// Violations, turns never served, and tool calls never answered.
    pub fn problems(&self) -> Vec<String> {
        let state = self.lock();
        let mut problems = state.violations.clone();
        for (turn, consumed) in state.turns.iter().zip(&state.consumed) {
            if !consumed {
                problems.push(format!(
                    "turn {}{} was never served",
                    turn.number,
                    routing(turn)
                ));
            }
        }
        // `Pairing::Off` demands no results back, so none is missing either.
        let owed = state
            .ledger
            .unanswered()
            .filter(|_| state.pairing != Pairing::Off);
        for call in owed {
            problems.push(format!(
                "tool call `{}` issued by turn {} was never answered by a later request",
                call.id, call.turn
            ));
        }
        problems
    }

    /// Every turn taken and every response fully sent.
    pub fn is_done(&self) -> bool {
        let state = self.lock();
        state.in_flight == 0 && state.consumed.iter().all(|consumed| *consumed)
    }

    /// Waits until [`Shared::is_done`].
    pub async fn wait_until_done(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before checking, so a change between check and await is not lost.
            changed.as_mut().enable();
            if self.is_done() {
                return;
            }
            changed.await;
        }
    }
}

impl State {
    fn reject(&mut self, number: usize, status: StatusCode, problems: Vec<String>) -> Admission {
        for problem in &problems {
            self.violations.push(format!("request {number}: {problem}"));
        }
        Admission::Reject {
            status,
            message: format!("testkit: {}", problems.join("; ")),
        }
    }

    /// The first unconsumed turn for this model and agent (turns without a model take any
    /// model; turns without an agent take any request).
    fn next_turn_for(&self, model: &str, agent: Option<&str>) -> Option<usize> {
        self.turns
            .iter()
            .zip(&self.consumed)
            .position(|(turn, consumed)| {
                !consumed
                    && turn.model.as_deref().is_none_or(|wanted| wanted == model)
                    && turn
                        .agent
                        .as_deref()
                        .is_none_or(|wanted| Some(wanted) == agent)
            })
    }

    fn exhausted_message(&self, model: &str, agent: Option<&str>) -> String {
        let mut message = format!("script exhausted after {} turns", self.served);
        let waiting: Vec<String> = self
            .turns
            .iter()
            .zip(&self.consumed)
            .filter(|(_, consumed)| !**consumed)
            .map(|(turn, _)| {
                let wanted = turn.model.as_deref().unwrap_or_default();
                let agent = turn
                    .agent
                    .as_deref()
                    .map(|agent| format!(" agent `{agent}`"))
                    .unwrap_or_default();
                format!("turn {} for `{wanted}`{agent}", turn.number)
            })
            .collect();
        if !waiting.is_empty() {
            let agent = agent
                .map(|agent| format!(" and agent `{agent}`"))
                .unwrap_or_default();
            message.push_str(&format!(
                " (none left for model `{model}`{agent}; waiting: {})",
                waiting.join(", ")
            ));
        }
        message
    }
}

/// What a turn is routed on, for messages: ` (model `m`, agent `a`)` or nothing.
fn routing(turn: &PlannedTurn) -> String {
    let parts: Vec<String> = [("model", &turn.model), ("agent", &turn.agent)]
        .into_iter()
        .filter_map(|(what, value)| value.as_ref().map(|value| format!("{what} `{value}`")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// The line of the system prompt that names the agent a request is from.
const AGENT_LINE: &str = "Code Mesh agent: ";

/// The agent a request is from: the `Code Mesh agent: NAME` line of its system prompt.
fn request_agent(request: &ChatRequest) -> Option<String> {
    request
        .messages
        .iter()
        .filter(|message| matches!(message["role"].as_str(), Some("system" | "developer")))
        .flat_map(|message| {
            message_text(message)
                .lines()
                .filter_map(|line| line.trim_end().strip_prefix(AGENT_LINE))
                .map(|agent| agent.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .next()
}
