//! Where a value came from, and what went wrong with it.

use std::fmt;
use std::path::PathBuf;

/// Where an effective config value was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A config file, at the line of the key.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
    },
    /// A `CODE_MESH_<SECTION>__<KEY>` environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// A command-line flag.
    CommandLine {
        /// The flag as the user typed it, e.g. `--model`.
        flag: String,
    },
}

impl Origin {
    /// How an error message names this place: `path:line`, the variable, or the flag.
    pub(crate) fn location(&self) -> String {
        match self {
            Origin::Default => "built-in default".to_owned(),
            Origin::File { path, line } => format!("{}:{line}", path.display()),
            Origin::Env { var } => var.clone(),
            Origin::CommandLine { flag } => flag.clone(),
        }
    }
}

/// As shown by `code-mesh config show --origin`: `default`, `/path/config.toml:3`,
/// `env CODE_MESH_PROVIDERS__MODEL`, `command line --model`.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { .. } => f.write_str(&self.location()),
            Origin::Env { var } => write!(f, "env {var}"),
            Origin::CommandLine { flag } => write!(f, "command line {flag}"),
        }
    }
}

/// A configuration that cannot be loaded. `Display` is one line naming the file and line,
/// environment variable or flag, and the key; [`ConfigError::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key the schema does not have.
    #[error("{}: unknown key `{key}`{}", origin.location(), did_you_mean(suggestion.as_deref()))]
    UnknownKey {
        /// Where the key was written.
        origin: Origin,
        /// Full dotted path of the key, e.g. `providers.defualt`.
        key: String,
        /// The closest valid key at the same level, if one is close.
        suggestion: Option<String>,
        /// The valid keys at the same level.
        expected: Vec<String>,
        /// Set when an unknown `[providers]` key holds a value rather than a table.
        provider_table: bool,
    },
    /// A key with a value of the wrong type or out of range.
    #[error("{}: {message}", origin.location())]
    InvalidValue {
        /// Where the value was written.
        origin: Origin,
        /// Full dotted path of the key, e.g. `agents.max_count`.
        key: String,
        /// What is wrong, naming the key.
        message: String,
        /// What to write instead, when that is not obvious from the message.
        hint: Option<String>,
    },
    /// An environment variable or command-line key that cannot name a config key.
    #[error("{}: {message}", origin.location())]
    InvalidKey {
        /// The variable or flag.
        origin: Origin,
        /// What is wrong.
        message: String,
    },
    /// A file that is not valid TOML.
    #[error("{}:{line}:{column}: invalid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A config file that exists but cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file named by `CODE_MESH_CONFIG` does not exist.
    #[error("CODE_MESH_CONFIG: config file {} does not exist", path.display())]
    MissingExtraFile {
        /// The file.
        path: PathBuf,
    },
    /// No place for the config, data and cache folders could be found.
    #[error(
        "cannot find the home directory: none of CODE_MESH_HOME, HOME or the XDG_* variables is set"
    )]
    NoHomeDirectory,
}

impl ConfigError {
    /// What the user can do about it, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::UnknownKey {
                expected,
                provider_table,
                key,
                ..
            } => {
                let mut hint = String::new();
                if !expected.is_empty() {
                    hint = format!("valid keys here: {}", expected.join(", "));
                }
                if *provider_table {
                    let name = key.rsplit('.').next().unwrap_or(key);
                    hint.push_str(&format!(
                        "; a named provider is a table: [providers.{name}] with base_url, api_key_env, models, ..."
                    ));
                }
                (!hint.is_empty()).then_some(hint)
            }
            ConfigError::InvalidValue { hint, .. } => hint.clone(),
            ConfigError::InvalidKey {
                origin: Origin::Env { .. },
                ..
            } => Some(
                "environment overrides look like CODE_MESH_<SECTION>__<KEY>, e.g. CODE_MESH_PROVIDERS__MODEL=openai/gpt-5-mini"
                    .to_owned(),
            ),
            ConfigError::InvalidKey { .. } => None,
            ConfigError::Syntax { message, .. } => {
                if message.contains("quoted") || message.contains("string") {
                    Some("strings need double quotes, e.g. timeout = \"30s\"".to_owned())
                } else if message.contains("duplicate") {
                    Some("each key and table may appear only once in a file".to_owned())
                } else {
                    None
                }
            }
            ConfigError::MissingExtraFile { .. } => {
                Some("create the file, or unset CODE_MESH_CONFIG".to_owned())
            }
            ConfigError::NoHomeDirectory => {
                Some("set CODE_MESH_HOME to a folder for config, data and cache".to_owned())
            }
            ConfigError::Read { .. } => None,
        }
    }

    /// The dotted key the error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. } | ConfigError::InvalidValue { key, .. } => {
                Some(key)
            }
            _ => None,
        }
    }
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}
