//! Turning the stored history into what a model request may carry.

use std::collections::HashSet;

use code_mesh_protocol::{Message, Part, Role, ToolResult};

use crate::now_ms;

/// What a tool result says when its call never finished (a crash, `kill -9`, a lost
/// connection) so that every call the model made has an answer.
pub(crate) const INTERRUPTED_RESULT: &str = "interrupted: this call did not finish (the session was stopped); its effects, if any, are unknown";

/// Returns the history with every tool call answered: calls whose results are missing get an
/// "interrupted" result right after their message, and results without a call are dropped.
/// The stored history is never changed; this only shapes requests.
pub(crate) fn request_messages(history: &[Message]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(history.len());
    let mut index = 0;
    while index < history.len() {
        let message = &history[index];
        index += 1;
        match message.role {
            Role::Assistant => {
                out.push(message.clone());
                let calls: Vec<_> = message.tool_calls().cloned().collect();
                if calls.is_empty() {
                    continue;
                }
                let mut results = match history.get(index) {
                    Some(next) if next.role == Role::Tool => {
                        index += 1;
                        next.clone()
                    }
                    _ => Message {
                        seq: message.seq,
                        role: Role::Tool,
                        parts: Vec::new(),
                        model: None,
                        usage: None,
                        interrupted: true,
                        created_at: now_ms(),
                    },
                };
                let wanted: HashSet<&str> = calls.iter().map(|c| c.call_id.as_str()).collect();
                // Text beside the results (news that arrived while the tools ran, see
                // `TurnHooks::before_step`) stays, after them.
                results.parts.retain(|part| match part {
                    Part::ToolResult(result) => wanted.contains(result.call_id.as_str()),
                    Part::Text { .. } => true,
                    _ => false,
                });
                let answered: HashSet<String> =
                    results.tool_results().map(|r| r.call_id.clone()).collect();
                for call in &calls {
                    if !answered.contains(&call.call_id) {
                        results.parts.push(Part::ToolResult(ToolResult {
                            call_id: call.call_id.clone(),
                            name: call.name.clone(),
                            output: INTERRUPTED_RESULT.into(),
                            is_error: true,
                        }));
                    }
                }
                // Results go in the order of the calls, as some providers require.
                results.parts.sort_by_key(|part| match part {
                    Part::ToolResult(result) => calls
                        .iter()
                        .position(|c| c.call_id == result.call_id)
                        .unwrap_or(usize::MAX),
                    _ => usize::MAX,
                });
                out.push(results);
            }
            // A tool message not following its assistant message answers nothing.
            Role::Tool => {}
            Role::User => out.push(message.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::ToolCall;

    use super::*;

    fn message(seq: u64, role: Role, parts: Vec<Part>) -> Message {
        Message {
            seq,
            role,
            parts,
            model: None,
            usage: None,
            interrupted: false,
            created_at: 0,
        }
    }

    fn call(id: &str) -> Part {
        Part::ToolCall(ToolCall {
            call_id: id.into(),
            name: "bash".into(),
            arguments: "{}".into(),
            signature: None,
        })
    }

    fn result(id: &str) -> Part {
        Part::ToolResult(ToolResult {
            call_id: id.into(),
            name: "bash".into(),
            output: "ok".into(),
            is_error: false,
        })
    }

    #[test]
    fn missing_results_are_filled_in_call_order() {
        let history = vec![
            message(1, Role::User, vec![Part::Text { text: "go".into() }]),
            message(2, Role::Assistant, vec![call("a"), call("b"), call("c")]),
            message(3, Role::Tool, vec![result("c"), result("zzz")]),
            message(
                4,
                Role::User,
                vec![Part::Text {
                    text: "next".into(),
                }],
            ),
        ];
        let out = request_messages(&history);
        assert_eq!(out.len(), 4);
        let ids: Vec<_> = out[2].tool_results().map(|r| r.call_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(out[2].tool_results().next().unwrap().is_error);
    }

    #[test]
    fn text_beside_the_results_is_kept_after_them() {
        let news = Part::Text {
            text: "[Messages from other agents]".into(),
        };
        let history = vec![
            message(1, Role::User, vec![Part::Text { text: "go".into() }]),
            message(2, Role::Assistant, vec![call("a"), call("b")]),
            message(3, Role::Tool, vec![news.clone(), result("b"), result("a")]),
        ];
        let out = request_messages(&history);
        assert_eq!(out[2].parts, vec![result("a"), result("b"), news]);
    }

    #[test]
    fn a_call_with_no_tool_message_gets_one() {
        let history = vec![
            message(1, Role::User, vec![Part::Text { text: "go".into() }]),
            message(2, Role::Assistant, vec![call("a")]),
        ];
        let out = request_messages(&history);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].role, Role::Tool);
        assert_eq!(out[2].tool_results().count(), 1);
    }
}
