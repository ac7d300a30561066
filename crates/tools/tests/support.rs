//! A temporary workspace and helpers to call tools in it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use code_mesh_core::{
    CancellationToken, FileTracker, SandboxPolicy, ToolContext, ToolLimits, ToolOutputSink,
};
use serde_json::Value;
use tempfile::TempDir;

/// A workspace in a temporary directory, with the context a tool call gets in it.
pub struct Workspace {
    _dir: TempDir,
    pub root: PathBuf,
    pub context: ToolContext,
}

impl Workspace {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap().join("workspace");
        fs::create_dir(&root).unwrap();
        let context = ToolContext {
            session_id: Default::default(),
            workspace: root.clone(),
            cwd: root.clone(),
            allowed_paths: Vec::new(),
            call_id: "call-1".into(),
            cancel: CancellationToken::new(),
            limits: ToolLimits::default(),
            sandbox: SandboxPolicy {
                mode: code_mesh_protocol::SandboxMode::Off,
                ..SandboxPolicy::default()
            },
            files: std::sync::Arc::new(FileTracker::new()),
            output: ToolOutputSink::discard(),
        };
        Workspace {
            _dir: dir,
            root,
            context,
        }
    }

    /// A directory beside the workspace, outside it.
    pub fn outside(&self) -> PathBuf {
        let outside = self.root.parent().unwrap().join("outside");
        fs::create_dir_all(&outside).unwrap();
        outside
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Writes a file under the workspace, creating its directories.
    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }

    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap()
    }

    pub async fn call(&self, tool: &str, arguments: Value) -> Result<String, String> {
        call_with(&self.context, tool, arguments).await
    }

    /// The output of a call that must succeed.
    pub async fn ok(&self, tool: &str, arguments: Value) -> String {
        match self.call(tool, arguments).await {
            Ok(text) => text,
            Err(error) => panic!("`{tool}` failed: {error}"),
        }
    }

    /// The error message of a call that must fail.
    pub async fn err(&self, tool: &str, arguments: Value) -> String {
        match self.call(tool, arguments).await {
            Ok(text) => panic!("`{tool}` succeeded but should have failed:\n{text}"),
            Err(error) => error,
        }
    }
}

pub async fn call_with(
    context: &ToolContext,
    tool: &str,
    arguments: Value,
) -> Result<String, String> {
    let registry = code_mesh_tools::builtin_tools();
    let tool = registry.get(tool).unwrap();
    tool.call(arguments, context)
        .await
        .map(|output| output.text)
        .map_err(|error| error.message)
}

/// Whether process `pid` has ended (it may linger as a zombie until its parent reaps it).
pub fn is_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Waits, up to a generous bound, until every pid in `pids` has ended.
pub async fn all_gone(pids: &[i32]) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if pids.iter().all(|&pid| is_gone(pid)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The numbers following `marker` in `text`, e.g. the pids a script printed as `pid=123`.
pub fn numbers_after(text: &str, marker: &str) -> Vec<i32> {
    text.split(marker)
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Waits, up to a generous bound, until `path` holds at least `lines` lines.
pub async fn wait_for_lines(path: &Path, lines: usize) -> String {
    let started = Instant::now();
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "`{}` never reached {lines} lines: {text:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
