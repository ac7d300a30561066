//! [`CredentialError`]: what can go wrong storing keys, each with what to do about it.

use std::path::PathBuf;

/// A failure reading or writing stored keys. No variant carries a key.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Reading, writing or removing a file failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key file or credentials file that other users may read or change.
    #[error(
        "`{}` is accessible to other users (mode {mode:04o}), so Code Mesh will not use it",
        path.display()
    )]
    Insecure { path: PathBuf, mode: u32 },
    /// The credentials file does not open with the data key: it was changed, or the key is
    /// not the one it was written with (or is missing).
    #[error(
        "`{}` cannot be decrypted with the key in `{}`: {reason}",
        path.display(),
        key_path.display()
    )]
    Undecryptable {
        path: PathBuf,
        key_path: PathBuf,
        reason: &'static str,
    },
    /// A file that is not what Code Mesh writes there.
    #[error("`{}` is not a Code Mesh credentials file: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    /// The text given as an API key cannot be one.
    #[error("the API key is not valid: {reason}")]
    InvalidKey { reason: &'static str },
}

impl CredentialError {
    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            CredentialError::Io { .. } => None,
            CredentialError::Insecure { path, .. } => Some(format!(
                "run `chmod 600 {}` if the file is yours; otherwise remove it",
                path.display()
            )),
            CredentialError::Undecryptable { .. } | CredentialError::Malformed { .. } => {
                Some(
                    "`code-mesh auth logout --all` deletes the stored keys and their encryption key; then store them again with `code-mesh auth login PROVIDER`"
                        .to_owned(),
                )
            }
            CredentialError::InvalidKey { .. } => Some(
                "paste the key alone, on one line, as the provider issued it".to_owned(),
            ),
        }
    }
}
