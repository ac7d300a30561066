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
        "[Allow always (save rule) (a)]",
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

/// Issue 7: "allow always" in the dialog writes the rule to the user's global config (a
/// project's own `code-mesh.toml` may not grant permissions), and a later `code-mesh run` of
/// the same command in the project runs without asking.
#[test]
fn allow_always_saves_a_rule_that_a_later_run_obeys() {
    require_tmux();
    let project = Project::new();
    let config = project.code_mesh_home().join("config.toml");
    let server = serve(vec![
        Turn::call("bash", json!({"command": "echo always-ok first"}))
            .expect_last_user_contains("run it always"),
        Turn::reply("Done the first time.").expect_tool_result_contains("always-ok first"),
    ]);
    let exit_file = project.outside().join("exit-code");
    let tmux = Tmux::start(&project, &server.base_url(), "always", &[], &exit_file);

    tmux.wait_for("the editor", |screen| screen.contains("Enter sends"));
    tmux.type_line("run it always");
    tmux.wait_for("the permission dialog offering to save", |screen| {
        screen.contains("[Allow always (save rule) (a)]")
    });
    assert!(!exists(&config), "no config file before the answer");
    tmux.keys(&["a"]);
    let screen = tmux.wait_for("the saved-rule notice and the answer", |screen| {
        screen.contains("Done the first time.") && !screen.contains("working · Esc cancels")
    });
    // The notice names the file; a long temporary path may wrap, so only its start is checked.
    assert!(
        screen.contains("Saved rule `bash: echo always-ok *` → allow in"),
        "no saved-rule notice:\n{screen}"
    );
    assert!(
        !exists(&project.dir().join("code-mesh.toml")),
        "the repository's config was written"
    );
    let written = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        written,
        "[[permissions.rules]]\ntool = \"bash\"\npattern = \"echo always-ok *\"\naction = \"allow\"\n"
    );
    assert_verified(&server);
    tmux.type_line("/quit");
    tmux.wait_for_exit();
    assert_exit_code_zero(&exit_file);

    // A new `run` (no terminal: an unanswered question would be denied) runs the same command
    // with other arguments, allowed by the saved rule.
    let again = serve(vec![
        Turn::call("bash", json!({"command": "echo always-ok again"})),
        Turn::reply("Ran again.").expect_tool_result_contains("always-ok again"),
    ]);
    let outcome = project.run(&again, &["run", "--json", "run it again"]);
    outcome.assert_code(0);
    let decided: Vec<_> = outcome
        .stdout
        .lines()
        .filter_map(|line| {
            let event: code_mesh_protocol::Event = serde_json::from_str(line).unwrap();
            match event.kind {
                code_mesh_protocol::EventKind::PermissionDecided {
                    decision,
                    source,
                    rule,
                    ..
                } => Some((decision, source, rule)),
                _ => None,
            }
        })
        .collect();
    assert_eq!(
        decided,
        [(
            code_mesh_protocol::PermissionDecision::AllowOnce,
            code_mesh_protocol::PermissionSource::Policy,
            Some(format!(
                "rule `bash: echo always-ok *` from {}:1",
                config.display()
            ))
        )],
        "{}",
        outcome.stderr
    );
    assert_verified(&again);
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

/// Issue 7: an agent's own conversation, opened from the agent panel while the agent works:
/// the task it was given (read from the store), then its answer as it arrives (live, from its
/// child session), under a header with its state; Esc goes back to the run.
#[test]
fn an_agents_own_conversation_is_read_from_the_agent_panel_while_it_works() {
    require_tmux();
    let project = Project::new();
    let server = serve(vec![
        Turn::new()
            .with_tool_call(ToolCall::new(
                "delegate",
                json!({"tasks": [
                    {"id": "a", "description": "implement the flag", "agent": "coder"}
                ]}),
            ))
            .for_agent("coordinator"),
        // Long enough to open the coder's conversation before its answer arrives.
        Turn::reply("Implemented the flag in src/cli.rs.")
            .for_agent("coder")
            .expect_last_user_contains("implement the flag")
            .with_delay_ms(2500),
        Turn::reply("The flag is in.")
            .for_agent("coordinator")
            .expect_tool_result_contains("Implemented the flag in src/cli.rs."),
    ]);
    let exit_file = project.outside().join("exit-code");
    let tmux = Tmux::start(
        &project,
        &server.base_url(),
        "agent-view",
        &["--strategy", "hierarchical"],
        &exit_file,
    );

    tmux.wait_for("the editor", |screen| screen.contains("Enter sends"));
    tmux.type_line("add a flag");
    tmux.wait_for("the coder running in the agent panel", |screen| {
        screen
            .lines()
            .any(|line| line.contains("agent_2 coder running"))
    });
    // Tab gives the panel the keys; Down selects the coder, under the Coordinator.
    tmux.keys(&["Tab"]);
    tmux.wait_for("the panel focused on the Coordinator", |screen| {
        screen.contains("↑↓ select · Enter opens") && screen.contains("▸ agent_1 coordinator")
    });
    tmux.keys(&["Down"]);
    tmux.wait_for("the coder selected", |screen| {
        screen.contains("▸ agent_2 coder")
    });
    tmux.keys(&["Enter"]);
    let opened = tmux.wait_for("the coder's conversation while it works", |screen| {
        screen.contains("agent_2 · coder · running") && screen.contains("implement the flag")
    });
    assert!(
        !opened.contains("Implemented the flag in src/cli.rs."),
        "the coder had answered before its view opened; the test cannot tell live from stored:\n{opened}"
    );
    let answered = tmux.wait_for("the coder's answer in its own view", |screen| {
        screen.contains("Implemented the flag in src/cli.rs.")
            && screen.contains("agent_2 · coder · done")
    });
    assert!(
        !answered.contains("The flag is in."),
        "the run's conversation shows through the agent's:\n{answered}"
    );

    // Esc: back to the panel; Esc again: back to the prompt and the run's conversation.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the run's conversation again", |screen| {
        !screen.contains("agent_2 · coder ·") && screen.contains("↑↓ select · Enter opens")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the run's answer and the prompt", |screen| {
        screen.contains("The flag is in.")
            && screen.contains("Enter sends")
            && screen.contains("agents · /agents hides")
    });
    assert_verified(&server);

    tmux.type_line("/quit");
    tmux.wait_for_exit();
    assert_exit_code_zero(&exit_file);
}

/// Issue 7: `code-mesh -c` opens the directory's last session with its conversation shown
/// (read from the store, each message once), and the next prompt continues it.
#[test]
fn continuing_shows_the_earlier_conversation() {
    require_tmux();
    let project = Project::new();
    let server = serve(vec![
        Turn::reply("The parser turns **tokens** into a tree.")
            .expect_last_user_contains("explain the parser"),
        Turn::reply("Yes, every node keeps its span.")
            .expect_last_user_contains("does it keep spans"),
    ]);
    project
        .run(&server, &["run", "explain the parser"])
        .assert_code(0);
    let exit_file = project.outside().join("exit-code");
    let tmux = Tmux::start(
        &project,
        &server.base_url(),
        "continue",
        &["-c"],
        &exit_file,
    );

    let screen = tmux.wait_for("the earlier conversation", |screen| {
        screen.contains("Enter sends") && screen.contains("The parser turns tokens into a tree.")
    });
    assert_eq!(
        screen.matches("explain the parser").count(),
        1,
        "the earlier prompt is not shown exactly once:\n{screen}"
    );
    tmux.type_line("does it keep spans");
    let screen = tmux.wait_for("the answer in the same conversation", |screen| {
        screen.contains("Yes, every node keeps its span.")
            && !screen.contains("working · Esc cancels")
    });
    assert!(
        screen.contains("The parser turns tokens into a tree."),
        "the earlier answer went away:\n{screen}"
    );
    assert_verified(&server);
    tmux.type_line("/quit");
    tmux.wait_for_exit();
    assert_exit_code_zero(&exit_file);

    // One session, now with both turns.
    let list = project.run(&server, &["sessions", "list", "--json"]);
    list.assert_code(0);
    let sessions: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions:#}");
    assert_eq!(sessions[0]["message_count"], 4, "{sessions:#}");
}

/// Issue 7: `/sessions` lists the stored sessions; typing narrows them and Enter resumes the
/// selected one, whose conversation the next prompt continues.
#[test]
fn the_session_picker_resumes_a_session_by_enter() {
    require_tmux();
    let project = Project::new();
    let server = serve(vec![
        Turn::reply("Alpha done.").expect_last_user_contains("first task alpha"),
        Turn::reply("Beta done.").expect_last_user_contains("second task beta"),
        Turn::reply("Alpha continued.").expect_last_user_contains("more on alpha"),
    ]);
    project
        .run(&server, &["run", "first task alpha"])
        .assert_code(0);
    project
        .run(&server, &["run", "second task beta"])
        .assert_code(0);
    let exit_file = project.outside().join("exit-code");
    let tmux = Tmux::start(&project, &server.base_url(), "picker", &[], &exit_file);

    tmux.wait_for("the editor", |screen| screen.contains("Enter sends"));
    tmux.type_line("/sessions");
    let picker = tmux.wait_for("the session picker", |screen| {
        screen.contains(" sessions ") && screen.contains("Enter resumes")
    });
    for title in ["first task alpha", "second task beta", "(current)"] {
        assert!(
            picker.contains(title),
            "no `{title}` in the picker:\n{picker}"
        );
    }
    tmux.keys(&["-l", "alpha"]);
    tmux.wait_for("the filtered list", |screen| {
        screen.contains("filter: alpha") && !screen.contains("second task beta")
    });
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the resumed session", |screen| {
        screen.contains("Resumed “first task alpha”") && screen.contains("Alpha done.")
    });
    assert!(
        !screen.contains("Beta done."),
        "another session's conversation is shown:\n{screen}"
    );
    tmux.type_line("more on alpha");
    tmux.wait_for("the resumed session's next answer", |screen| {
        screen.contains("Alpha continued.") && !screen.contains("working · Esc cancels")
    });

    // Ctrl-F forks the selected session: a new session with a copy of its conversation.
    tmux.type_line("/sessions");
    tmux.wait_for("the session picker again", |screen| {
        screen.contains("Enter resumes") && screen.contains("first task alpha (current)")
    });
    tmux.keys(&["-l", "beta"]);
    tmux.wait_for("beta alone", |screen| {
        screen.contains("filter: beta") && !screen.contains("first task alpha (current)")
    });
    tmux.keys(&["C-f"]);
    let screen = tmux.wait_for("the fork", |screen| {
        screen.contains("Forked “second task beta” into a new session (2 messages copied)")
            && screen.contains("Beta done.")
    });
    assert!(
        !screen.contains("Alpha continued."),
        "the fork shows the wrong conversation:\n{screen}"
    );
    assert_verified(&server);
    tmux.type_line("/quit");
    tmux.wait_for_exit();
    assert_exit_code_zero(&exit_file);

    // The alpha session got the new turn; no other session did.
    let list = project.run(&server, &["sessions", "list", "--json"]);
    list.assert_code(0);
    let sessions: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let counts: Vec<(String, u64)> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["title"].as_str().unwrap().to_owned(),
                s["message_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        counts.contains(&("first task alpha".to_owned(), 4)),
        "{counts:?}"
    );
    assert_eq!(
        counts
            .iter()
            .filter(|(title, count)| title == "second task beta" && *count == 2)
            .count(),
        2,
        "the session and its fork: {counts:?}"
    );
}

/// Issue 7: `/undo` reverts the last turn's files and the session goes on with its
/// conversation; what cannot happen (a second undo, a model of no known provider, a strategy
/// that does not exist) is an error line and the UI keeps its session.
#[test]
fn undo_model_and_strategy_switch_or_say_why_not() {
    require_tmux();
    let project = Project::new();
    project.write("src/a.rs", "fn a() -> u8 { 1 }\n");
    let server = serve(vec![
        Turn::call(
            "write",
            json!({"path": "src/a.rs", "content": "fn a() -> u8 { 2 }\n"}),
        )
        .expect_last_user_contains("bump a"),
        Turn::reply("Bumped a.").expect_tool_result_contains("src/a.rs"),
    ]);
    let exit_file = project.outside().join("exit-code");
    let tmux = Tmux::start(&project, &server.base_url(), "undo", &["--yes"], &exit_file);
    tmux.wait_for("the editor", |screen| screen.contains("Enter sends"));
    tmux.type_line("bump a");
    tmux.wait_for("the answer", |screen| {
        screen.contains("Bumped a.") && !screen.contains("working · Esc cancels")
    });
    assert_eq!(project.read("src/a.rs"), "fn a() -> u8 { 2 }\n");

    tmux.type_line("/undo");
    let screen = tmux.wait_for("the undo notice", |screen| {
        screen.contains("Undid the last turn (turn 1): 1 file restored")
    });
    assert!(
        screen.contains("Bumped a."),
        "the conversation is gone after the undo:\n{screen}"
    );
    assert_eq!(project.read("src/a.rs"), "fn a() -> u8 { 1 }\n");

    tmux.type_line("/undo");
    tmux.wait_for("the second undo refused", |screen| {
        screen.contains("error: cannot undo:") && screen.contains("already undone")
    });

    tmux.type_line("/model nosuch/model-x");
    let screen = tmux.wait_for("the model switch refused", |screen| {
        screen.contains("error: unknown provider `nosuch`")
    });
    // Each switch reopens the UI over the same session: its conversation, the latest notice.
    assert!(
        screen.contains("Bumped a.") && screen.contains("openai/gpt-5-mini ·"),
        "the session or its model changed:\n{screen}"
    );

    tmux.type_line("/strategy crowd");
    tmux.wait_for("the unknown strategy refused", |screen| {
        screen.contains("error: unknown strategy `crowd`")
            && screen.contains("single, hierarchical, pipeline, mesh, swarm")
    });
    tmux.type_line("/strategy pipeline");
    tmux.wait_for("the strategy switched", |screen| {
        screen.contains("Strategy: pipeline") && screen.contains("Bumped a.")
    });
    tmux.type_line("/strategy");
    tmux.wait_for("the current strategy", |screen| {
        screen.contains("strategy: pipeline (`/strategy NAME`")
    });
    assert_verified(&server);
    tmux.type_line("/quit");
    tmux.wait_for_exit();
    assert_exit_code_zero(&exit_file);
}
