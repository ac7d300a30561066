//! `sessions fork ID [--at SEQ]`: a new session holding a copy of another's conversation.

use std::process::ExitCode;

use code_mesh_core::{NewSession, RecordedEvent, Store, now_ms};
use code_mesh_protocol::{Event, EventKind, Role, SessionId, SessionInfo};

use super::{existing, replay};
use crate::exit::CliError;

pub(super) async fn fork(
    store: &dyn Store,
    id: &SessionId,
    at: Option<u64>,
) -> Result<ExitCode, CliError> {
    let (child, through) = fork_session(store, id, at).await?;
    eprintln!(
        "forked session {id} through message {through} into a new session; continue it with: code-mesh sessions resume {} \"…\"",
        child.id
    );
    println!("{}", child.id);
    Ok(ExitCode::SUCCESS)
}

/// Forks session `id` through message `at` (all when `None`) into a new session, checked by
/// replaying it (and removed again when the replay differs). Returns the new session and the
/// last message copied. `sessions fork` and the terminal UI's session picker use it.
pub(crate) async fn fork_session(
    store: &dyn Store,
    id: &SessionId,
    at: Option<u64>,
) -> Result<(SessionInfo, u64), CliError> {
    let parent = existing(store, id).await?;
    let events = store.events(id).await?;
    let (new, recorded) = fork_events(&parent, &events, at, now_ms())?;
    let through = match recorded.first().map(|r| &r.kind) {
        Some(EventKind::SessionForked { through_seq, .. }) => *through_seq,
        _ => 0,
    };
    let child = store.create_session_with_events(new, recorded).await?;
    let report = replay::check(store, &child).await?;
    if !report.differences.is_empty() {
        store.delete_session(&child.id).await?;
        return Err(replay::mismatch_error(&child.id, &report.differences));
    }
    Ok((child, through))
}

/// The new session and its events for a fork of `parent` (whose stored `events` these are)
/// through message `at` (all messages when `None`): a `session_forked` event, then copies of
/// the `message_added` events of messages `1..=at` and of the `context_compacted` events that
/// covered only those messages, in their order, all recorded at `now`.
///
/// Refuses a fork of a session without messages, an `at` outside `1..=last message`, and an
/// `at` that would copy an assistant message's tool calls but not their results (the next
/// message): such a fork would start with calls nobody answered.
pub(super) fn fork_events(
    parent: &SessionInfo,
    events: &[Event],
    at: Option<u64>,
    now: u64,
) -> Result<(NewSession, Vec<RecordedEvent>), CliError> {
    let messages: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::MessageAdded { message } => Some(message),
            _ => None,
        })
        .collect();
    let id = &parent.id;
    let Some(last) = messages.last().map(|m| m.seq) else {
        return Err(CliError::usage(
            format!("session `{id}` has no messages to fork"),
            format!("continue it instead: code-mesh sessions resume {id} \"…\""),
        ));
    };
    let through = at.unwrap_or(last);
    if through == 0 || through > last {
        return Err(CliError::usage(
            format!(
                "cannot fork session `{id}` at message {through}: its messages are 1 to {last}"
            ),
            format!(
                "pick one of them (`code-mesh sessions show {id}` numbers them), or drop --at to copy all"
            ),
        ));
    }
    let next = messages.iter().find(|m| m.seq == through + 1);
    if let Some(results) = next.filter(|m| m.role == Role::Tool) {
        return Err(CliError::usage(
            format!(
                "cannot fork session `{id}` at message {through}: it asks for tool calls whose results are message {}, and a fork must not separate them",
                results.seq
            ),
            format!(
                "fork at message {} to include the results, or at {} to stop before the calls",
                results.seq,
                through - 1
            ),
        ));
    }
    let mut recorded = vec![RecordedEvent {
        at: now,
        kind: EventKind::SessionForked {
            parent_id: id.clone(),
            through_seq: through,
        },
    }];
    for event in events {
        let copy = match &event.kind {
            EventKind::MessageAdded { message } => message.seq <= through,
            EventKind::ContextCompacted { through_seq, .. } => *through_seq <= through,
            _ => false,
        };
        if copy {
            recorded.push(RecordedEvent {
                at: now,
                kind: event.kind.clone(),
            });
        }
    }
    let new = NewSession {
        cwd: parent.cwd.clone(),
        workspace: parent.workspace.clone(),
        model: parent.model.clone(),
        parent_id: Some(id.clone()),
        agent: None,
    };
    Ok((new, recorded))
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{CompactionMode, Message, Part, ToolCall, ToolResult};

    use super::*;

    fn message(seq: u64, role: Role, parts: Vec<Part>) -> Message {
        Message {
            seq,
            role,
            parts,
            model: None,
            usage: None,
            interrupted: false,
            created_at: 7,
        }
    }

    fn text(text: &str) -> Part {
        Part::Text { text: text.into() }
    }

    /// user, assistant with a call, its results, assistant answer, then a summary through 2.
    fn parent_events() -> Vec<Event> {
        let kinds = vec![
            EventKind::SessionStarted {
                cwd: "/p".into(),
                workspace: "/p".into(),
                model: "openai/m".into(),
                resumed: false,
            },
            EventKind::MessageAdded {
                message: message(1, Role::User, vec![text("look")]),
            },
            EventKind::MessageAdded {
                message: message(
                    2,
                    Role::Assistant,
                    vec![Part::ToolCall(ToolCall::new("c1", "ls", "{}"))],
                ),
            },
            EventKind::MessageAdded {
                message: message(
                    3,
                    Role::Tool,
                    vec![Part::ToolResult(ToolResult {
                        call_id: "c1".into(),
                        name: "ls".into(),
                        output: "a.txt".into(),
                        is_error: false,
                    })],
                ),
            },
            EventKind::MessageAdded {
                message: message(4, Role::Assistant, vec![text("one file")]),
            },
            EventKind::ContextCompacted {
                mode: CompactionMode::Pruned,
                through_seq: 3,
                summary: None,
                pruned_outputs: 1,
                tokens_before: 100,
                tokens_after: 50,
            },
        ];
        kinds
            .into_iter()
            .zip(1..)
            .map(|(kind, seq)| Event {
                seq: seq * 2,
                session_id: SessionId("ses_p".into()),
                at: 100 + seq,
                kind,
            })
            .collect()
    }

    fn parent() -> SessionInfo {
        SessionInfo {
            id: SessionId("ses_p".into()),
            cwd: "/p".into(),
            workspace: "/p".into(),
            model: "openai/m".into(),
            ..SessionInfo::default()
        }
    }

    fn kinds(recorded: &[RecordedEvent]) -> Vec<&'static str> {
        recorded.iter().map(|r| r.kind.name()).collect()
    }

    #[test]
    fn a_fork_copies_the_messages_and_compactions_up_to_its_message() {
        let (new, recorded) = fork_events(&parent(), &parent_events(), Some(3), 999).unwrap();
        assert_eq!(new.parent_id, Some(SessionId("ses_p".into())));
        assert_eq!(new.model, "openai/m");
        assert_eq!(
            kinds(&recorded),
            [
                "session_forked",
                "message_added",
                "message_added",
                "message_added",
                "context_compacted"
            ]
        );
        assert!(recorded.iter().all(|r| r.at == 999));

        let (_, all) = fork_events(&parent(), &parent_events(), None, 999).unwrap();
        assert!(matches!(
            all[0].kind,
            EventKind::SessionForked { through_seq: 4, .. }
        ));
        assert_eq!(all.len(), 6);

        let (_, first) = fork_events(&parent(), &parent_events(), Some(1), 999).unwrap();
        assert_eq!(kinds(&first), ["session_forked", "message_added"]);
    }

    #[test]
    fn a_fork_between_tool_calls_and_their_results_is_refused() {
        let err = fork_events(&parent(), &parent_events(), Some(2), 1).unwrap_err();
        assert!(
            err.message.contains("results are message 3"),
            "{}",
            err.message
        );
        assert!(err.hint.unwrap_or_default().contains("fork at message 3"));
    }

    #[test]
    fn a_fork_outside_the_messages_is_refused() {
        for at in [0, 5] {
            let err = fork_events(&parent(), &parent_events(), Some(at), 1).unwrap_err();
            assert!(
                err.message.contains("messages are 1 to 4"),
                "{}",
                err.message
            );
        }
        let err = fork_events(&parent(), &parent_events()[..1], None, 1).unwrap_err();
        assert!(err.message.contains("no messages"), "{}", err.message);
    }
}
