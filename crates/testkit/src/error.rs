//! Errors of the library: a bad script, a server that cannot start, a failed check.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A script that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("cannot read script `{}`: {source}", path.display())]
    Read {
        /// The script path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Not valid TOML or not the script schema (unknown key, wrong type); the message
    /// names the line and column.
    #[error("{origin}: {message}")]
    Parse {
        /// The file, or `script` for a string.
        origin: String,
        /// The TOML error, with line, column and snippet.
        message: String,
    },
    /// A turn whose fields contradict each other or refer to a missing file.
    #[error("{}: turn {turn}: {message}", location(origin, *line))]
    Invalid {
        /// The file, or `script` for a string or a script built in Rust.
        origin: String,
        /// Line of the `[[turn]]` header, when read from TOML.
        line: Option<usize>,
        /// 1-based turn number.
        turn: usize,
        /// What is wrong.
        message: String,
    },
}

fn location(origin: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{origin}:{line}"),
        None => origin.to_owned(),
    }
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The script is invalid.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// The address could not be bound.
    #[error("cannot listen on `{address}`: {source}")]
    Bind {
        /// `host:port` as asked.
        address: String,
        /// Why.
        source: io::Error,
    },
    /// The background thread or its runtime could not be set up.
    #[error("cannot start the background server: {message}")]
    Background {
        /// Why.
        message: String,
    },
}

/// What [`crate::ScriptedServer::verify`] found: violations, turns never served, tool
/// calls never answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let plural = if count == 1 { "" } else { "s" };
        write!(f, "testkit found {count} problem{plural}:")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyError {}
