//! Slash commands typed in the editor.

/// What a line starting with `/` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlashCommand {
    /// Leave this session and open a fresh one.
    New,
    /// Summarise the older history now (`Op::Compact`).
    Compact,
    /// Show tokens and cost so far.
    Cost,
    Help,
    Quit,
    /// Show or hide the agent panel.
    Agents,
    /// A command of the terminal UI's plan that this build does not have yet.
    NotYet(&'static str),
    /// Not a command at all.
    Unknown(String),
}

/// Commands announced for the terminal UI that need engine or front-end support still to
/// come (session and model pickers, strategy switching, undo from inside the UI).
const NOT_YET: &[&str] = &["/sessions", "/model", "/strategy", "/undo"];

/// The help text of `/help`.
pub const HELP: &str = "Enter sends · Shift+Enter or Alt+Enter adds a line · Up/Down on the \
first/last line walk the history · Esc cancels a running turn · Ctrl-C cancels, clears the \
input, or quits · PageUp/PageDown or the mouse wheel scroll · Ctrl-O opens or folds tool \
blocks and reasoning · commands: /new /compact /cost /agents /help /quit";

impl SlashCommand {
    /// Reads a prompt as a command when it is one: `/word` alone on its line.
    pub fn parse(text: &str) -> Option<SlashCommand> {
        let text = text.trim();
        if !text.starts_with('/') || text.contains(char::is_whitespace) {
            return None;
        }
        Some(match text {
            "/new" => SlashCommand::New,
            "/compact" => SlashCommand::Compact,
            "/cost" => SlashCommand::Cost,
            "/help" | "/?" => SlashCommand::Help,
            "/quit" | "/exit" => SlashCommand::Quit,
            "/agents" => SlashCommand::Agents,
            other => match NOT_YET.iter().find(|name| **name == other) {
                Some(name) => SlashCommand::NotYet(name),
                None => SlashCommand::Unknown(other.to_owned()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_only_alone() {
        assert_eq!(
            SlashCommand::parse(" /compact "),
            Some(SlashCommand::Compact)
        );
        assert_eq!(SlashCommand::parse("/quit"), Some(SlashCommand::Quit));
        assert_eq!(
            SlashCommand::parse("/model"),
            Some(SlashCommand::NotYet("/model"))
        );
        assert_eq!(
            SlashCommand::parse("/frobnicate"),
            Some(SlashCommand::Unknown("/frobnicate".into()))
        );
        // A path or a sentence is a prompt, not a command.
        assert_eq!(SlashCommand::parse("/etc/hosts is wrong"), None);
        assert_eq!(SlashCommand::parse("fix /new"), None);
    }
}
