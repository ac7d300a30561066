//! `sessions replay ID | --all`: every session rebuilt from its events alone
//! ([`SessionState::replay`]) must equal what the store holds.

use std::process::ExitCode;

use code_mesh_core::{ReplayDifference, SessionState, Store};
use code_mesh_protocol::{SessionId, SessionInfo};

use super::existing;
use crate::exit::{CliError, Exit};

/// A session can be read while another process appends to it; a check that saw the session
/// move on between its reads is made again, up to this many times.
const ATTEMPTS: usize = 3;

/// What checking one session found.
#[derive(Debug)]
pub(super) struct ReplayReport {
    pub events: usize,
    pub messages: usize,
    pub differences: Vec<ReplayDifference>,
}

/// Rebuilds `info`'s session from its stored events and compares it with the stored session.
pub(super) async fn check(store: &dyn Store, info: &SessionInfo) -> Result<ReplayReport, CliError> {
    let id = &info.id;
    let mut report = None;
    for _ in 0..ATTEMPTS {
        // The info is read after the events, so it is at least as new as they are.
        let events = store.events(id).await?;
        let messages = store.messages(id).await?;
        let context = store.context_state(id).await?;
        let Some(stored) = store.session(id).await? else {
            return Err(CliError::new(
                Exit::Failure,
                format!("session `{id}` was deleted while it was being checked"),
            ));
        };
        let state = SessionState::replay(&events);
        let mut differences = state.differences(&stored, &messages, &context);
        differences.extend(sequence_problems(&events));
        let settled = stored.last_event_seq == state.last_event_seq;
        report = Some(ReplayReport {
            events: events.len(),
            messages: messages.len(),
            differences,
        });
        if settled {
            break;
        }
    }
    report.ok_or_else(|| CliError::new(Exit::Failure, "the replay check did not run"))
}

/// Stored events must have rising sequence numbers and belong to their session.
fn sequence_problems(events: &[code_mesh_protocol::Event]) -> Vec<ReplayDifference> {
    let mut out = Vec::new();
    for pair in events.windows(2) {
        if pair[1].seq <= pair[0].seq {
            out.push(ReplayDifference {
                field: format!("event {}", pair[1].seq),
                replayed: format!("a seq above {}", pair[0].seq),
                stored: pair[1].seq.to_string(),
            });
        }
    }
    out
}

/// The error for a session written (by a fork or an import) that does not replay.
pub(super) fn mismatch_error(id: &SessionId, differences: &[ReplayDifference]) -> CliError {
    let listed: Vec<String> = differences.iter().map(ToString::to_string).collect();
    CliError::new(
        Exit::Failure,
        format!(
            "the new session `{id}` does not replay to what was stored, so it was removed: {}",
            listed.join("; ")
        ),
    )
    .with_hint("this is a bug in Code Mesh; please report it with the command you ran")
}

pub(super) async fn replay(store: &dyn Store, id: Option<SessionId>) -> Result<ExitCode, CliError> {
    let sessions = match id {
        Some(id) => vec![existing(store, &id).await?],
        None => store.list_sessions(usize::MAX).await?,
    };
    let mut failed = 0usize;
    for info in &sessions {
        let report = check(store, info).await?;
        if report.differences.is_empty() {
            println!(
                "ok: {}: {} events, {} messages",
                info.id, report.events, report.messages
            );
        } else {
            failed += 1;
            println!(
                "differs: {}: {} events, {} messages",
                info.id, report.events, report.messages
            );
            for difference in &report.differences {
                println!("  {difference}");
            }
        }
    }
    if sessions.is_empty() {
        eprintln!("no sessions to check");
    }
    if failed > 0 {
        eprintln!(
            "error: {failed} of {} sessions differ from what their events imply",
            sessions.len()
        );
        eprintln!(
            "hint: the store and its events disagree; export the session (`code-mesh sessions export ID`) and report it"
        );
        return Ok(Exit::Failure.into());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{EventKind, Usage};

    /// Regression: a cost summed from catalogue prices came back from the event's JSON one
    /// unit in the last place off, so `sessions replay` found the stored usage different from
    /// its `usage_updated` event. serde_json's `float_roundtrip` parses floats exactly.
    #[test]
    fn a_cost_survives_the_events_json_exactly() {
        let usage = Usage {
            cost_usd: Some(0.000_201_500_000_000_000_02),
            ..Usage::default()
        };
        let kind = EventKind::UsageUpdated {
            usage,
            session_total: usage,
        };
        let back: EventKind = serde_json::from_str(&serde_json::to_string(&kind).unwrap()).unwrap();
        assert_eq!(back, kind);
    }
}
