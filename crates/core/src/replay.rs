//! Event sourcing: the state a session's events imply, rebuilt from the events alone.
//!
//! [`SessionState::apply`] is the one definition of what each stored event does to a session.
//! The in-memory store applies events through it; the SQLite store applies them in SQL in the
//! event's own transaction, and `code-mesh sessions replay` checks the two agree by rebuilding
//! every session from its events and comparing ([`SessionState::differences`]).

use code_mesh_protocol::{
    CompactionMode, ContextState, ContextSummary, Event, EventKind, Message, Role, SessionInfo,
    Usage,
};

use crate::title_from_prompt;

/// What a session's stored events add up to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionState {
    pub title: String,
    /// The model of the last `session_started`; empty before the first.
    pub model: String,
    pub messages: Vec<Message>,
    pub usage: Usage,
    pub context: ContextState,
    pub last_event_seq: u64,
    /// The time of the latest event (never moving back), 0 before the first.
    pub updated_at: u64,
}

/// How a stored session differs from what its events imply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayDifference {
    /// What differs, e.g. "message 3" or "title".
    pub field: String,
    /// What the events imply and what is stored, shortened.
    pub replayed: String,
    pub stored: String,
}

impl std::fmt::Display for ReplayDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: the events give {} but the store holds {}",
            self.field, self.replayed, self.stored
        )
    }
}

impl SessionState {
    /// Rebuilds a session from its events, in order.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> SessionState {
        let mut state = SessionState::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Applies one event. Transient events change nothing.
    pub fn apply(&mut self, event: &Event) {
        if event.kind.is_transient() {
            return;
        }
        match &event.kind {
            EventKind::MessageAdded { message } => {
                if self.title.is_empty() && message.role == Role::User {
                    self.title = title_from_prompt(&message.text());
                }
                self.messages.push(message.clone());
            }
            EventKind::UsageUpdated { session_total, .. } => self.usage = *session_total,
            EventKind::SessionStarted { model, .. } => self.model.clone_from(model),
            EventKind::ContextCompacted {
                mode,
                through_seq,
                summary,
                ..
            } => {
                self.context.pruned_through = self.context.pruned_through.max(*through_seq);
                if *mode == CompactionMode::Summarized {
                    self.context.summary = Some(ContextSummary {
                        through_seq: *through_seq,
                        text: summary.clone().unwrap_or_default(),
                    });
                }
            }
            _ => {}
        }
        self.last_event_seq = event.seq;
        self.updated_at = self.updated_at.max(event.at);
    }

    /// Where the stored session (`info`, its `messages` and `context`) differs from this state;
    /// empty when they agree.
    pub fn differences(
        &self,
        info: &SessionInfo,
        messages: &[Message],
        context: &ContextState,
    ) -> Vec<ReplayDifference> {
        let mut out = Vec::new();
        let mut differ = |field: String, replayed: String, stored: String| {
            out.push(ReplayDifference {
                field,
                replayed: shorten(&replayed),
                stored: shorten(&stored),
            });
        };
        if self.title != info.title {
            differ(
                "title".into(),
                format!("{:?}", self.title),
                format!("{:?}", info.title),
            );
        }
        if !self.model.is_empty() && self.model != info.model {
            differ("model".into(), self.model.clone(), info.model.clone());
        }
        if self.last_event_seq != info.last_event_seq {
            differ(
                "last event seq".into(),
                self.last_event_seq.to_string(),
                info.last_event_seq.to_string(),
            );
        }
        if self.messages.len() as u64 != info.message_count {
            differ(
                "message count".into(),
                self.messages.len().to_string(),
                info.message_count.to_string(),
            );
        }
        if self.usage != info.usage {
            differ(
                "usage".into(),
                format!("{:?}", self.usage),
                format!("{:?}", info.usage),
            );
        }
        if self.updated_at != 0 && info.updated_at < self.updated_at {
            differ(
                "updated at".into(),
                self.updated_at.to_string(),
                info.updated_at.to_string(),
            );
        }
        if &self.context != context {
            differ(
                "context".into(),
                format!("{:?}", self.context),
                format!("{context:?}"),
            );
        }
        let longest = self.messages.len().max(messages.len());
        for index in 0..longest {
            match (self.messages.get(index), messages.get(index)) {
                (Some(a), Some(b)) if a == b => {}
                (a, b) => differ(
                    format!("message {}", a.or(b).map_or(index as u64 + 1, |m| m.seq)),
                    a.map_or("nothing".into(), compact_json),
                    b.map_or("nothing".into(), compact_json),
                ),
            }
        }
        out
    }
}

fn compact_json(message: &Message) -> String {
    serde_json::to_string(message).unwrap_or_else(|err| format!("<unencodable: {err}>"))
}

fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let head: String = text.chars().take(MAX).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{Part, SessionId};

    use super::*;

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            session_id: SessionId("ses_x".into()),
            at: 1000 + seq,
            kind,
        }
    }

    fn user(seq: u64, text: &str) -> Message {
        Message {
            seq,
            role: Role::User,
            parts: vec![Part::Text { text: text.into() }],
            model: None,
            usage: None,
            interrupted: false,
            created_at: 5,
        }
    }

    #[test]
    fn replay_builds_title_messages_usage_and_context() {
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 2,
            ..Usage::default()
        };
        let events = vec![
            event(
                1,
                EventKind::SessionStarted {
                    cwd: "/p".into(),
                    workspace: "/p".into(),
                    model: "openai/m".into(),
                    resumed: false,
                },
            ),
            event(
                2,
                EventKind::MessageAdded {
                    message: user(1, "fix the bug\nplease"),
                },
            ),
            event(3, EventKind::TextDelta { delta: "x".into() }),
            event(
                4,
                EventKind::UsageUpdated {
                    usage,
                    session_total: usage,
                },
            ),
            event(
                5,
                EventKind::ContextCompacted {
                    mode: CompactionMode::Summarized,
                    through_seq: 1,
                    summary: Some("## Goal".into()),
                    pruned_outputs: 0,
                    tokens_before: 10,
                    tokens_after: 5,
                },
            ),
        ];
        let state = SessionState::replay(&events);
        assert_eq!(state.title, "fix the bug");
        assert_eq!(state.model, "openai/m");
        assert_eq!(state.messages.len(), 1);
        assert_eq!(state.usage, usage);
        assert_eq!(state.last_event_seq, 5);
        assert_eq!(state.context.pruned_through, 1);
        assert_eq!(
            state.context.summary.as_ref().map(|s| s.through_seq),
            Some(1)
        );

        let info = SessionInfo {
            title: "fix the bug".into(),
            model: "openai/m".into(),
            message_count: 1,
            last_event_seq: 5,
            updated_at: 1005,
            usage,
            ..SessionInfo::default()
        };
        assert!(
            state
                .differences(&info, &state.messages, &state.context)
                .is_empty()
        );
        let tampered = vec![user(1, "something else")];
        let diffs = state.differences(&info, &tampered, &state.context);
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].field, "message 1");
    }
}
