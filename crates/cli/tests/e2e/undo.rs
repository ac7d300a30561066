//! `code-mesh undo`: reverts the agent's last turn from the snapshots taken around it, and
//! nothing the user changed afterwards.

use std::path::Path;
use std::process::Command;

use code_mesh_testkit::{ToolCall, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Ada Tester")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Tester")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn undo(project: &Project) -> Outcome {
    Outcome::from(project.command(None).arg("undo").output().unwrap())
}

/// Reads two files, rewrites both, creates a third, then answers.
fn editing_turn() -> Vec<Turn> {
    vec![
        Turn::reply("Reading.")
            .with_tool_call(ToolCall::new("read", json!({"path": "src/a.rs"})))
            .with_tool_call(ToolCall::new("read", json!({"path": "src/b.rs"}))),
        Turn::call(
            "write",
            json!({"path": "src/a.rs", "content": "fn a() -> u8 { 2 }\n"}),
        ),
        Turn::call(
            "write",
            json!({"path": "src/b.rs", "content": "fn b() -> u8 { 2 }\n"}),
        ),
        Turn::call(
            "write",
            json!({"path": "src/generated/new.rs", "content": "fn new() {}\n"}),
        ),
        Turn::reply("Done."),
    ]
}

#[test]
fn undo_reverts_the_agents_turn_and_keeps_the_users_later_edit() {
    let project = Project::new();
    let dir = project.dir();
    project.write("src/a.rs", "fn a() -> u8 { 1 }\n");
    project.write("src/b.rs", "fn b() -> u8 { 1 }\n");
    project.write("notes.txt", "user notes\n");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "--quiet", "-m", "base"]);
    // The user's own stash entry, which must survive untouched.
    project.write("notes.txt", "stashed notes\n");
    git(&dir, &["stash", "--quiet"]);
    let stash = git(&dir, &["stash", "list"]);
    let head = git(&dir, &["rev-parse", "HEAD"]);

    let server = serve(editing_turn());
    project
        .run(&server, &["run", "--yes", "bump a and b"])
        .assert_code(0);
    assert_verified(&server);
    assert_eq!(project.read("src/a.rs"), "fn a() -> u8 { 2 }\n");
    assert_eq!(project.read("src/generated/new.rs"), "fn new() {}\n");

    // The user edits another file after the turn.
    project.write("notes.txt", "the user's later edit\n");

    let outcome = undo(&project);
    outcome.assert_code(0);
    assert_eq!(
        outcome.stdout.lines().skip(1).collect::<Vec<_>>(),
        [
            "  restored  src/a.rs",
            "  restored  src/b.rs",
            "  deleted   src/generated/new.rs"
        ],
        "stderr: {}",
        outcome.stderr
    );
    assert!(
        outcome.stdout.starts_with("Reverted turn 1 of session "),
        "{}",
        outcome.stdout
    );
    assert_eq!(project.read("src/a.rs"), "fn a() -> u8 { 1 }\n");
    assert_eq!(project.read("src/b.rs"), "fn b() -> u8 { 1 }\n");
    assert!(!exists(&dir.join("src/generated")));
    assert_eq!(project.read("notes.txt"), "the user's later edit\n");
    assert_eq!(git(&dir, &["stash", "list"]), stash);
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&dir, &["status", "--porcelain"]), " M notes.txt\n");

    // The session's only turn is undone: a second undo says so and changes nothing.
    let again = undo(&project);
    again.assert_code(2);
    assert!(
        again.stderr.contains("is already undone"),
        "{}",
        again.stderr
    );
    assert_eq!(project.read("notes.txt"), "the user's later edit\n");
}

#[test]
fn outside_a_repository_the_run_says_so_once_and_undo_explains() {
    let project = Project::new();
    std::fs::remove_dir_all(project.dir().join(".git")).unwrap();
    project.write("a.txt", "a\n");
    let server = serve(vec![
        Turn::call("write", json!({"path": "a.txt", "content": "b\n"})),
        Turn::reply("Done."),
    ]);
    let run = project.run(&server, &["run", "--yes", "change a"]);
    run.assert_code(0);
    assert_eq!(
        run.stderr.matches("is not a git repository").count(),
        1,
        "{}",
        run.stderr
    );
    let outcome = undo(&project);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains("is not inside a git repository")
            && outcome.stderr.contains("hint:")
            && outcome.stderr.contains("git init"),
        "{}",
        outcome.stderr
    );
    assert_eq!(project.read("a.txt"), "b\n");
}

#[test]
fn undo_without_a_session_says_there_is_nothing_to_undo() {
    let project = Project::new();
    let outcome = undo(&project);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains("nothing to undo"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn git_tools_commit_under_the_default_sandbox() {
    let project = Project::new();
    let dir = project.dir();
    git(&dir, &["config", "user.name", "Ada Tester"]);
    git(&dir, &["config", "user.email", "ada@example.com"]);
    git(&dir, &["config", "commit.gpgsign", "false"]);
    project.write("src/lib.rs", "pub fn one() {}\n");
    let server = serve(vec![
        Turn::call("git_status", json!({})).expect_tools_include("git_commit"),
        Turn::call("git_commit", json!({"all": true}))
            .expect_tool_result_contains("Untracked (1):\n  src/"),
        Turn::call("git_log", json!({})).expect_tool_result_contains("Add src/lib.rs (+1 -0)"),
        Turn::reply("Committed.").expect_tool_result_contains("Ada Tester: Add src/lib.rs (+1 -0)"),
    ]);
    project
        .run(&server, &["run", "--yes", "commit the work"])
        .assert_code(0);
    assert_verified(&server);
    assert_eq!(
        git(&dir, &["log", "--format=%s"]),
        "Add src/lib.rs (+1 -0)\n"
    );
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
}
