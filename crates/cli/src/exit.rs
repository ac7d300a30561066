//! Exit codes and the one-line error the user sees.

use std::fmt::Display;
use std::process::ExitCode;

/// The exit codes of `code-mesh`, documented in `--help`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The task finished.
    Success = 0,
    /// The turn failed: a tool infrastructure or store error, or anything unexpected.
    Failure = 1,
    /// Bad arguments or config, or nothing to run with (no provider configured).
    Usage = 2,
    /// The provider failed: unreachable, key rejected, error answer, broken stream.
    Provider = 3,
    /// The turn used `--max-turns` model requests before the model finished.
    MaxTurns = 4,
    /// Interrupted with Ctrl-C; the session was saved and `-c` continues it.
    Interrupted = 130,
}

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    the task finished
  1    the turn failed (tool, store or unexpected error)
  2    bad arguments or config, or no provider configured
  3    the model provider failed (unreachable, key rejected, error answer, broken stream)
  4    --max-turns was reached before the model finished
  130  interrupted (Ctrl-C); the session is saved and `code-mesh run -c` continues it";

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// An error that ends the command: one sentence, an optional hint, and an exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hint: Option<String>,
    pub exit: Exit,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Display) -> Self {
        CliError {
            message: message.to_string(),
            hint: None,
            exit,
        }
    }

    pub fn usage(message: impl Display, hint: impl Display) -> Self {
        CliError::new(Exit::Usage, message).with_hint(hint)
    }

    pub fn with_hint(mut self, hint: impl Display) -> Self {
        self.hint = Some(hint.to_string());
        self
    }

    pub fn with_optional_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    pub fn exit_code(&self) -> Exit {
        self.exit
    }

    pub fn print(&self) {
        eprintln!("error: {}", self.message);
        if let Some(hint) = &self.hint {
            eprintln!("hint: {hint}");
        }
    }
}

impl From<code_mesh_config::ConfigError> for CliError {
    fn from(err: code_mesh_config::ConfigError) -> Self {
        let hint = err.hint();
        CliError::new(Exit::Usage, err).with_optional_hint(hint)
    }
}

impl From<code_mesh_core::StoreError> for CliError {
    fn from(err: code_mesh_core::StoreError) -> Self {
        let hint = err.hint();
        CliError::new(Exit::Failure, err).with_optional_hint(hint)
    }
}

impl From<code_mesh_core::EngineError> for CliError {
    fn from(err: code_mesh_core::EngineError) -> Self {
        let hint = err.hint();
        let exit = match err {
            code_mesh_core::EngineError::SessionNotFound(_) => Exit::Usage,
            _ => Exit::Failure,
        };
        CliError::new(exit, err).with_optional_hint(hint)
    }
}

impl From<code_mesh_core::ProviderError> for CliError {
    fn from(err: code_mesh_core::ProviderError) -> Self {
        let exit = match err.kind {
            code_mesh_core::ProviderErrorKind::Config => Exit::Usage,
            _ => Exit::Provider,
        };
        let hint = err.hint.clone();
        CliError::new(exit, err.message).with_optional_hint(hint)
    }
}
