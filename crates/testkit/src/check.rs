//! Checks on what the client sends: the request shape, a turn's `expect`, and the
//! invariant that every tool call the server issued comes back with its result.

use std::collections::HashSet;

use serde_json::Value;

use crate::script::{Expect, Pairing};

/// The parts of a chat completion request the server acts on.
#[derive(Debug)]
pub(crate) struct ChatRequest {
    pub model: String,
    pub messages: Vec<Value>,
    pub tools: Vec<Value>,
    pub include_usage: bool,
}

/// Accepts only what a streaming client must send; anything else is a client bug.
pub(crate) fn parse_request(body: &Value) -> Result<ChatRequest, String> {
    if !body.is_object() {
        return Err("the request body is not a JSON object".into());
    }
    let model = body["model"]
        .as_str()
        .filter(|model| !model.is_empty())
        .ok_or("the request has no `model` string")?;
    let messages = body["messages"]
        .as_array()
        .ok_or("the request has no `messages` array")?;
    if body["stream"] != Value::Bool(true) {
        return Err("the request does not set `stream: true`".into());
    }
    Ok(ChatRequest {
        model: model.to_owned(),
        messages: messages.clone(),
        tools: body["tools"].as_array().cloned().unwrap_or_default(),
        include_usage: body["stream_options"]["include_usage"] == Value::Bool(true),
    })
}

fn role(message: &Value) -> &str {
    message["role"].as_str().unwrap_or_default()
}

/// The text of a message whose `content` is a string or an array of text parts.
pub(crate) fn message_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// One message per unmet expectation.
pub(crate) fn check_expect(expect: &Expect, request: &ChatRequest) -> Vec<String> {
    let mut problems = Vec::new();
    let texts_of = |wanted: &[&str]| -> Vec<String> {
        request
            .messages
            .iter()
            .filter(|message| wanted.contains(&role(message)))
            .map(message_text)
            .collect()
    };
    let system = texts_of(&["system", "developer"]);
    for needle in &expect.system_contains {
        if !system.iter().any(|text| text.contains(needle.as_str())) {
            problems.push(format!("no system message contains `{needle}`"));
        }
    }
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|message| role(message) == "user")
        .map(message_text);
    for needle in &expect.last_user_contains {
        match &last_user {
            Some(text) if text.contains(needle.as_str()) => {}
            Some(_) => problems.push(format!("the last user message does not contain `{needle}`")),
            None => problems.push(format!(
                "no user message (expected one containing `{needle}`)"
            )),
        }
    }
    let tool_results = texts_of(&["tool"]);
    for needle in &expect.tool_result_contains {
        if !tool_results
            .iter()
            .any(|text| text.contains(needle.as_str()))
        {
            problems.push(format!("no tool result contains `{needle}`"));
        }
    }
    let serialized = crate::wire::compact_json(&request.messages);
    for needle in &expect.messages_contain {
        if !serialized.contains(needle.as_str()) {
            problems.push(format!("the messages do not contain `{needle}`"));
        }
    }
    let offered: Vec<&str> = request
        .tools
        .iter()
        .filter_map(|tool| tool["function"]["name"].as_str())
        .collect();
    for name in &expect.tools_include {
        if !offered.contains(&name.as_str()) {
            problems.push(format!(
                "no tool named `{name}` is offered (offered: {offered:?})"
            ));
        }
    }
    problems
}

/// Which conversation a request belongs to: its first user message. Sub-agents start
/// from their own task, so their requests do not owe the parent's tool results.
pub(crate) fn conversation_key(request: &ChatRequest) -> Option<String> {
    request
        .messages
        .iter()
        .find(|message| role(message) == "user")
        .map(message_text)
}

/// The placeholder id of the call at `position` (0-based, in order of appearance) in a
/// request of a wire without call ids (Gemini, Ollama); [`Ledger::resolve_positions`]
/// replaces it with the id the server issued for that call.
pub(crate) fn position_id(position: usize) -> String {
    format!("{POSITION_PREFIX}{position}")
}

/// The id given to the `n`-th result that answers no call at its position (wrong name, or
/// more results than calls): it matches nothing, so pairing reports the call as unanswered.
pub(crate) fn unpaired_id(n: usize) -> String {
    format!("testkit-unpaired-result-{n}")
}

const POSITION_PREFIX: &str = "testkit-position-";

/// A tool call the server sent, and whether a later request brought its result.
#[derive(Debug, Clone)]
pub(crate) struct IssuedCall {
    pub id: String,
    /// The script turn that issued it (1-based).
    pub turn: usize,
    conversation: Option<String>,
    pub answered: bool,
}

/// Every tool call issued so far.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    calls: Vec<IssuedCall>,
}

impl Ledger {
    /// Records calls sent by `turn` in answer to a request of `conversation`.
    pub fn issue(&mut self, ids: &[String], turn: usize, conversation: Option<String>) {
        self.calls.extend(ids.iter().map(|id| IssuedCall {
            id: id.clone(),
            turn,
            conversation: conversation.clone(),
            answered: false,
        }));
    }

    /// Replaces the placeholders of [`position_id`] with the ids of the calls issued to
    /// `conversation`, in issue order: a wire without ids identifies a call by its place in
    /// the conversation. A position beyond what was issued keeps an id that matches nothing.
    pub fn resolve_positions(&self, request: &mut ChatRequest, conversation: Option<&str>) {
        let issued: Vec<&str> = self
            .calls
            .iter()
            .filter(|call| call.conversation.as_deref() == conversation)
            .map(|call| call.id.as_str())
            .collect();
        let resolve = |id: &mut Value| {
            let Some(position) = id
                .as_str()
                .and_then(|id| id.strip_prefix(POSITION_PREFIX))
                .and_then(|position| position.parse::<usize>().ok())
            else {
                return;
            };
            *id = Value::String(match issued.get(position) {
                Some(issued) => (*issued).to_owned(),
                None => format!("testkit-unissued-call-{position}"),
            });
        };
        for message in &mut request.messages {
            if let Some(calls) = message.get_mut("tool_calls").and_then(Value::as_array_mut) {
                for call in calls {
                    if let Some(id) = call.get_mut("id") {
                        resolve(id);
                    }
                }
            }
            if let Some(id) = message.get_mut("tool_call_id") {
                resolve(id);
            }
        }
    }

    /// The calls never answered by a later request.
    pub fn unanswered(&self) -> impl Iterator<Item = &IssuedCall> {
        self.calls.iter().filter(|call| !call.answered)
    }

    /// Checks that `request` carries every call it owes, each with its result after it.
    /// Returns one message per problem and marks properly answered calls.
    pub fn check(&mut self, request: &ChatRequest, pairing: Pairing) -> Vec<String> {
        if pairing == Pairing::Off {
            return Vec::new();
        }
        let conversation = conversation_key(request);
        let messages = &request.messages;
        let makes_call = |message: &Value, id: &str| {
            role(message) == "assistant"
                && message["tool_calls"]
                    .as_array()
                    .is_some_and(|calls| calls.iter().any(|call| call["id"] == id))
        };
        let answers_call =
            |message: &Value, id: &str| role(message) == "tool" && message["tool_call_id"] == id;
        let mentioned: HashSet<&str> = messages
            .iter()
            .flat_map(|message| {
                let made = message["tool_calls"].as_array().into_iter().flatten();
                made.filter_map(|call| call["id"].as_str())
                    .chain(message["tool_call_id"].as_str())
            })
            .collect();
        let mut problems = Vec::new();
        for call in &mut self.calls {
            let owed = pairing == Pairing::Global
                || call.conversation == conversation
                || mentioned.contains(call.id.as_str());
            if !owed {
                continue;
            }
            let id = call.id.as_str();
            let made_at = messages.iter().position(|message| makes_call(message, id));
            let answered_at = messages
                .iter()
                .position(|message| answers_call(message, id));
            let turn = call.turn;
            let problem = match (made_at, answered_at) {
                (Some(made), Some(answered)) if answered > made => {
                    call.answered = true;
                    continue;
                }
                (Some(_), Some(_)) => {
                    "its `tool` result comes before the assistant message making the call"
                }
                (Some(_), None) => "no `tool` message carries its result",
                (None, Some(_)) => {
                    "the assistant message making the call is missing (its result is present)"
                }
                (None, None) => {
                    "both the assistant message making the call and its `tool` result are missing"
                }
            };
            problems.push(format!("tool call `{id}` issued by turn {turn}: {problem}"));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(messages: Value) -> ChatRequest {
        parse_request(&json!({"model": "m", "messages": messages, "stream": true})).unwrap()
    }

    fn call_message(id: &str) -> Value {
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": id, "type": "function", "function": {"name": "bash", "arguments": "{}"}}
        ]})
    }

    fn result_message(id: &str) -> Value {
        json!({"role": "tool", "tool_call_id": id, "content": "exit code 0"})
    }

    fn ledger_with_call_1() -> Ledger {
        let mut ledger = Ledger::default();
        ledger.issue(&["call_1".to_owned()], 1, Some("task".into()));
        ledger
    }

    #[test]
    fn malformed_requests_are_named() {
        let cases = [
            (json!([]), "not a JSON object"),
            (json!({"messages": [], "stream": true}), "`model`"),
            (json!({"model": "m", "stream": true}), "`messages`"),
            (json!({"model": "m", "messages": []}), "`stream: true`"),
        ];
        for (body, fragment) in cases {
            let error = parse_request(&body).unwrap_err();
            assert!(error.contains(fragment), "{error}");
        }
    }

    #[test]
    fn a_paired_call_is_answered() {
        let mut ledger = ledger_with_call_1();
        let request = request(json!([
            {"role": "user", "content": "task"},
            call_message("call_1"),
            result_message("call_1"),
        ]));
        assert!(ledger.check(&request, Pairing::Conversation).is_empty());
        assert_eq!(ledger.unanswered().count(), 0);
    }

    #[test]
    fn a_missing_result_is_a_problem_naming_id_and_turn() {
        let mut ledger = ledger_with_call_1();
        let request = request(json!([
            {"role": "user", "content": "task"},
            call_message("call_1"),
        ]));
        let problems = ledger.check(&request, Pairing::Conversation);
        assert_eq!(
            problems,
            vec!["tool call `call_1` issued by turn 1: no `tool` message carries its result"]
        );
        assert_eq!(ledger.unanswered().count(), 1);
    }

    #[test]
    fn a_dropped_history_in_the_same_conversation_is_a_problem() {
        let mut ledger = ledger_with_call_1();
        let request = request(json!([{"role": "user", "content": "task"}]));
        assert_eq!(ledger.check(&request, Pairing::Conversation).len(), 1);
    }

    #[test]
    fn a_result_before_its_call_is_a_problem() {
        let mut ledger = ledger_with_call_1();
        let request = request(json!([
            {"role": "user", "content": "task"},
            result_message("call_1"),
            call_message("call_1"),
        ]));
        assert!(ledger.check(&request, Pairing::Conversation)[0].contains("comes before"));
    }

    #[test]
    fn positions_resolve_to_the_ids_issued_in_the_conversation() {
        let mut ledger = ledger_with_call_1();
        ledger.issue(&["call_9".to_owned()], 2, Some("other".into()));
        ledger.issue(&["call_2".to_owned()], 3, Some("task".into()));
        let mut positional = request(json!([
            {"role": "user", "content": "task"},
            call_message(&position_id(0)),
            result_message(&position_id(0)),
            call_message(&position_id(1)),
            result_message(&unpaired_id(1)),
            call_message(&position_id(2)),
        ]));
        ledger.resolve_positions(&mut positional, Some("task"));
        let ids: Vec<&Value> = positional
            .messages
            .iter()
            .map(|m| {
                if m["role"] == "tool" {
                    &m["tool_call_id"]
                } else {
                    &m["tool_calls"][0]["id"]
                }
            })
            .skip(1)
            .collect();
        assert_eq!(
            ids,
            vec![
                "call_1",
                "call_1",
                "call_2",
                "testkit-unpaired-result-1",
                "testkit-unissued-call-2"
            ]
        );
        let problems = ledger.check(&positional, Pairing::Conversation);
        assert_eq!(
            problems,
            vec!["tool call `call_2` issued by turn 3: no `tool` message carries its result"]
        );
    }

    #[test]
    fn other_conversations_owe_nothing_unless_pairing_is_global() {
        let mut ledger = ledger_with_call_1();
        let other = request(json!([{"role": "user", "content": "sub-task"}]));
        assert!(ledger.check(&other, Pairing::Conversation).is_empty());
        assert!(ledger.check(&other, Pairing::Off).is_empty());
        assert_eq!(ledger.check(&other, Pairing::Global).len(), 1);
    }

    #[test]
    fn mentioning_a_call_in_another_conversation_still_requires_its_pair() {
        let mut ledger = ledger_with_call_1();
        let other = request(json!([
            {"role": "user", "content": "something else"},
            call_message("call_1"),
        ]));
        assert_eq!(ledger.check(&other, Pairing::Conversation).len(), 1);
    }

    #[test]
    fn expectations_report_each_miss() {
        let expect = Expect {
            system_contains: vec!["AGENTS".into()],
            last_user_contains: vec!["hello".into()],
            tool_result_contains: vec!["exit code 0".into()],
            messages_contain: vec!["\"role\":\"tool\"".into()],
            tools_include: vec!["bash".into()],
        };
        let good = ChatRequest {
            tools: vec![json!({"type": "function", "function": {"name": "bash"}})],
            ..request(json!([
                {"role": "system", "content": [{"type": "text", "text": "see AGENTS.md"}]},
                {"role": "user", "content": "hello"},
                call_message("c"),
                result_message("c"),
            ]))
        };
        assert_eq!(check_expect(&expect, &good), Vec::<String>::new());
        let bad = request(json!([{"role": "user", "content": "bye"}]));
        assert_eq!(check_expect(&expect, &bad).len(), 5);
    }
}
