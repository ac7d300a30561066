//! Where Code Mesh keeps its config, data and cache.

use std::path::{Path, PathBuf};

use crate::env_vars;
use crate::error::ConfigError;

/// The folders Code Mesh reads and writes outside a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The `CODE_MESH_HOME` folder, when one is set (then it holds everything).
    pub home: Option<PathBuf>,
    /// Holds `config.toml`.
    pub config_dir: PathBuf,
    /// Holds the SQLite database.
    pub data_dir: PathBuf,
    /// Holds caches that may be deleted at any time.
    pub cache_dir: PathBuf,
}

impl Paths {
    /// Finds the folders from the environment (`env` looks a variable up).
    ///
    /// `CODE_MESH_HOME=/x` puts everything in one folder: config in `/x`, data in `/x/data`,
    /// cache in `/x/cache`. Otherwise the XDG places: `$XDG_CONFIG_HOME` or `~/.config`,
    /// `$XDG_DATA_HOME` or `~/.local/share`, `$XDG_CACHE_HOME` or `~/.cache`, each with
    /// `/code-mesh` appended. Empty or relative XDG values are ignored, as the XDG spec says.
    pub fn resolve(env: &impl Fn(&str) -> Option<String>) -> Result<Paths, ConfigError> {
        let get = |name: &str| env(name).filter(|value| !value.is_empty());
        if let Some(home) = get(env_vars::CODE_MESH_HOME) {
            return Ok(Paths::in_home(PathBuf::from(home)));
        }
        let user_home = get("HOME")
            .or_else(|| get("USERPROFILE"))
            .map(PathBuf::from);
        let place = |xdg_var: &str, fallback: &[&str]| -> Result<PathBuf, ConfigError> {
            let base = match get(xdg_var).map(PathBuf::from) {
                Some(dir) if dir.is_absolute() => dir,
                _ => {
                    let home = user_home.as_ref().ok_or(ConfigError::NoHomeDirectory)?;
                    fallback
                        .iter()
                        .fold(home.clone(), |dir, part| dir.join(part))
                }
            };
            Ok(base.join(APP_DIR))
        };
        Ok(Paths {
            home: None,
            config_dir: place(env_vars::XDG_CONFIG_HOME, &[".config"])?,
            data_dir: place(env_vars::XDG_DATA_HOME, &[".local", "share"])?,
            cache_dir: place(env_vars::XDG_CACHE_HOME, &[".cache"])?,
        })
    }

    /// Everything in one folder, as `CODE_MESH_HOME` asks (tests use this).
    pub fn in_home(home: impl Into<PathBuf>) -> Paths {
        let home = home.into();
        Paths {
            config_dir: home.clone(),
            data_dir: home.join("data"),
            cache_dir: home.join("cache"),
            home: Some(home),
        }
    }

    /// The global config file, `<config dir>/config.toml`.
    pub fn global_config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// The SQLite database, `<data dir>/code-mesh.db`.
    pub fn database_file(&self) -> PathBuf {
        self.data_dir.join("code-mesh.db")
    }
}

/// The project config file at the workspace root.
pub fn project_config_file(workspace_root: &Path) -> PathBuf {
    workspace_root.join(PROJECT_FILE)
}

const APP_DIR: &str = "code-mesh";
pub(crate) const PROJECT_FILE: &str = "code-mesh.toml";

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(vars: &[(&str, &str)]) -> Result<Paths, ConfigError> {
        Paths::resolve(&|name: &str| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn code_mesh_home_holds_everything() {
        let paths = resolve(&[("CODE_MESH_HOME", "/x"), ("HOME", "/home/u")]).unwrap();
        assert_eq!(paths, Paths::in_home("/x"));
        assert_eq!(paths.data_dir, PathBuf::from("/x/data"));
        assert_eq!(paths.cache_dir, PathBuf::from("/x/cache"));
        assert_eq!(paths.global_config_file(), PathBuf::from("/x/config.toml"));
        assert_eq!(paths.database_file(), PathBuf::from("/x/data/code-mesh.db"));
    }

    #[test]
    fn xdg_places_under_home_by_default() {
        let paths = resolve(&[("HOME", "/home/u")]).unwrap();
        assert_eq!(paths.home, None);
        assert_eq!(paths.config_dir, PathBuf::from("/home/u/.config/code-mesh"));
        assert_eq!(
            paths.data_dir,
            PathBuf::from("/home/u/.local/share/code-mesh")
        );
        assert_eq!(paths.cache_dir, PathBuf::from("/home/u/.cache/code-mesh"));
    }

    #[test]
    fn xdg_variables_win_when_absolute() {
        let paths = resolve(&[
            ("HOME", "/home/u"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("XDG_DATA_HOME", "relative/ignored"),
            ("XDG_CACHE_HOME", ""),
        ])
        .unwrap();
        assert_eq!(paths.config_dir, PathBuf::from("/cfg/code-mesh"));
        assert_eq!(
            paths.data_dir,
            PathBuf::from("/home/u/.local/share/code-mesh")
        );
        assert_eq!(paths.cache_dir, PathBuf::from("/home/u/.cache/code-mesh"));
    }

    #[test]
    fn no_home_is_an_error_with_a_hint() {
        let error = resolve(&[]).unwrap_err();
        assert!(matches!(error, ConfigError::NoHomeDirectory));
        assert!(error.hint().unwrap_or_default().contains("CODE_MESH_HOME"));
    }
}
