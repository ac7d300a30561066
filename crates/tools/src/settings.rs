//! What the CLI tells the tools when it builds the registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use code_mesh_core::MemoryBank;
use code_mesh_protocol::config::ToolsConfig;

use crate::project::ProjectSettings;

/// The agent type tools work for when the settings name none.
pub const DEFAULT_AGENT: &str = "coder";

/// Settings of the configurable built-in tools, for [`crate::builtin_tools_with`].
#[derive(Clone)]
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
    /// Where `remember` and `recall` keep and search long-lived memory; the two tools are
    /// registered only when there is one.
    pub memory: Option<Arc<dyn MemoryBank>>,
    /// The agent type the tools work for: `remember {scope: "agent"}` files notes under it
    /// and `recall` sees its notes (default "coder").
    pub agent: String,
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings {
            todo_dir: None,
            project: ProjectSettings::default(),
            web_allow: Vec::new(),
            cwd: None,
            memory: None,
            agent: DEFAULT_AGENT.to_owned(),
        }
    }
}

impl std::fmt::Debug for ToolSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSettings")
            .field("todo_dir", &self.todo_dir)
            .field("project", &self.project)
            .field("web_allow", &self.web_allow)
            .field("cwd", &self.cwd)
            .field("memory", &self.memory.is_some())
            .field("agent", &self.agent)
            .finish()
    }
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
            ..ToolSettings::default()
        }
    }
}
