//! What the CLI tells the tools when it builds the registry.

use std::path::{Path, PathBuf};

use code_mesh_protocol::config::ToolsConfig;

use crate::project::ProjectSettings;

/// Settings of the configurable built-in tools, for [`crate::builtin_tools_with`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolSettings {
    /// Where `todo` keeps each session's list (`<dir>/<session>.json`); `None` keeps the lists
    /// in memory for the life of the registry.
    pub todo_dir: Option<PathBuf>,
    /// The commands of `run_tests`, `build`, `lint` and `format`.
    pub project: ProjectSettings,
    /// Hosts `web_fetch` may fetch from; empty allows any (each fetch then asks permission).
    pub web_allow: Vec<String>,
    /// The session's working directory, from which permission prompts preview the project
    /// tools' commands; `None` uses the process's current directory.
    pub cwd: Option<PathBuf>,
}

impl ToolSettings {
    /// Settings from the `[tools]` config, with todo lists under `<data_dir>/todos`.
    pub fn from_config(config: &ToolsConfig, data_dir: &Path, cwd: &Path) -> Self {
        ToolSettings {
            todo_dir: Some(data_dir.join("todos")),
            project: ProjectSettings {
                package_manager: config.package_manager.clone(),
                test_runner: config.test_runner.clone(),
                formatter: config.formatter.clone(),
                linter: config.linter.clone(),
            },
            web_allow: config.web_allow.clone(),
            cwd: Some(cwd.to_path_buf()),
        }
    }
}
