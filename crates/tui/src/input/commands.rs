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
    /// Pick a stored session to resume or fork.
    Sessions,
    /// Pick a model (`/model`), or switch to one at once (`/model PROVIDER/MODEL`).
    Model(Option<String>),
    /// Show the strategy (`/strategy`), or switch to one (`/strategy NAME`).
    Strategy(Option<String>),
    /// Revert the files the last turn changed.
    Undo,
    /// Not a command at all.
    Unknown(String),
}

/// The help text of `/help`.
pub const HELP: &str = "Enter sends · Shift+Enter or Alt+Enter adds a line · Up/Down on the \
first/last line walk the history · Esc cancels a running turn · Ctrl-C cancels, clears the \
input, or quits · PageUp/PageDown or the mouse wheel scroll · Ctrl-O opens or folds tool \
blocks and reasoning · Tab selects an agent in the agent panel, Enter reads its conversation, \
Esc goes back · @ completes a file path and / a command (Up/Down choose, Tab takes) · \
commands: /new /sessions (Enter resumes, Ctrl-F forks) /model [NAME] \
/strategy [NAME] /undo /compact /cost /agents /help /quit";

/// The commands and what each does, in the order the completion popup offers them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/new", "open a fresh session"),
    ("/sessions", "resume or fork a stored session"),
    ("/model", "pick or switch the model"),
    ("/strategy", "show or switch the strategy"),
    ("/undo", "revert the last turn's file changes"),
    ("/compact", "summarise the older history now"),
    ("/cost", "tokens and cost so far"),
    ("/agents", "show or hide the agent panel"),
    ("/help", "keys and commands"),
    ("/quit", "leave Code Mesh"),
];

impl SlashCommand {
    /// Reads a prompt as a command when it is one: `/word` alone on its line, or `/model` and
    /// `/strategy` with one argument.
    pub fn parse(text: &str) -> Option<SlashCommand> {
        let text = text.trim();
        if !text.starts_with('/') {
            return None;
        }
        if let Some((command, argument)) = text.split_once(char::is_whitespace) {
            let argument = argument.trim();
            if argument.contains(char::is_whitespace) {
                return None;
            }
            return match command {
                "/model" => Some(SlashCommand::Model(Some(argument.to_owned()))),
                "/strategy" => Some(SlashCommand::Strategy(Some(argument.to_owned()))),
                _ => None,
            };
        }
        Some(match text {
            "/new" => SlashCommand::New,
            "/compact" => SlashCommand::Compact,
            "/cost" => SlashCommand::Cost,
            "/help" | "/?" => SlashCommand::Help,
            "/quit" | "/exit" => SlashCommand::Quit,
            "/agents" => SlashCommand::Agents,
            "/sessions" => SlashCommand::Sessions,
            "/model" | "/models" => SlashCommand::Model(None),
            "/strategy" => SlashCommand::Strategy(None),
            "/undo" => SlashCommand::Undo,
            other => SlashCommand::Unknown(other.to_owned()),
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
            Some(SlashCommand::Model(None))
        );
        assert_eq!(
            SlashCommand::parse("/model  openai/gpt-4.1 "),
            Some(SlashCommand::Model(Some("openai/gpt-4.1".into())))
        );
        assert_eq!(
            SlashCommand::parse("/strategy mesh"),
            Some(SlashCommand::Strategy(Some("mesh".into())))
        );
        assert_eq!(SlashCommand::parse("/undo"), Some(SlashCommand::Undo));
        // Only `/model` and `/strategy` take an argument, and only one.
        assert_eq!(SlashCommand::parse("/undo it all"), None);
        assert_eq!(SlashCommand::parse("/model is broken, fix it"), None);
        assert_eq!(
            SlashCommand::parse("/frobnicate"),
            Some(SlashCommand::Unknown("/frobnicate".into()))
        );
        // A path or a sentence is a prompt, not a command.
        assert_eq!(SlashCommand::parse("/etc/hosts is wrong"), None);
        assert_eq!(SlashCommand::parse("fix /new"), None);
    }
}
