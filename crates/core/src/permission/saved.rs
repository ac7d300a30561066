//! Session rules ("allow always" answers) written as config rules, so a front end can keep
//! them in `[permissions] rules`. Each config rule allows the calls its session rule allows:
//!
//! - a command prefix `git status` becomes `git status *` (the final `*` word matches any
//!   further words, none included);
//! - a directory `/p/src` becomes `/p/src/**` (absolute, so the rule means the same in the
//!   global config as in a project's; it covers everything inside the directory, which is
//!   what file tools touch, though not a call on the directory itself);
//! - a URL prefix `https://docs.rs/` becomes `https://docs.rs/*`;
//! - a tool without targets becomes a rule without a pattern.
//!
//! Literal text is escaped for the glob (`\*`) and quoted for the shell splitter where it
//! has to be, so a file or word holding `*`, spaces or quotes still means itself.

use super::{PermissionAction, PermissionRule, SessionRule, SessionScope};

/// The config rule allowing what `rule` allows, if a pattern can say it.
pub(super) fn config_rule(rule: &SessionRule) -> Option<PermissionRule> {
    let pattern = match &rule.scope {
        SessionScope::Whole => None,
        // No program word (only assignments): the session rule would match every command,
        // which is not something to write down on the user's behalf.
        SessionScope::Words(words) if words.is_empty() => return None,
        // Only a program with its subcommand (`git status`, `cargo test`) is written down:
        // the family of calls a person means by "always". A whole command (`rm -rf build`)
        // would be saved as a prefix that also allows `rm -rf build /`, and a shell, an
        // interpreter or a launcher (`sh`, `python`, `sudo`) runs anything; such answers
        // hold for the session only.
        SessionScope::Words(words) if !is_program_and_subcommand(words) => return None,
        SessionScope::Words(words) => {
            let mut pattern: Vec<String> = words.iter().map(|word| shell_word(word)).collect();
            pattern.push("*".to_owned());
            Some(pattern.join(" "))
        }
        SessionScope::Directory(dir) => {
            let dir = dir.trim_end_matches('/');
            Some(format!("{}/**", escape_glob(dir)))
        }
        SessionScope::UrlPrefix(prefix) => Some(format!("{}*", escape_glob(prefix))),
    };
    Some(PermissionRule {
        tool: rule.tool.clone(),
        pattern,
        action: PermissionAction::Allow,
    })
}

/// Programs that run whatever their arguments say: allowing one always allows everything.
const RUNS_ANYTHING: &[&str] = &[
    "sh", "bash", "zsh", "fish", "dash", "ksh", "csh", "tcsh", "busybox", "env", "sudo", "doas",
    "su", "xargs", "exec", "eval", "command", "nohup", "nice", "timeout", "time", "watch",
    "python", "python3", "node", "deno", "bun", "perl", "ruby", "php", "lua",
];

/// `program subcommand`: two words, the program named without a path and not one that runs
/// anything, the second a plain word (`status`, `test`, `run-script`), not a flag or a path.
fn is_program_and_subcommand(words: &[String]) -> bool {
    let [program, subcommand] = words else {
        return false;
    };
    !program.contains('/')
        && !RUNS_ANYTHING.contains(&program.as_str())
        && !subcommand.starts_with('-')
        && subcommand
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
}

/// `text` with the glob's special characters taken literally.
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One word of a command pattern: glob-escaped, then single-quoted when the shell splitter
/// would otherwise split, expand or drop part of it.
fn shell_word(word: &str) -> String {
    let escaped = escape_glob(word);
    let plain = !escaped.is_empty()
        && escaped.chars().all(|c| {
            c.is_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | '^')
        });
    if plain {
        escaped
    } else {
        format!("'{}'", escaped.replace('\'', r"'\''"))
    }
}
