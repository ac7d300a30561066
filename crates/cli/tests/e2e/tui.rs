//! The terminal UI through the real binary, in a detached tmux session of its own: keys go in
//! with `send-keys` and the screen comes back with `capture-pane`, against the scripted server.
//! Needs Debian's `tmux` (`.ci/run` installs it); without it these tests fail, never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use code_mesh_testkit::{ToolCall, Turn};
use serde_json::json;

use crate::harness::*;

/// How long any one thing may take to show on the screen.
const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(75);
const SESSION: &str = "main";

/// A tmux server on a socket of its own, killed (with everything in it) when dropped.
struct Tmux {
    socket: String,
    home: PathBuf,
    /// The socket's file, removed with the server.
    socket_path: Option<PathBuf>,
}

impl Tmux {
    /// Starts `code-mesh ARGS` in a detached 100x30 session with `project`'s environment
    /// (the one [`Project::command`] sets); its exit code is written to `exit_file`.
    fn start(
        project: &Project,
        server_url: &str,
        name: &str,
        args: &[&str],
        exit_file: &Path,
    ) -> Self {
        let root = project.code_mesh_home().parent().unwrap().to_path_buf();
        let mut tmux = Tmux {
            socket: format!("code-mesh-e2e-{}-{name}", std::process::id()),
            home: root.join("home"),
            socket_path: None,
        };
        let mut line = vec![
            "env".to_owned(),
            format!("HOME={}", quote(&tmux.home.to_string_lossy())),
            format!(
                "CODE_MESH_HOME={}",
                quote(&project.code_mesh_home().to_string_lossy())
            ),
            "OLLAMA_HOST=127.0.0.1:9".to_owned(),
            format!("OPENAI_BASE_URL={}", quote(server_url)),
            "OPENAI_API_KEY=sk-test".to_owned(),
            quote(env!("CARGO_BIN_EXE_code-mesh")),
        ];
        line.extend(args.iter().map(|arg| quote(arg)));
        let shell = format!(
            "{}; echo $? > {}",
            line.join(" "),
            quote(&exit_file.to_string_lossy())
        );
        let out = tmux.command(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "100",
            "-y",
            "30",
            "-c",
            &project.dir().to_string_lossy(),
            &shell,
        ]);
        assert!(out.status.success(), "tmux new-session failed: {out:?}");
        let path = tmux.command(&["display-message", "-p", "#{socket_path}"]);
        let path = String::from_utf8_lossy(&path.stdout).trim().to_owned();
        tmux.socket_path = Some(PathBuf::from(path)).filter(|p| p.is_absolute());
        tmux
    }

    /// `tmux -L SOCKET ARGS` with a clean environment, no user configuration.
    fn command(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap()
    }

    fn capture(&self) -> String {
        let out = self.command(&["capture-pane", "-p", "-t", SESSION]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alive(&self) -> bool {
        self.command(&["has-session", "-t", SESSION])
            .status
            .success()
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        let out = self.command(&args);
        assert!(out.status.success(), "tmux send-keys failed: {out:?}");
    }

    /// Polls the screen until `ready` holds for it; fails with the last screen after
    /// [`DEADLINE`].
    #[track_caller]
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if ready(&screen) {
                return screen;
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out after {DEADLINE:?} waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls until the session (the binary) has ended.
    #[track_caller]
    fn wait_for_exit(&self) {
        let start = Instant::now();
        while self.alive() {
            if start.elapsed() > DEADLINE {
                panic!(
                    "the terminal UI did not exit within {DEADLINE:?}; the screen:\n{}",
                    self.capture()
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Fails (never skips) when tmux is missing: CI installs it.
fn require_tmux() {
    let version = Command::new("tmux").arg("-V").output();
    if !version.as_ref().is_ok_and(|out| out.status.success()) {
        panic!(
            "the terminal UI e2e tests need tmux, which is not installed here \
             (`.ci/run` installs it: apt-get install tmux): {version:?}"
        );
    }
}

/// `text` in single quotes for the shell tmux runs the command with.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[track_caller]
fn assert_exit_code_zero(exit_file: &Path) {
    let code = std::fs::read_to_string(exit_file).unwrap_or_default();
    assert_eq!(code.trim(), "0", "exit code of the terminal UI");
}

#[test]
fn a_command_is_approved_in_the_permission_dialog_and_its_output_shown() {
    require_tmux();
    let project = Project::new();
    let server = serve(vec![
        Turn::call("bash", json!({"command": "echo tui-ok"}))
            .expect_last_user_contains("say it through the shell"),
        Turn::reply("The shell said **tui-ok**; all done.").expect_tool_result_contains("tui-ok"),
    ]);
    let exit_file = project.outside().join("exit-code");
    let tmux = Tmux::start(&project, &server.base_url(), "permission", &[], &exit_file);

    tmux.wait_for("the editor", |screen| screen.contains("Enter sends"));
    tmux.type_line("say it through the shell");
    let dialog = tmux.wait_for("the permission dialog", |screen| {
        screen.contains("Allow once (y)")
    });
    for text in [
        " permission ",
        "`bash` wants to run a command:",
        "echo tui-ok",
        "[Allow for this session (a)]",
        "[Deny (n)]",
    ] {
        assert!(
            dialog.contains(text),
            "no `{text}` in the dialog:\n{dialog}"
        );
    }
    // Nothing ran before the answer.
    assert_eq!(server.turns_served(), 1, "{dialog}");

    tmux.keys(&["y"]);
    let screen = tmux.wait_for("the final answer", |screen| {
        screen.contains("all done.") && !screen.contains("working · Esc cancels")
    });
    assert!(
        !screen.contains("Allow once (y)"),
        "the dialog stayed open:\n{screen}"
    );
    assert!(
        screen
            .lines()
            .any(|line| line.starts_with("✓ bash echo tui-ok") && line.contains(" ms")),
        "no finished tool block for the command:\n{screen}"
    );
    assert!(
        screen.contains("`bash` asks to run `echo tui-ok`: allowed once by you"),
        "the answer is not recorded in the conversation:\n{screen}"
    );
    // Ctrl-O opens the tool blocks: the command's own output.
    tmux.keys(&["C-o"]);
    tmux.wait_for("the command's output in the opened block", |screen| {
        screen.lines().any(|line| line.trim() == "│ tui-ok") && screen.contains("│ exit code: 0")
    });
    assert_verified(&server);

    tmux.type_line("/quit");
    tmux.wait_for_exit();
    assert_exit_code_zero(&exit_file);
}

#[test]
fn a_hierarchical_run_is_watched_in_the_agent_panel() {
    require_tmux();
    let project = Project::new();
    let server = serve(vec![
        Turn::new()
            .with_tool_call(ToolCall::new(
                "delegate",
                json!({"tasks": [
                    {"id": "a", "description": "design the flag", "agent": "architect"},
                    {"id": "b", "description": "implement the flag", "agent": "coder", "depends_on": ["a"]}
                ]}),
            ))
            .for_agent("coordinator")
            .expect_tools_include("delegate"),
        Turn::reply("Design: a boolean flag.")
            .for_agent("architect")
            .expect_last_user_contains("design the flag")
            .with_delay_ms(600),
        Turn::reply("Implemented the flag.")
            .for_agent("coder")
            .expect_last_user_contains("Design: a boolean flag.")
            .with_delay_ms(600),
        Turn::reply("The flag is designed and implemented.")
            .for_agent("coordinator")
            .expect_tool_result_contains("Implemented the flag."),
    ]);
    let exit_file = project.outside().join("exit-code");
    let tmux = Tmux::start(
        &project,
        &server.base_url(),
        "agents",
        &["--strategy", "hierarchical"],
        &exit_file,
    );

    tmux.wait_for("the editor", |screen| screen.contains("Enter sends"));
    tmux.type_line("add a flag");
    // The panel opens by itself once a run has agents. Live: the architect at work while the
    // coder's task waits on it.
    let live = tmux.wait_for("the architect running in the agent panel", |screen| {
        screen.contains("agents · /agents hides")
            && screen
                .lines()
                .any(|line| line.contains("architect running") && line.contains("design the flag"))
    });
    assert!(
        live.contains("task_2 [coder] waiting: implement the flag"),
        "the coder's task is not shown waiting:\n{live}"
    );

    let both_done = |screen: &str| {
        screen
            .lines()
            .any(|line| line.contains("architect done") && line.contains("task_1: design the flag"))
            && screen.lines().any(|line| {
                line.contains("coder done") && line.contains("task_2: implement the flag")
            })
    };
    let done = tmux.wait_for("both agents done and the answer", |screen| {
        screen.contains("The flag is designed and implemented.")
            && both_done(screen)
            && !screen.contains("working · Esc cancels")
    });
    assert!(
        live.contains("agent_1 coordinator running"),
        "the coordinator is not shown running during the turn:\n{live}"
    );
    assert!(
        done.contains("agent_1 coordinator idle"),
        "the coordinator is not shown idle after the turn:\n{done}"
    );

    // `/agents` hides the panel and shows it again, as it was.
    tmux.type_line("/agents");
    let hidden = tmux.wait_for("the agent panel hidden", |screen| {
        !screen.contains("agents · /agents hides")
    });
    assert!(!both_done(&hidden), "{hidden}");
    tmux.type_line("/agents");
    tmux.wait_for("the agent panel shown again", |screen| {
        screen.contains("agents · /agents hides") && both_done(screen)
    });
    assert_verified(&server);

    tmux.type_line("/quit");
    tmux.wait_for_exit();
    assert_exit_code_zero(&exit_file);
}
