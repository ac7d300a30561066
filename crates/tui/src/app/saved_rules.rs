//! "Allow always (save rule)": a person's "allow always" answer is kept beyond the session by
//! writing the engine's equivalent config rules (`remembered` on `permission_decided`) to a
//! config file. Where the file is, and how it is written, is the binary's business: it hands
//! the UI a [`RuleSaver`].

use code_mesh_protocol::config::PermissionRule;
use code_mesh_protocol::{EventKind, PermissionDecision, PermissionSource};

use super::App;

/// Writes permission rules where later sessions read them (a config file).
pub trait RuleSaver: Send + Sync {
    /// Adds `rules` (already present ones are skipped); returns where they were written
    /// (a path), or one sentence saying why they could not be, with what to do.
    fn save(&self, rules: &[PermissionRule]) -> Result<String, String>;
}

/// The rules to save, when `event` is a person's "allow always" answer: the config rules the
/// engine turned it into, empty when it found none safe to keep (a whole command, a shell).
/// Answers settled by rules or `--yes` are never saved.
pub fn rules_to_save(event: &EventKind) -> Option<&[PermissionRule]> {
    match event {
        EventKind::PermissionDecided {
            decision: PermissionDecision::AllowAlways,
            source: PermissionSource::User,
            remembered,
            ..
        } => Some(remembered),
        _ => None,
    }
}

impl App {
    /// Shows how saving `rules` went: `Some(Ok(place))` saved there, `Some(Err(why))` not
    /// saved, `None` no place to save to (they apply to this session only).
    pub fn rules_saved(
        &mut self,
        rules: &[PermissionRule],
        outcome: Option<Result<String, String>>,
    ) {
        if rules.is_empty() {
            self.conversation.push_notice(
                "Allowed for the rest of this session; no rule saved: only a program with its \
                 subcommand (`git status`), a directory or a site is kept for later sessions, \
                 not a whole command or a shell",
            );
            return;
        }
        let (noun, list) = describe(rules);
        let text = match outcome {
            Some(Ok(place)) => format!("Saved {noun} {list} in {place}"),
            Some(Err(why)) => {
                format!("Could not save {noun} {list} (allowed for this session only): {why}")
            }
            None => format!("{list}: allowed for this session only (no config file to save it in)"),
        };
        self.conversation.push_notice(text);
    }
}

/// "rule" or "rules", and the rules as `` `bash: git status *` → allow ``, comma-separated.
fn describe(rules: &[PermissionRule]) -> (&'static str, String) {
    let noun = if rules.len() == 1 { "rule" } else { "rules" };
    let list = rules
        .iter()
        .map(|rule| {
            let action = rule.action.as_str();
            match &rule.pattern {
                Some(pattern) => format!("`{}: {pattern}` → {action}", rule.tool),
                None => format!("`{}` → {action}", rule.tool),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    (noun, list)
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::config::PermissionAction;
    use code_mesh_protocol::{Event, SessionId};
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::app::Entry;

    fn allow(tool: &str, pattern: Option<&str>) -> PermissionRule {
        PermissionRule {
            tool: tool.into(),
            pattern: pattern.map(str::to_owned),
            action: PermissionAction::Allow,
        }
    }

    fn decided(
        decision: PermissionDecision,
        source: PermissionSource,
        remembered: Vec<PermissionRule>,
    ) -> EventKind {
        EventKind::PermissionDecided {
            request_id: "p1".into(),
            call_id: "c1".into(),
            decision,
            source,
            rule: None,
            remembered,
        }
    }

    #[test]
    fn only_a_persons_allow_always_is_saved() {
        let rules = vec![allow("bash", Some("git status *"))];
        let user = PermissionSource::User;
        let always = PermissionDecision::AllowAlways;
        assert_eq!(
            rules_to_save(&decided(always, user, rules.clone())),
            Some(&rules[..])
        );
        // Nothing the engine would keep: the UI says so rather than stay silent.
        assert_eq!(
            rules_to_save(&decided(always, user, Vec::new())),
            Some(&[][..])
        );
        assert_eq!(
            rules_to_save(&decided(always, PermissionSource::Policy, rules.clone())),
            None
        );
        assert_eq!(
            rules_to_save(&decided(PermissionDecision::AllowOnce, user, rules)),
            None
        );
        assert_eq!(
            rules_to_save(&EventKind::Warning {
                message: "x".into()
            }),
            None
        );
    }

    #[test]
    fn the_notice_says_what_was_saved_where_or_why_not() {
        let mut app = App::new(None);
        let one = vec![allow("bash", Some("git status *"))];
        let two = vec![allow("bash", Some("make *")), allow("log", None)];
        app.rules_saved(&one, Some(Ok("/repo/code-mesh.toml".into())));
        app.rules_saved(
            &two,
            Some(Err("cannot write config file /x: denied".into())),
        );
        app.rules_saved(&one, None);
        app.rules_saved(&[], None);
        let notices: Vec<&str> = app
            .conversation
            .entries()
            .iter()
            .filter_map(|entry| match entry {
                Entry::Notice { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            notices,
            [
                "Saved rule `bash: git status *` → allow in /repo/code-mesh.toml",
                "Could not save rules `bash: make *` → allow, `log` → allow (allowed for this \
                 session only): cannot write config file /x: denied",
                "`bash: git status *` → allow: allowed for this session only (no config file to \
                 save it in)",
                "Allowed for the rest of this session; no rule saved: only a program with its \
                 subcommand (`git status`), a directory or a site is kept for later sessions, \
                 not a whole command or a shell",
            ]
        );
        // A stored event read back is only shown; saving is the loop's business.
        app.apply(&Event {
            seq: 1,
            session_id: SessionId("ses_1".into()),
            at: 0,
            kind: decided(PermissionDecision::AllowAlways, PermissionSource::User, one),
        });
        assert_eq!(app.conversation.entries().len(), 4);
    }
}
