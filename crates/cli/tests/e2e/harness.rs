use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use code_mesh_testkit::{BackgroundServer, Script, ScriptedServer, Turn};
use tempfile::TempDir;

/// A temporary project with its own Code Mesh home, next to (not inside) an outside folder.
pub struct Project {
    root: TempDir,
}

impl Project {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        for dir in ["project", "home", "code-mesh-home", "outside"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        // A real (empty) repository: the workspace is exactly this folder, and turns are
        // snapshotted for `code-mesh undo` as in a user's project.
        let init = Command::new("git")
            .args(["init", "--quiet"])
            .current_dir(root.path().join("project"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap();
        assert!(init.success(), "git init failed");
        Project { root }
    }

    pub fn dir(&self) -> PathBuf {
        self.root.path().join("project").canonicalize().unwrap()
    }

    pub fn outside(&self) -> PathBuf {
        self.root.path().join("outside").canonicalize().unwrap()
    }

    pub fn code_mesh_home(&self) -> PathBuf {
        self.root.path().join("code-mesh-home")
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.dir().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.dir().join(relative)).unwrap()
    }

    /// `code-mesh` with a clean environment pointing at `base_url` (when given).
    pub fn command(&self, base_url: Option<&str>) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_code-mesh"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root.path().join("home"))
            .env("CODE_MESH_HOME", self.code_mesh_home())
            // Never find a real local Ollama by accident.
            .env("OLLAMA_HOST", "127.0.0.1:9")
            .current_dir(self.dir())
            .stdin(Stdio::null());
        if let Some(url) = base_url {
            command
                .env("OPENAI_BASE_URL", url)
                .env("OPENAI_API_KEY", "sk-test");
        }
        command
    }

    pub fn run(&self, server: &ScriptedServer, args: &[&str]) -> Outcome {
        let output = self
            .command(Some(&server.base_url()))
            .args(args)
            .output()
            .unwrap();
        Outcome::from(output)
    }
}

/// Every scenario ends with a replay check (see [`check_replay`]).
impl Drop for Project {
    fn drop(&mut self) {
        check_replay(
            self.command(None),
            &self.code_mesh_home().join("data/code-mesh.db"),
        );
    }
}

/// The check after every scenario: each session of the database, rebuilt from its events
/// alone (`code-mesh sessions replay --all`, run with `command`'s environment), must equal
/// what is stored. Skipped when there is no database or the test is already failing.
pub fn check_replay(mut command: Command, database: &Path) {
    if std::thread::panicking() || !database.exists() {
        return;
    }
    let replay = Outcome::from(
        command
            .args(["sessions", "replay", "--all"])
            .output()
            .unwrap(),
    );
    if replay.code != Some(0) {
        panic!(
            "the replay check after this scenario failed (exit {:?})\n--- stdout\n{}\n--- stderr\n{}",
            replay.code, replay.stdout, replay.stderr
        );
    }
}

pub fn serve(turns: Vec<Turn>) -> BackgroundServer {
    ScriptedServer::start_in_background(turns.into_iter().collect::<Script>()).unwrap()
}

pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Outcome {
    fn from(output: Output) -> Self {
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Outcome {
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

#[track_caller]
pub fn assert_verified(server: &ScriptedServer) {
    if let Err(err) = server.verify() {
        panic!("the scripted server saw problems:\n{err}");
    }
}

pub fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// Reads `pipe` to its end on a thread, so the child never blocks on a full pipe; what it
/// has read so far is in the returned buffer.
pub fn collect_output(
    mut pipe: impl std::io::Read + Send + 'static,
) -> (
    std::sync::Arc<std::sync::Mutex<String>>,
    std::thread::JoinHandle<()>,
) {
    let collected = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = collected.clone();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    (collected, reader)
}
