use code_mesh_protocol::ToolResult;
use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;

/// 2025-11-27 12:03:20 UTC.
const NOW: u64 = 1_764_245_000_000;

/// Builds a turn's messages: the user's prompt, then calls and their results.
struct Turn {
    messages: Vec<Message>,
    next_id: u32,
}

impl Turn {
    fn new(prompt: &str) -> Self {
        Turn {
            messages: vec![message(
                Role::User,
                vec![Part::Text {
                    text: prompt.into(),
                }],
            )],
            next_id: 0,
        }
    }

    fn call(mut self, name: &str, arguments: Value, output: &str, is_error: bool) -> Self {
        self.next_id += 1;
        let id = format!("call_{}", self.next_id);
        self.messages.push(message(
            Role::Assistant,
            vec![Part::ToolCall(ToolCall::new(
                &id,
                name,
                arguments.to_string(),
            ))],
        ));
        self.messages.push(message(
            Role::Tool,
            vec![Part::ToolResult(ToolResult {
                call_id: id,
                name: name.into(),
                output: output.into(),
                is_error,
            })],
        ));
        self
    }

    fn bash(self, command: &str, output: &str, code: i32) -> Self {
        self.call(
            "bash",
            json!({ "command": command }),
            &format!("{output}\nexit code: {code}"),
            false,
        )
    }

    fn edit(self, path: &str) -> Self {
        self.call(
            "edit",
            json!({ "path": path, "old_string": "a", "new_string": "b" }),
            "edited",
            false,
        )
    }

    fn outcome(&self, reason: TurnEndReason) -> TaskOutcome {
        task_outcome(
            &self.messages,
            reason,
            Path::new("/repo"),
            Path::new("/repo/sub"),
        )
    }
}

fn message(role: Role, parts: Vec<Part>) -> Message {
    Message {
        seq: 0,
        role,
        parts,
        model: None,
        usage: None,
        interrupted: false,
        created_at: 0,
    }
}

#[test]
fn a_passing_test_run_found_by_searching_becomes_the_test_command_lesson() {
    let turn = Turn::new("run the tests\nplease")
        .call(
            "grep",
            json!({"pattern": "pytest"}),
            "Makefile:3: pytest",
            false,
        )
        .call("read", json!({"path": "README.md"}), "Run ./test.sh", false)
        .bash("./test.sh", "2 passed", 0);
    let outcome = turn.outcome(TurnEndReason::Completed);
    assert_eq!(
        outcome,
        TaskOutcome {
            task: "run the tests".into(),
            succeeded: true,
            test_commands: vec!["./test.sh".into()],
            ..TaskOutcome::default()
        }
    );
    assert_eq!(
        lessons(&outcome, NOW),
        vec![Lesson {
            key: "test-command".into(),
            content: "Run the tests with `./test.sh` (passed on 2025-11-27).".into()
        }]
    );
}

#[test]
fn a_failure_fixed_by_edits_is_an_error_fix_and_files_are_workspace_relative() {
    let turn = Turn::new("fix the test")
        .bash(
            "python3 -m pytest -q",
            "F\nE   assert add(1, 2) == 4\n1 failed in 0.01s",
            1,
        )
        .edit("calc.py")
        .edit("../lib/util.py")
        .call(
            "apply_patch",
            json!({"patch": "*** Begin Patch\n*** Add File: new.py\n+x\n*** End Patch\n"}),
            "done",
            false,
        )
        .bash("python3 -m pytest -q", "1 passed", 0)
        .bash("cargo build --release", "Finished", 0);
    let outcome = turn.outcome(TurnEndReason::Completed);
    assert_eq!(
        outcome,
        TaskOutcome {
            task: "fix the test".into(),
            succeeded: true,
            test_commands: vec!["python3 -m pytest -q".into()],
            build_commands: vec!["cargo build --release".into()],
            files: vec![
                "sub/calc.py".into(),
                "lib/util.py".into(),
                "sub/new.py".into()
            ],
            fixes: vec![ErrorFix {
                command: "python3 -m pytest -q".into(),
                error: "E   assert add(1, 2) == 4".into(),
                fix: "editing sub/calc.py, lib/util.py and sub/new.py".into(),
            }],
        }
    );
    let lessons = lessons(&outcome, NOW);
    let keys: Vec<&str> = lessons.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(
        keys,
        ["test-command", "build-command", "fix:python3 -m pytest -q"]
    );
    assert_eq!(
        lessons[2].content,
        "`python3 -m pytest -q` failed with \"E   assert add(1, 2) == 4\"; it passed after \
         editing sub/calc.py, lib/util.py and sub/new.py (on 2025-11-27)."
    );
}

#[test]
fn a_command_that_passes_again_without_edits_is_no_fix() {
    let turn = Turn::new("flaky")
        .bash("cargo test", "test result: FAILED", 101)
        .bash("cargo test", "test result: ok", 0);
    let outcome = turn.outcome(TurnEndReason::Completed);
    assert!(outcome.fixes.is_empty());
    assert_eq!(outcome.test_commands, ["cargo test"]);
}

#[test]
fn the_last_check_decides_success() {
    let failing_last =
        Turn::new("t")
            .bash("npm test", "ok", 0)
            .edit("a.js")
            .bash("npm test", "1 failing", 1);
    let outcome = failing_last.outcome(TurnEndReason::Completed);
    assert!(!outcome.succeeded);
    assert_eq!(outcome.test_commands, ["npm test"], "it did pass once");

    let cancelled = Turn::new("t").bash("go test ./...", "ok", 0);
    assert!(!cancelled.outcome(TurnEndReason::Cancelled).succeeded);

    let no_checks = Turn::new("t").edit("a.rs");
    assert!(no_checks.outcome(TurnEndReason::Completed).succeeded);
    let failed_call = Turn::new("t").call("read", json!({"path": "x"}), "not found", true);
    assert!(!failed_call.outcome(TurnEndReason::Completed).succeeded);
}

#[test]
fn project_tools_report_the_command_they_ran() {
    let turn = Turn::new("t")
        .call(
            "run_tests",
            json!({}),
            "$ cargo test   (in ., rust)\ntests: FAILED (exit code 101)\ntests: 1 passed, 1 \
             failed, 0 ignored\nsrc/lib.rs:3: error[E0425]: cannot find value `x`",
            false,
        )
        .edit("src/lib.rs")
        .call(
            "run_tests",
            json!({}),
            "$ cargo test   (in ., rust)\ntests: succeeded (exit code 0)\n",
            false,
        )
        .call(
            "lint",
            json!({}),
            "$ cargo clippy --all-targets   (in ., rust)\nlinter: succeeded (exit code 0)\n",
            false,
        );
    let outcome = turn.outcome(TurnEndReason::Completed);
    assert_eq!(outcome.test_commands, ["cargo test"]);
    assert_eq!(outcome.build_commands, ["cargo clippy --all-targets"]);
    assert_eq!(
        outcome.fixes,
        [ErrorFix {
            command: "cargo test".into(),
            error: "src/lib.rs:3: error[E0425]: cannot find value `x`".into(),
            fix: "editing sub/src/lib.rs".into(),
        }]
    );
}

#[test]
fn calls_that_ran_nothing_teach_nothing() {
    let turn = Turn::new("t")
        .call(
            "bash",
            json!({"command": "pytest"}),
            "permission denied: the user did not allow this `bash` call",
            true,
        )
        .bash("ls -la", "total 0", 0)
        .bash(
            "grep -c 'pub fn' src/lib.rs && echo checked",
            "2\nchecked",
            0,
        );
    let outcome = turn.outcome(TurnEndReason::Completed);
    assert!(outcome.test_commands.is_empty() && outcome.build_commands.is_empty());
    assert!(
        learn(
            &turn.messages,
            TurnEndReason::Completed,
            Path::new("/repo"),
            Path::new("/repo"),
            NOW
        )
        .is_none()
    );
}

#[test]
fn a_bash_workdir_is_kept_with_the_command() {
    let turn = Turn::new("t").call(
        "bash",
        json!({"command": "pytest -q", "workdir": "/repo/backend"}),
        "3 passed\nexit code: 0",
        false,
    );
    let outcome = turn.outcome(TurnEndReason::Completed);
    assert_eq!(outcome.test_commands, ["cd backend && pytest -q"]);
}

#[test]
fn commands_are_classified_by_their_words() {
    let tests = [
        "pytest -q",
        "python3 -m pytest tests/",
        "uv run pytest",
        "cargo test --workspace",
        "cargo nextest run",
        "npm test",
        "npm run test:unit",
        "pnpm test",
        "yarn test",
        "go test ./...",
        "npx jest",
        "npx vitest run",
        "make test",
        "make check",
        "tox -e py312",
        "ctest --output-on-failure",
        "mvn test",
        "./gradlew test",
        "cd backend && CI=1 pytest",
        "./test.sh",
        "bash scripts/run_tests.sh",
        "python3 test_calc.py",
        "timeout 60 cargo test 2>&1 | tail",
    ];
    for command in tests {
        assert_eq!(classify_command(command), CommandKind::Test, "{command}");
    }
    let builds = [
        "cargo build",
        "cargo clippy --all-targets -- -D warnings",
        "npm run build",
        "go vet ./...",
        "tsc --noEmit",
        "make",
        "make -j4 all",
        "ruff check .",
        "mvn package",
        "./build.sh",
    ];
    for command in builds {
        assert_eq!(classify_command(command), CommandKind::Build, "{command}");
    }
    let others = [
        "ls -la",
        "test -f Cargo.toml",
        "grep -rn pytest .",
        "cat test.sh",
        "git status",
        "echo testing",
        "npm install",
    ];
    for command in others {
        assert_eq!(classify_command(command), CommandKind::Other, "{command}");
    }
}

#[test]
fn several_commands_and_long_edit_lists_stay_short() {
    let outcome = TaskOutcome {
        test_commands: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        fixes: vec![ErrorFix {
            command: "make".into(),
            error: String::new(),
            fix: describe_edits(&(1..=7).map(|n| format!("f{n}.c")).collect::<Vec<_>>()),
        }],
        ..TaskOutcome::default()
    };
    let lessons = lessons(&outcome, 0);
    assert_eq!(
        lessons[0].content,
        "Run the tests with `a`, `b` and `c` (passed on 1970-01-01)."
    );
    assert_eq!(
        lessons[1].content,
        "`make` failed; it passed after editing f1.c, f2.c, f3.c, f4.c, f5.c and 2 more files \
         (on 1970-01-01)."
    );
}

#[test]
fn utc_dates_of_known_instants() {
    assert_eq!(utc_date(0), "1970-01-01");
    assert_eq!(utc_date(951_782_400_000), "2000-02-29");
    assert_eq!(utc_date(NOW), "2025-11-27");
}
