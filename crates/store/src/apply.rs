//! Applying one event to a session inside an open transaction: the SQL counterpart of
//! [`code_mesh_core::SessionState::apply`], which `sessions replay` checks it against.
//!
//! - every stored event is inserted into `events` and moves `last_event_seq` and `updated_at`;
//! - `message_added` inserts the message, counts it, and titles an untitled session from the
//!   first user prompt;
//! - `usage_updated` sets the usage totals; `session_started` the model;
//! - `context_compacted` updates the `context` state;
//! - `task_outcome_recorded` stores its lessons as project memory of the session's workspace.

use std::path::Path;

use code_mesh_core::{StoreError, lesson_memory, title_from_prompt};
use code_mesh_protocol::{
    CompactionMode, ContextState, ContextSummary, Event, EventKind, Role, SessionId,
};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::{error, memory};

/// An event with its JSON encoded before any lock is taken.
pub(crate) struct EncodedEvent<'a> {
    pub(crate) event: &'a Event,
    body: String,
    /// The message's JSON, for `message_added`.
    message_body: Option<String>,
}

impl<'a> EncodedEvent<'a> {
    pub(crate) fn new(path: &Path, event: &'a Event) -> Result<Self, StoreError> {
        let doing = || describe(event);
        let encode = |value: Result<String, serde_json::Error>| {
            value.map_err(|err| error::unstorable(path, &doing(), err))
        };
        let body = encode(serde_json::to_string(&event.kind))?;
        let message_body = match &event.kind {
            EventKind::MessageAdded { message } => Some(encode(serde_json::to_string(message))?),
            _ => None,
        };
        Ok(EncodedEvent {
            event,
            body,
            message_body,
        })
    }

    pub(crate) fn doing(&self) -> String {
        describe(self.event)
    }
}

fn describe(event: &Event) -> String {
    format!(
        "appending event {} (`{}`) to session `{}`",
        event.seq,
        event.kind.name(),
        event.session_id
    )
}

/// Appends `encoded` to its session within `tx`. Fails, leaving the transaction to be rolled
/// back, for an unknown session or a `seq` not above the last stored one.
pub(crate) fn append(
    tx: &Transaction<'_>,
    path: &Path,
    encoded: &EncodedEvent<'_>,
) -> Result<(), StoreError> {
    let event = encoded.event;
    let id = event.session_id.as_str();
    let fail = |err: rusqlite::Error| error::sqlite(path, &encoded.doing(), &err);
    let state = tx
        .prepare_cached("SELECT last_event_seq, title = '', workspace FROM sessions WHERE id = ?1")
        .and_then(|mut select| {
            select
                .query_row([id], |row| {
                    Ok((
                        row.get::<_, u64>(0)?,
                        row.get::<_, bool>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })
                .optional()
        })
        .map_err(fail)?;
    let Some((last_seq, untitled, workspace)) = state else {
        return Err(StoreError::new(format!(
            "{} in `{}` failed: there is no such session",
            encoded.doing(),
            path.display()
        ))
        .with_hint("the session may have been deleted; start a new one"));
    };
    if event.seq <= last_seq {
        return Err(StoreError::new(format!(
            "{} in `{}` failed: its seq is not above the last stored one ({last_seq})",
            encoded.doing(),
            path.display()
        ))
        .with_hint("another process may be writing to the same session; resume it again"));
    }

    tx.prepare_cached(
        "INSERT INTO events (session_id, seq, type, body, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            id,
            event.seq,
            event.kind.name(),
            encoded.body,
            event.at
        ])
    })
    .map_err(fail)?;

    match &event.kind {
        EventKind::MessageAdded { message } => {
            tx.prepare_cached(
                "INSERT INTO messages (session_id, seq, role, body, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    id,
                    message.seq,
                    role_name(message.role),
                    encoded.message_body.as_deref().unwrap_or("null"),
                    message.created_at
                ])
            })
            .map_err(fail)?;
            let title = if untitled && message.role == Role::User {
                title_from_prompt(&message.text())
            } else {
                String::new()
            };
            tx.prepare_cached(
                "UPDATE sessions SET message_count = message_count + 1, \
                 title = CASE WHEN ?2 = '' THEN title ELSE ?2 END WHERE id = ?1",
            )
            .and_then(|mut update| update.execute(params![id, title]))
            .map_err(fail)?;
        }
        EventKind::UsageUpdated { session_total, .. } => {
            tx.prepare_cached(
                "UPDATE sessions SET input_tokens = ?2, output_tokens = ?3, \
                 cache_read_tokens = ?4, cache_write_tokens = ?5, reasoning_tokens = ?6, \
                 cost_usd = ?7 WHERE id = ?1",
            )
            .and_then(|mut update| {
                update.execute(params![
                    id,
                    session_total.input_tokens,
                    session_total.output_tokens,
                    session_total.cache_read_tokens,
                    session_total.cache_write_tokens,
                    session_total.reasoning_tokens,
                    session_total.cost_usd
                ])
            })
            .map_err(fail)?;
        }
        // An empty model names none: the session keeps its last (as `SessionState` does).
        EventKind::SessionStarted { model, .. } if !model.is_empty() => {
            tx.prepare_cached("UPDATE sessions SET model = ?2 WHERE id = ?1")
                .and_then(|mut update| update.execute(params![id, model]))
                .map_err(fail)?;
        }
        EventKind::ContextCompacted {
            mode,
            through_seq,
            summary,
            ..
        } => {
            let body: String = tx
                .prepare_cached("SELECT context FROM sessions WHERE id = ?1")
                .and_then(|mut select| select.query_row([id], |row| row.get(0)))
                .map_err(fail)?;
            let mut context: ContextState = serde_json::from_str(&body).map_err(|err| {
                error::bad_row(path, &format!("the context state of session `{id}`"), &err)
            })?;
            context.pruned_through = context.pruned_through.max(*through_seq);
            if *mode == CompactionMode::Summarized {
                context.summary = Some(ContextSummary {
                    through_seq: *through_seq,
                    text: summary.clone().unwrap_or_default(),
                });
            }
            let body = serde_json::to_string(&context)
                .map_err(|err| error::unstorable(path, &encoded.doing(), err))?;
            tx.prepare_cached("UPDATE sessions SET context = ?2 WHERE id = ?1")
                .and_then(|mut update| update.execute(params![id, body]))
                .map_err(fail)?;
        }
        EventKind::TaskOutcomeRecorded { lessons, .. } => {
            let session = SessionId(id.to_owned());
            for lesson in lessons {
                memory::insert(
                    tx,
                    path,
                    &lesson_memory(lesson, &workspace, &session),
                    event.at,
                )?;
            }
        }
        _ => {}
    }

    // MAX: a clock stepping back must not move a session down the list.
    tx.prepare_cached(
        "UPDATE sessions SET last_event_seq = ?2, updated_at = MAX(updated_at, ?3) WHERE id = ?1",
    )
    .and_then(|mut update| update.execute(params![id, event.seq, event.at]))
    .map_err(fail)?;
    Ok(())
}

/// The `role` column's value: the role's JSON name.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}
