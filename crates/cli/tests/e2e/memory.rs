//! Long-lived memory through the real binary: the learning engine's lessons reaching the next
//! session, `remember`/`recall` across sessions, repositories and scopes, expiry, and the
//! `code-mesh memory` commands.

use code_mesh_core::now_ms;
use code_mesh_protocol::{MemoryEntry, MemoryKind, MemoryScope, NewMemory};
use code_mesh_store::SqliteStore;
use code_mesh_testkit::{RecordedRequest, ToolCall, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::*;

/// The system prompt the model received with `request`.
fn system_prompt(request: &RecordedRequest) -> String {
    request
        .messages()
        .iter()
        .find(|message| message["role"] == "system")
        .and_then(|message| message["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The names of the tools the model called in a session, in order, from what it was sent.
fn tools_called(requests: &[RecordedRequest]) -> Vec<String> {
    let Some(last) = requests.last() else {
        return Vec::new();
    };
    last.messages()
        .iter()
        .flat_map(|message| {
            message["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|call| call["function"]["name"].as_str().map(str::to_owned))
        .collect()
}

fn memory_json(project: &Project, args: &[&str]) -> Vec<MemoryEntry> {
    let mut command = project.command(None);
    command.args(["memory", "list", "--json"]).args(args);
    let outcome = Outcome::from(command.output().unwrap());
    outcome.assert_code(0);
    serde_json::from_str(&outcome.stdout).unwrap()
}

/// A project whose tests run with `./test.sh`, which passes once `status.txt` says `ok`.
fn project_with_test_script(status: &str) -> Project {
    let project = Project::new();
    project.write(
        "test.sh",
        "#!/bin/sh\nif grep -q ok status.txt; then echo '3 passed'; else \
         echo 'FAILED: status.txt is not ok'; exit 1; fi\n",
    );
    let script = project.dir().join("test.sh");
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    project.write("status.txt", status);
    project.write("README.md", "# Demo\n\nThe test suite is `./test.sh`.\n");
    project
}

#[test]
fn the_second_session_runs_the_test_command_learned_in_the_first_without_searching() {
    let project = project_with_test_script("ok\n");
    // Session 1: the model searches for how the tests run, runs them, and they pass.
    let first = serve(vec![
        Turn::reply("Let me find how the tests run.")
            .with_tool_call(ToolCall::new("grep", json!({"pattern": "test"})))
            .with_tool_call(ToolCall::new("read", json!({"path": "README.md"}))),
        Turn::call("bash", json!({"command": "./test.sh"}))
            .expect_tool_result_contains("./test.sh"),
        Turn::reply("The tests pass.").expect_tool_result_contains("3 passed\nexit code: 0"),
    ]);
    let outcome = project.run(&first, &["run", "--yes", "run the tests"]);
    outcome.assert_code(0);
    assert!(
        outcome
            .stderr
            .contains("learned: Run the tests with `./test.sh` (passed on "),
        "the lesson is shown as it is recorded:\n{}",
        outcome.stderr
    );
    assert_verified(&first);
    assert!(
        !system_prompt(&first.requests()[0]).contains("# Memory from earlier sessions"),
        "a first session has no memory yet"
    );

    let lessons = memory_json(&project, &["--kind", "lesson"]);
    assert_eq!(lessons.len(), 1, "{lessons:?}");
    assert_eq!(lessons[0].memory.key.as_deref(), Some("test-command"));
    assert_eq!(
        lessons[0].memory.project.as_deref(),
        Some(project.dir().display().to_string().as_str())
    );

    // Session 2, a new one (not `-c`): the lesson is in the system prompt, and the model
    // runs the tests straight away.
    let second = serve(vec![
        Turn::call("bash", json!({"command": "./test.sh"}))
            .expect_system_contains("# Memory from earlier sessions")
            .expect_system_contains("Run the tests with `./test.sh` (passed on "),
        Turn::reply("Still green.").expect_tool_result_contains("3 passed"),
    ]);
    project
        .run(&second, &["run", "--yes", "check the tests still pass"])
        .assert_code(0);
    assert_verified(&second);
    let requests = second.requests();
    assert_eq!(requests.len(), 2);
    let system = system_prompt(&requests[0]);
    let memory = &system[system.find("# Memory from earlier sessions").unwrap()..];
    assert!(
        memory.contains(
            "## Lessons from earlier tasks in this repository\n- Run the tests with `./test.sh`"
        ),
        "{memory}"
    );
    assert_eq!(
        tools_called(&requests),
        ["bash"],
        "no search before the tests"
    );
}

#[test]
fn a_failure_fixed_by_an_edit_is_learned_and_a_failing_run_teaches_no_test_command() {
    let project = project_with_test_script("bad\n");
    // A failing run only: nothing worth keeping.
    let failing = serve(vec![
        Turn::call("bash", json!({"command": "./test.sh"})),
        Turn::reply("The tests fail.").expect_tool_result_contains("exit code: 1"),
    ]);
    project
        .run(&failing, &["run", "--yes", "run the tests"])
        .assert_code(0);
    assert_eq!(memory_json(&project, &[]), Vec::<MemoryEntry>::new());

    let fixing = serve(vec![
        Turn::call("bash", json!({"command": "./test.sh"})),
        Turn::call("write", json!({"path": "status.txt", "content": "ok\n"}))
            .expect_tool_result_contains("FAILED: status.txt is not ok"),
        Turn::call("bash", json!({"command": "./test.sh"})),
        Turn::reply("Fixed.").expect_tool_result_contains("3 passed"),
    ]);
    project
        .run(&fixing, &["run", "--yes", "fix the tests"])
        .assert_code(0);
    assert_verified(&fixing);
    let lessons = memory_json(&project, &["--kind", "lesson"]);
    let contents: Vec<(&str, &str)> = lessons
        .iter()
        .map(|l| (l.memory.key.as_deref().unwrap(), l.memory.content.as_str()))
        .collect();
    let fix = contents
        .iter()
        .find(|(key, _)| *key == "fix:./test.sh")
        .unwrap_or_else(|| panic!("{contents:?}"));
    assert!(
        fix.1.starts_with(
            "`./test.sh` failed with \"FAILED: status.txt is not ok\"; it passed after editing \
             status.txt (on "
        ),
        "{}",
        fix.1
    );
    assert!(contents.iter().any(|(key, _)| *key == "test-command"));
}

#[test]
fn remembered_notes_reach_later_sessions_by_scope() {
    let project = project_with_test_script("ok\n");
    let first = serve(vec![
        Turn::reply("Noting both.")
            .with_tool_call(ToolCall::new(
                "remember",
                json!({"content": "Staging deploys run `make deploy-staging`."}),
            ))
            .with_tool_call(ToolCall::new(
                "remember",
                json!({"content": "Answer tersely.", "scope": "global", "kind": "preference"}),
            ))
            .expect_tools_include("remember")
            .expect_tools_include("recall"),
        Turn::reply("Saved.").expect_tool_result_contains("Remembered as #"),
    ]);
    project
        .run(
            &first,
            &[
                "run",
                "remember the deploy command and that I like terse answers",
            ],
        )
        .assert_code(0);
    assert_verified(&first);

    // The same repository, a new session: both notes in the prompt, and recall finds the fact.
    let same_repo = serve(vec![
        Turn::call("recall", json!({"query": "deploy staging"}))
            .expect_system_contains("- Staging deploys run `make deploy-staging`.")
            .expect_system_contains("- Answer tersely."),
        Turn::reply("It is `make deploy-staging`.")
            .expect_tool_result_contains("[project fact, just now] Staging deploys run"),
    ]);
    project
        .run(&same_repo, &["run", "how do I deploy to staging?"])
        .assert_code(0);
    assert_verified(&same_repo);

    // Another repository, same user: only the global preference.
    let other = project.outside();
    let other_repo = serve(vec![
        Turn::call("recall", json!({"query": "deploy staging"}))
            .expect_system_contains("- Answer tersely."),
        Turn::reply("I don't know.")
            .expect_tool_result_contains("Nothing in memory matches \"deploy staging\""),
    ]);
    let outcome = Outcome::from(
        project
            .command(Some(&other_repo.base_url()))
            .args([
                "-C",
                other.to_str().unwrap(),
                "run",
                "how do I deploy to staging?",
            ])
            .output()
            .unwrap(),
    );
    outcome.assert_code(0);
    assert_verified(&other_repo);
    let system = system_prompt(&other_repo.requests()[0]);
    assert!(!system.contains("deploy-staging"), "{system}");
}

#[test]
fn expired_entries_are_neither_listed_nor_recalled_nor_prompted() {
    let project = Project::new();
    let workspace = project.dir().display().to_string();
    let store =
        SqliteStore::open(project.code_mesh_home().join("data").join("code-mesh.db")).unwrap();
    let note = |content: &str, expires_at: u64| NewMemory {
        scope: MemoryScope::Project,
        kind: MemoryKind::Fact,
        project: Some(workspace.clone()),
        agent: None,
        content: content.into(),
        key: None,
        source_session: None,
        expires_at: Some(expires_at),
    };
    // The live one first: storing an entry clears those already expired.
    store
        .remember_blocking(note(
            "The freeze lasts until Friday.",
            now_ms() + 86_400_000,
        ))
        .unwrap();
    store
        .remember_blocking(note(
            "The old freeze lasted until Monday.",
            now_ms() - 1_000,
        ))
        .unwrap();
    drop(store);

    let listed = memory_json(&project, &[]);
    let contents: Vec<&str> = listed.iter().map(|e| e.memory.content.as_str()).collect();
    assert_eq!(contents, ["The freeze lasts until Friday."]);
    let search = Outcome::from(
        project
            .command(None)
            .args(["memory", "search", "freeze"])
            .output()
            .unwrap(),
    );
    search.assert_code(0);
    assert!(
        search.stdout.contains("until Friday. (expires in 1 day)"),
        "{}",
        search.stdout
    );
    assert!(!search.stdout.contains("Monday"), "{}", search.stdout);

    let server = serve(vec![
        Turn::call("recall", json!({"query": "freeze"}))
            .expect_system_contains("The freeze lasts until Friday."),
        Turn::reply("Until Friday.").expect_tool_result_contains("1 entry matching \"freeze\""),
    ]);
    project
        .run(&server, &["run", "how long is the freeze?"])
        .assert_code(0);
    assert_verified(&server);
    let requests = server.requests();
    assert!(!system_prompt(&requests[0]).contains("Monday"));
    let last = serde_json::to_string(requests[1].messages()).unwrap();
    assert!(!last.contains("Monday"), "the expired entry was recalled");
}

/// Paths change from run to run; snapshots show placeholders.
fn settings(project: &Project) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        &regex_escape(&project.dir().display().to_string()),
        "[PROJECT]",
    );
    settings.add_filter(r"expires in \d+ days", "expires in [N] days");
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

#[test]
fn memory_commands_add_list_search_and_forget() {
    let project = Project::new();
    let memory = |args: &[&str]| {
        let mut command = project.command(None);
        command.arg("memory").args(args);
        Outcome::from(command.output().unwrap())
    };
    let settings = settings(&project);
    let added = memory(&["add", "Deploys", "go", "through", "`make deploy`."]);
    added.assert_code(0);
    let preference = memory(&[
        "add",
        "Use British spelling.",
        "--scope",
        "global",
        "--kind",
        "preference",
        "--ttl",
        "30d",
    ]);
    preference.assert_code(0);
    memory(&["add", "The CI runs on every push."]).assert_code(0);
    let list = memory(&["list"]);
    list.assert_code(0);
    let search = memory(&["search", "deploy"]);
    search.assert_code(0);
    let global_only = memory(&["list", "--scope", "global"]);
    global_only.assert_code(0);
    settings.bind(|| {
        insta::assert_snapshot!(
            "memory_add",
            format!("{}{}", added.stdout, preference.stdout)
        );
        insta::assert_snapshot!("memory_list", list.stdout);
        insta::assert_snapshot!("memory_search", search.stdout);
    });
    assert!(global_only.stdout.contains("Use British spelling."));
    assert!(
        !global_only.stdout.contains("make deploy"),
        "{}",
        global_only.stdout
    );

    let forget = memory(&["forget", "1"]);
    forget.assert_code(0);
    assert_eq!(forget.stdout, "forgot #1\n");
    let again = memory(&["forget", "1"]);
    again.assert_code(2);
    assert_eq!(
        again.stderr,
        "error: no memory entry #1\nhint: `code-mesh memory list` shows the entries of this \
         repository and their ids; add `--all-projects` for the others\n"
    );
    let remaining: Vec<u64> = memory_json(&project, &[]).iter().map(|e| e.id).collect();
    assert_eq!(remaining, [3, 2]);

    let secret = memory(&["add", "the key is sk-proj-7f3a9c0de1b2a1b2c3d4e5f6"]);
    secret.assert_code(2);
    assert!(
        secret.stderr.contains("never store secrets"),
        "{}",
        secret.stderr
    );
    let bad_ttl = memory(&["add", "x", "--ttl", "soon"]);
    bad_ttl.assert_code(2);
    assert!(bad_ttl.stderr.contains("`30d`"), "{}", bad_ttl.stderr);
    let nothing = memory(&["search", "kubernetes"]);
    nothing.assert_code(0);
    assert_eq!(nothing.stdout, "");
    assert!(
        nothing
            .stderr
            .contains("nothing in memory matches \"kubernetes\"")
    );

    // Another repository sees the global preference only, unless asked for all.
    let elsewhere = |args: &[&str]| {
        let mut command = project.command(None);
        command
            .args(["-C", project.outside().to_str().unwrap(), "memory"])
            .args(args);
        Outcome::from(command.output().unwrap())
    };
    let there = elsewhere(&["list"]);
    assert!(there.stdout.contains("Use British spelling.") && !there.stdout.contains("CI runs"));
    let everywhere = elsewhere(&["list", "--all-projects"]);
    assert!(
        everywhere.stdout.contains("CI runs"),
        "{}",
        everywhere.stdout
    );
    assert!(
        everywhere.stdout.contains("PROJECT"),
        "{}",
        everywhere.stdout
    );
}
