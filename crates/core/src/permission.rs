//! Whether a tool call may run. The defaults: reads inside the workspace run, writes and
//! commands ask (unless auto-approve, i.e. `--yes`), and "allow always" answers hold for the
//! rest of the session. Path confinement is the tools' own duty and is never waived here.

use std::collections::HashSet;

use code_mesh_protocol::{PermissionDecision, PermissionSource, ToolKind};

/// The session's permission state.
#[derive(Clone, Debug, Default)]
pub struct PermissionPolicy {
    auto_approve: bool,
    always_allowed: HashSet<String>,
}

/// What the policy says about one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow(PermissionSource),
    Ask,
}

impl PermissionPolicy {
    pub fn new(auto_approve: bool) -> Self {
        PermissionPolicy {
            auto_approve,
            always_allowed: HashSet::new(),
        }
    }

    pub fn evaluate(&self, tool: &str, kind: ToolKind) -> Verdict {
        if kind.is_read_only() || self.always_allowed.contains(tool) {
            Verdict::Allow(PermissionSource::Policy)
        } else if self.auto_approve {
            Verdict::Allow(PermissionSource::AutoApprove)
        } else {
            Verdict::Ask
        }
    }

    /// Remembers a user's answer that outlives the call.
    pub fn record(&mut self, tool: &str, decision: PermissionDecision) {
        if decision == PermissionDecision::AllowAlways {
            self.always_allowed.insert(tool.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_run_and_writes_ask_until_allowed_always() {
        let mut policy = PermissionPolicy::new(false);
        assert_eq!(
            policy.evaluate("read", ToolKind::Read),
            Verdict::Allow(PermissionSource::Policy)
        );
        assert_eq!(policy.evaluate("bash", ToolKind::Execute), Verdict::Ask);
        policy.record("bash", PermissionDecision::AllowOnce);
        assert_eq!(policy.evaluate("bash", ToolKind::Execute), Verdict::Ask);
        policy.record("bash", PermissionDecision::AllowAlways);
        assert_eq!(
            policy.evaluate("bash", ToolKind::Execute),
            Verdict::Allow(PermissionSource::Policy)
        );
        assert_eq!(policy.evaluate("write", ToolKind::Write), Verdict::Ask);
    }

    #[test]
    fn auto_approve_allows_writes() {
        let policy = PermissionPolicy::new(true);
        assert_eq!(
            policy.evaluate("write", ToolKind::Write),
            Verdict::Allow(PermissionSource::AutoApprove)
        );
    }
}
