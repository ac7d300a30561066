//! Keeping secrets out of the commands the tools run.
//!
//! Every command started through [`crate::process`] gets the environment of Code Mesh minus the
//! variables that look like credentials, so a command (or a prompt injection asking for
//! `env`) cannot read the user's API keys. A variable is removed when its name, compared
//! without regard to case:
//!
//! - ends with `_API_KEY`, `_APIKEY`, `_KEY`, `_TOKEN`, `_SECRET`, `_SECRET_KEY`, `_PASSWORD`,
//!   `_PASSWD`, `_CREDENTIALS` or `_CREDENTIAL` (e.g. `OPENAI_API_KEY`, `CARGO_REGISTRY_TOKEN`,
//!   `GOOGLE_APPLICATION_CREDENTIALS`), or is exactly `API_KEY`, `TOKEN`, `SECRET` or
//!   `PASSWORD`;
//! - starts with `AWS_`, `AZURE_`, `OPENAI_`, `ANTHROPIC_`, `GEMINI_`, `MISTRAL_`, `GROQ_`,
//!   `DEEPSEEK_`, `OPENROUTER_`, `XAI_` or `CODE_MESH_PROVIDERS__` (provider settings, whose
//!   headers may carry keys);
//! - is one of `GH_TOKEN`, `GITHUB_TOKEN`, `GOOGLE_API_KEY`, `HF_TOKEN`, `NPM_TOKEN`,
//!   `CODE_MESH_CREDENTIALS_KEY` (also caught by the suffixes; listed so the list is explicit).
//!
//! Names that merely contain `KEY` or `SOCK` keep working: `SSH_AUTH_SOCK`, `GPG_AGENT_INFO`,
//! `KEYTIMEOUT` and `TOKENIZERS_PARALLELISM` are not removed. Code Mesh's own `CODE_MESH_*`
//! settings are removed only when they match the rules above (the credential store's key,
//! provider settings); the rest, e.g. `CODE_MESH_HOME`, reach the command unchanged.

use std::ffi::OsStr;
use std::process::Command;

const SUFFIXES: [&str; 10] = [
    "_API_KEY",
    "_APIKEY",
    "_KEY",
    "_TOKEN",
    "_SECRET",
    "_SECRET_KEY",
    "_PASSWORD",
    "_PASSWD",
    "_CREDENTIALS",
    "_CREDENTIAL",
];

const PREFIXES: [&str; 11] = [
    "AWS_",
    "AZURE_",
    "OPENAI_",
    "ANTHROPIC_",
    "GEMINI_",
    "MISTRAL_",
    "GROQ_",
    "DEEPSEEK_",
    "OPENROUTER_",
    "XAI_",
    "CODE_MESH_PROVIDERS__",
];

const NAMES: [&str; 10] = [
    "API_KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GOOGLE_API_KEY",
    "HF_TOKEN",
    "NPM_TOKEN",
    "CODE_MESH_CREDENTIALS_KEY",
];

/// Whether the variable `name` may hold a secret and is kept from commands.
pub(crate) fn is_secret(name: &OsStr) -> bool {
    let name = name.to_string_lossy().to_ascii_uppercase();
    NAMES.contains(&name.as_str())
        || SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
        || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// Removes from `command`'s environment every inherited variable that may hold a secret.
pub(crate) fn remove_secrets(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if is_secret(&name) {
            command.env_remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_recognised_and_everyday_variables_are_not() {
        for name in [
            "OPENAI_API_KEY",
            "openai_api_key",
            "ANTHROPIC_BASE_URL",
            "AWS_ACCESS_KEY_ID",
            "AZURE_OPENAI_ENDPOINT",
            "GH_TOKEN",
            "GITHUB_TOKEN",
            "HF_TOKEN",
            "NPM_TOKEN",
            "CARGO_REGISTRY_TOKEN",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "DB_PASSWORD",
            "STRIPE_SECRET_KEY",
            "CODE_MESH_CREDENTIALS_KEY",
            "API_KEY",
            "CODE_MESH_PROVIDERS__OPENROUTER__HEADERS",
        ] {
            assert!(is_secret(OsStr::new(name)), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "SSH_AUTH_SOCK",
            "GPG_AGENT_INFO",
            "KEYTIMEOUT",
            "TOKENIZERS_PARALLELISM",
            "CODE_MESH_HOME",
            "RUST_BACKTRACE",
            "TERM",
        ] {
            assert!(!is_secret(OsStr::new(name)), "{name}");
        }
    }
}
