//! What every command needs: the working directory, the workspace, the environment and the
//! effective configuration.

use std::path::{Path, PathBuf};

use code_mesh_config::{CliOverride, LoadOptions, LoadedConfig, Paths};

use crate::args::GlobalArgs;
use crate::exit::{CliError, Exit};

/// Environment variables the CLI itself reads (config and provider variables are declared in
/// their own crates).
pub mod env_vars {
    /// Log filter for diagnostics on stderr, e.g. `debug` or `code_mesh_providers=trace`.
    pub const CODE_MESH_LOG: &str = "CODE_MESH_LOG";
    /// Set and not empty: no colours in the terminal UI (<https://no-color.org>).
    pub const NO_COLOR: &str = "NO_COLOR";
}

/// Installs a logger writing to `file` when `CODE_MESH_LOG` asks for one: the terminal UI
/// owns the screen, so its logs must never reach stderr. Returns the file when logging.
pub fn init_file_logging(file: &Path) -> Option<PathBuf> {
    let filter = std::env::var(env_vars::CODE_MESH_LOG).ok()?;
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .ok()?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(log))
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(file.to_path_buf())
}

/// Installs a stderr logger when `CODE_MESH_LOG` asks for one; silent otherwise.
pub fn init_logging() {
    let Ok(filter) = std::env::var(env_vars::CODE_MESH_LOG) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

pub struct Context {
    /// The working directory, canonical.
    pub cwd: PathBuf,
    /// The repository root containing `cwd` (or `cwd` itself outside a repository).
    pub workspace: PathBuf,
    pub env: Vec<(String, String)>,
    pub paths: Paths,
    pub loaded: LoadedConfig,
}

impl Context {
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .filter(|value| !value.is_empty())
    }
}

/// Resolves directories and loads the config with the given command-line overrides.
pub fn context(global: &GlobalArgs, overrides: Vec<CliOverride>) -> Result<Context, CliError> {
    let cwd = working_directory(global.cwd.as_deref())?;
    let workspace = workspace_root(&cwd);
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let mut options = LoadOptions::from_env(env.clone(), Some(workspace.clone()))?;
    options.overrides = overrides;
    let paths = options.paths.clone();
    let loaded = code_mesh_config::load(&options)?;
    Ok(Context {
        cwd,
        workspace,
        env,
        paths,
        loaded,
    })
}

fn working_directory(dir: Option<&Path>) -> Result<PathBuf, CliError> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().map_err(|err| {
            CliError::new(
                Exit::Usage,
                format!("cannot read the current directory: {err}"),
            )
        })?,
    };
    dunce_canonical(&dir).map_err(|err| {
        CliError::usage(
            format!(
                "cannot use `{}` as the working directory: {err}",
                dir.display()
            ),
            "pass an existing directory to -C/--cwd",
        )
    })
}

fn dunce_canonical(dir: &Path) -> std::io::Result<PathBuf> {
    let canonical = dir.canonicalize()?;
    if !canonical.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    Ok(canonical)
}

/// The nearest ancestor holding `.git` (a directory, or a file in worktrees), else `cwd`.
pub fn workspace_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|dir| dir.join(".git").exists())
        .unwrap_or(cwd)
        .to_path_buf()
}
