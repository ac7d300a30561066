//! The view: what a request carries of the stored history under a [`ContextState`] — the
//! summary in place of the messages it covers, and pruned outputs as markers. The stored
//! history itself is never changed.

use code_mesh_protocol::{ContextState, Message, Part, Role};

use super::budget::RequestCounter;
use super::prune;
use crate::history;

/// The messages of a request before the summary is put in front.
pub(crate) struct View {
    /// The history after the summary, every call answered, pruned outputs replaced.
    pub messages: Vec<Message>,
    /// The summary standing in for the older messages, with the seq it covers to.
    pub summary: Option<(u64, String)>,
    /// Which of `messages` went through pruning (for counting).
    pruned: Vec<bool>,
}

impl View {
    /// The view of `history` under `state`.
    pub fn build(history: &[Message], state: &ContextState) -> View {
        let summarized_through = state.summary.as_ref().map_or(0, |s| s.through_seq);
        let mut messages = history::request_messages(history);
        messages.retain(|message| message.seq > summarized_through);
        let mut pruned = Vec::with_capacity(messages.len());
        for message in &mut messages {
            let touched = message.role == Role::Tool && message.seq <= state.pruned_through;
            if touched {
                prune::prune_message(message);
            }
            pruned.push(touched);
        }
        View {
            messages,
            summary: state
                .summary
                .as_ref()
                .map(|s| (s.through_seq, s.text.clone())),
            pruned,
        }
    }

    /// Prunes the tool messages up to `seq` not pruned yet; returns the outputs replaced.
    pub fn prune_through(&mut self, seq: u64) -> u32 {
        let mut outputs = 0;
        for (message, pruned) in self.messages.iter_mut().zip(&mut self.pruned) {
            if message.role == Role::Tool && message.seq <= seq && !*pruned {
                outputs += prune::prune_message(message);
                *pruned = true;
            }
        }
        outputs
    }

    /// Tokens of the messages and summary, uncorrected.
    pub fn count(&self, counter: &mut RequestCounter) -> u64 {
        let mut total: u64 = self
            .messages
            .iter()
            .zip(&self.pruned)
            .map(|(message, pruned)| counter.message(message, *pruned))
            .sum();
        if let Some((_, text)) = &self.summary {
            total += counter.count_text(text) + 4;
        }
        total
    }

    /// The request's messages: the summary first, inside the first user message when the
    /// kept history starts with one (providers want user and assistant turns to alternate),
    /// else as a user message of its own.
    pub fn into_messages(self) -> Vec<Message> {
        let mut messages = self.messages;
        let Some((through_seq, text)) = self.summary else {
            return messages;
        };
        let part = Part::Text {
            text: format!("{text}\n\n"),
        };
        match messages.first_mut() {
            Some(first) if first.role == Role::User => first.parts.insert(0, part),
            _ => messages.insert(
                0,
                Message {
                    seq: through_seq,
                    role: Role::User,
                    parts: vec![part],
                    model: None,
                    usage: None,
                    interrupted: false,
                    created_at: 0,
                },
            ),
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{ContextSummary, ToolCall, ToolResult};

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

    fn text(text: &str) -> Part {
        Part::Text { text: text.into() }
    }

    fn history() -> Vec<Message> {
        vec![
            message(1, Role::User, vec![text("first task")]),
            message(
                2,
                Role::Assistant,
                vec![Part::ToolCall(ToolCall::new("a", "read", "{}"))],
            ),
            message(
                3,
                Role::Tool,
                vec![Part::ToolResult(ToolResult {
                    call_id: "a".into(),
                    name: "read".into(),
                    output: "y".repeat(2000),
                    is_error: false,
                })],
            ),
            message(4, Role::Assistant, vec![text("done")]),
            message(5, Role::User, vec![text("second task")]),
        ]
    }

    #[test]
    fn without_compaction_the_view_is_the_history() {
        let view = View::build(&history(), &ContextState::default());
        assert_eq!(view.into_messages(), history());
    }

    #[test]
    fn pruned_outputs_become_markers_and_the_rest_stays() {
        let state = ContextState {
            pruned_through: 3,
            summary: None,
        };
        let messages = View::build(&history(), &state).into_messages();
        let output = &messages[2].tool_results().next().unwrap().output;
        assert!(output.starts_with("[output pruned"), "{output}");
        assert_eq!(messages[4], history()[4]);
    }

    #[test]
    fn the_summary_replaces_what_it_covers_inside_the_next_user_message() {
        let state = ContextState {
            pruned_through: 4,
            summary: Some(ContextSummary {
                through_seq: 4,
                text: "SUMMARY".into(),
            }),
        };
        let messages = View::build(&history(), &state).into_messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].role, Role::User);
        assert_eq!(messages[0].text(), "SUMMARY\n\nsecond task");
    }

    #[test]
    fn a_summary_before_an_assistant_message_is_a_user_message_of_its_own() {
        let state = ContextState {
            pruned_through: 1,
            summary: Some(ContextSummary {
                through_seq: 1,
                text: "SUMMARY".into(),
            }),
        };
        let messages = View::build(&history(), &state).into_messages();
        assert_eq!(messages.len(), 5);
        assert_eq!(messages[0].role, Role::User);
        assert_eq!(messages[0].text(), "SUMMARY\n\n");
        assert_eq!(messages[1].role, Role::Assistant);
    }
}
