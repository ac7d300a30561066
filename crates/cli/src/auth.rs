//! `code-mesh auth login|list|logout`: provider API keys stored encrypted at rest, and the
//! stored keys filled in for providers whose key is not in the environment.
//!
//! Keys are kept by [`code_mesh_credentials`] in `<data dir>/credentials.enc`, encrypted with
//! a data key kept apart in `<config dir>/credentials.key`. They are shown masked
//! (`sk-…a1b2`) and never printed, logged or stored anywhere else.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use code_mesh_config::Paths;
use code_mesh_credentials::{CredentialError, CredentialStore, Secret};
use code_mesh_providers::ProviderRegistry;

use crate::args::{AuthCommand, GlobalArgs};
use crate::exit::{CliError, Exit};
use crate::setup::{self, Context};

pub fn auth(global: &GlobalArgs, command: AuthCommand) -> Result<ExitCode, CliError> {
    let context = setup::context(global, Vec::new())?;
    match command {
        AuthCommand::Login { provider } => login(&context, &provider),
        AuthCommand::List => list(&context),
        AuthCommand::Logout { provider, all } => logout(&context, provider.as_deref(), all),
    }
}

/// The store `auth` writes and runs read.
pub fn credential_store(paths: &Paths) -> CredentialStore {
    CredentialStore::encrypted_file(&paths.data_dir, &paths.config_dir)
}

/// Gives each provider without a key in the environment its stored key. A store that cannot
/// be read is a warning, not an error: a run whose provider needs no stored key goes on, and
/// one that does fails with the provider's "needs an API key" error after the warning.
pub fn fill_stored_keys(context: &Context, registry: &mut ProviderRegistry) {
    match credential_store(&context.paths).list() {
        Ok(keys) => {
            if !keys.is_empty() {
                registry.fill_missing_keys(|name| keys.get(name).map(|k| k.expose().to_owned()));
            }
        }
        Err(error) => {
            eprintln!("warning: stored API keys are not used: {error}");
            if let Some(hint) = error.hint() {
                eprintln!("hint: {hint}");
            }
        }
    }
}

impl From<CredentialError> for CliError {
    fn from(error: CredentialError) -> Self {
        let exit = match error {
            CredentialError::Io { .. } => Exit::Failure,
            _ => Exit::Usage,
        };
        let hint = error.hint();
        CliError::new(exit, error).with_optional_hint(hint)
    }
}

/// The registry with the environment's keys only, to tell them from stored ones.
fn registry(context: &Context) -> ProviderRegistry {
    ProviderRegistry::new(
        |name: &str| context.env_var(name),
        &context.loaded.config.providers,
    )
}

/// The variable `provider`'s key comes from, when the environment has one.
fn env_key_variable(registry: &ProviderRegistry, provider: &str) -> Option<String> {
    registry
        .get(provider)
        .filter(|settings| settings.api_key.is_some())
        .and_then(|settings| settings.api_key_env.clone())
}

fn login(context: &Context, provider: &str) -> Result<ExitCode, CliError> {
    let registry = registry(context);
    if registry.get(provider).is_none() {
        return Err(unknown_provider(provider, &registry.names()));
    }
    let key = read_key(provider)?;
    let masked = key.masked();
    let store = credential_store(&context.paths);
    store.set(provider, key)?;
    eprintln!(
        "stored the key for `{provider}` ({masked}), {}",
        store.location()
    );
    if let Some(variable) = env_key_variable(&registry, provider) {
        eprintln!(
            "note: `{variable}` is set and wins over the stored key; unset it to use the stored one"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The key from standard input (its first line) when it is piped, else asked for on the
/// terminal without echo.
fn read_key(provider: &str) -> Result<Secret, CliError> {
    let stdin = std::io::stdin();
    let text = if stdin.is_terminal() {
        rpassword::prompt_password(format!("API key for `{provider}` (input is hidden): "))
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map(|_| line)
    }
    .map_err(|error| {
        CliError::new(
            Exit::Failure,
            format!("cannot read the API key from standard input: {error}"),
        )
    })?;
    let key = text.trim();
    if key.is_empty() {
        return Err(CliError::usage(
            format!("no API key was given for `{provider}`"),
            "pipe the key on standard input (e.g. from your password manager), or run the command in a terminal to be asked for it",
        ));
    }
    Ok(Secret::new(key)?)
}

fn list(context: &Context) -> Result<ExitCode, CliError> {
    let registry = registry(context);
    let store = credential_store(&context.paths);
    let mut stored = store.list()?;
    let mut rows: Vec<[String; 3]> = Vec::new();
    for settings in registry.providers() {
        let from_store = stored.remove(&settings.name);
        let row = match (&settings.api_key, from_store) {
            (Some(key), from_store) => {
                let variable = settings.api_key_env.as_deref().unwrap_or("the environment");
                let unused = if from_store.is_some() {
                    " (the stored key is not used)"
                } else {
                    ""
                };
                [mask(key), format!("env {variable}{unused}")]
            }
            (None, Some(key)) => [key.masked(), "stored".to_owned()],
            (None, None) => continue,
        };
        let [key, source] = row;
        rows.push([settings.name.clone(), key, source]);
    }
    for (name, key) in stored {
        rows.push([
            name,
            key.masked(),
            "stored (no such provider is configured)".to_owned(),
        ]);
    }
    if rows.is_empty() {
        eprintln!(
            "no API keys: none is set in the environment and none is stored\n\
             hint: store one with `code-mesh auth login PROVIDER`"
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&rows);
    eprintln!("stored keys are {}", store.location());
    Ok(ExitCode::SUCCESS)
}

/// An environment key, masked like a stored one.
fn mask(key: &str) -> String {
    Secret::new(key).map_or_else(|_| "…".to_owned(), |key| key.masked())
}

fn print_table(rows: &[[String; 3]]) {
    let header = ["PROVIDER", "KEY", "SOURCE"].map(str::to_owned);
    let mut widths = [0; 3];
    for row in std::iter::once(&header).chain(rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut stdout = std::io::stdout().lock();
    for [provider, key, source] in std::iter::once(&header).chain(rows) {
        let _ = writeln!(
            stdout,
            "{provider:<w0$}  {key:<w1$}  {source}",
            w0 = widths[0],
            w1 = widths[1]
        );
    }
}

fn logout(context: &Context, provider: Option<&str>, all: bool) -> Result<ExitCode, CliError> {
    let store = credential_store(&context.paths);
    let provider = match provider {
        Some(provider) if !all => provider,
        _ => {
            store.clear()?;
            eprintln!("removed every stored key and the key that encrypted them");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let registry = registry(context);
    let variable = env_key_variable(&registry, provider);
    if store.remove(provider)? {
        eprintln!("removed the stored key for `{provider}`");
        if let Some(variable) = variable {
            eprintln!("note: `{variable}` is still set, so `{provider}` keeps using that key");
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Nothing stored under that name: a typo of a stored one, or a key from the environment.
    let stored = store.list()?;
    let names: Vec<&str> = stored.keys().map(String::as_str).collect();
    let suggestion = closest(provider, &names)
        .map(|name| format!(" (did you mean `{name}`?)"))
        .unwrap_or_default();
    let hint = match variable {
        Some(variable) => {
            format!("its key comes from `{variable}` in the environment; unset it there")
        }
        None => "`code-mesh auth list` shows the keys in use".to_owned(),
    };
    Err(CliError::usage(
        format!("no key is stored for `{provider}`{suggestion}"),
        hint,
    ))
}

fn unknown_provider(provider: &str, known: &[&str]) -> CliError {
    let suggestion = closest(provider, known)
        .map(|name| format!(" (did you mean `{name}`?)"))
        .unwrap_or_default();
    let known: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
    CliError::usage(
        format!("unknown provider `{provider}`{suggestion}"),
        format!(
            "known providers are {}; add others as `[providers.{provider}]` with a `base_url`",
            known.join(", ")
        ),
    )
}

/// The name closest to `typed`, when it is close enough to be a likely typo.
fn closest<'a>(typed: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|name| (strsim::damerau_levenshtein(typed, name), *name))
        .filter(|(distance, name)| {
            let longest = typed.chars().count().max(name.chars().count());
            *distance <= (longest / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_of_provider_names_are_suggested() {
        let names = ["openai", "anthropic", "google", "ollama"];
        assert_eq!(closest("opnai", &names), Some("openai"));
        assert_eq!(closest("antropic", &names), Some("anthropic"));
        assert_eq!(closest("gogle", &names), Some("google"));
        assert_eq!(closest("mistral", &names), None);
        let error = unknown_provider("opnai", &names);
        assert_eq!(
            error.message,
            "unknown provider `opnai` (did you mean `openai`?)"
        );
        assert_eq!(error.exit, Exit::Usage);
    }

    #[test]
    fn environment_keys_are_masked_too() {
        assert_eq!(mask("sk-proj-0123456789abcdef"), "sk-…cdef");
        assert_eq!(mask("has space in it 12345"), "…");
    }
}
