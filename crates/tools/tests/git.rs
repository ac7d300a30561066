//! The git tools on real repositories made by the tests.

use std::path::Path;
use std::process::Command;

use code_mesh_core::PermissionTarget;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::support::Workspace;

/// Runs git in `dir` with a fixed identity and dates, and returns its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Ada Tester")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Tester")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_AUTHOR_DATE", "2024-05-01T12:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-05-01T12:00:00Z")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // `git status` would otherwise refresh the index, which the tests compare.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A repository whose local config makes commits work anywhere (identity, no signing).
pub fn init_repo(dir: &Path) {
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    for (key, value) in [
        ("user.name", "Ada Tester"),
        ("user.email", "ada@example.com"),
        ("commit.gpgsign", "false"),
        ("core.hooksPath", ".git/hooks"),
    ] {
        git(dir, &["config", key, value]);
    }
}

/// A workspace that is a git repository with one commit of `src/lib.rs` and `README.md`.
fn repo() -> Workspace {
    let workspace = Workspace::new();
    init_repo(&workspace.root);
    workspace.write("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n");
    workspace.write("README.md", "# Demo\n");
    git(&workspace.root, &["add", "-A"]);
    git(
        &workspace.root,
        &["commit", "--quiet", "-m", "Initial commit"],
    );
    workspace
}

#[tokio::test]
async fn status_summarises_branch_and_changes() {
    let workspace = repo();
    assert_eq!(
        workspace.ok("git_status", json!({})).await,
        "On branch main, no upstream\nWorking tree clean.\n"
    );
    workspace.write("src/lib.rs", "pub fn one() -> u32 {\n    2\n}\n");
    workspace.write("staged.txt", "new\n");
    git(&workspace.root, &["add", "staged.txt"]);
    workspace.write("notes/todo.txt", "later\n");
    std::fs::remove_file(workspace.path("README.md")).unwrap();
    assert_eq!(
        workspace.ok("git_status", json!({})).await,
        "On branch main, no upstream\n\
         Staged (will be committed) (1):\n  added: staged.txt\n\
         Not staged (2):\n  deleted: README.md\n  modified: src/lib.rs\n\
         Untracked (1):\n  notes/\n"
    );
}

#[tokio::test]
async fn outside_a_repository_the_tools_say_so() {
    let workspace = Workspace::new();
    let error = workspace.err("git_status", json!({})).await;
    assert!(
        error.contains("is not inside a git repository") && error.contains("git init"),
        "{error}"
    );
    let error = workspace.err("git_log", json!({})).await;
    assert!(error.contains("is not inside a git repository"), "{error}");
}

#[tokio::test]
async fn diff_shows_unstaged_staged_and_ranges() {
    let workspace = repo();
    assert!(
        workspace
            .ok("git_diff", json!({}))
            .await
            .starts_with("No unstaged changes")
    );
    workspace.write("src/lib.rs", "pub fn one() -> u32 {\n    2\n}\n");
    workspace.write("README.md", "# Demo\n\nMore.\n");
    let diff = workspace
        .ok("git_diff", json!({"path": "src/lib.rs"}))
        .await;
    assert!(diff.contains(" src/lib.rs | 2 +-\n"), "{diff}");
    assert!(diff.contains("-    1\n+    2\n"), "{diff}");
    assert!(!diff.contains("README"), "{diff}");
    assert_eq!(
        workspace.ok("git_diff", json!({"staged": true})).await,
        "Nothing is staged."
    );
    git(&workspace.root, &["add", "README.md"]);
    let staged = workspace.ok("git_diff", json!({"staged": true})).await;
    assert!(staged.contains("+More."), "{staged}");
    assert!(!staged.contains("src/lib.rs"), "{staged}");
    git(&workspace.root, &["commit", "--quiet", "-am", "Second"]);
    let range = workspace
        .ok("git_diff", json!({"range": "HEAD~1..HEAD"}))
        .await;
    assert!(range.contains("2 files changed"), "{range}");
    let error = workspace
        .err("git_diff", json!({"range": "--output=/tmp/owned"}))
        .await;
    assert!(error.contains("may not start with `-`"), "{error}");
    let error = workspace
        .err("git_diff", json!({"path": "../elsewhere"}))
        .await;
    assert!(error.contains("outside the workspace"), "{error}");
}

#[tokio::test]
async fn log_lists_one_line_per_commit_and_filters() {
    let workspace = repo();
    workspace.write("src/lib.rs", "pub fn one() -> u32 {\n    2\n}\n");
    git(
        &workspace.root,
        &["commit", "--quiet", "-am", "Fix the answer"],
    );
    workspace.write("README.md", "# Demo 2\n");
    git(&workspace.root, &["commit", "--quiet", "-am", "Retitle"]);
    let hashes: Vec<String> = git(&workspace.root, &["log", "--format=%h"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        workspace.ok("git_log", json!({})).await,
        format!(
            "{} 2024-05-01 Ada Tester: Retitle\n\
             {} 2024-05-01 Ada Tester: Fix the answer\n\
             {} 2024-05-01 Ada Tester: Initial commit\n",
            hashes[0], hashes[1], hashes[2]
        )
    );
    assert_eq!(
        workspace.ok("git_log", json!({"path": "src/lib.rs"})).await,
        format!(
            "{} 2024-05-01 Ada Tester: Fix the answer\n\
             {} 2024-05-01 Ada Tester: Initial commit\n",
            hashes[1], hashes[2]
        )
    );
    assert_eq!(
        workspace.ok("git_log", json!({"grep": "FIX"})).await,
        format!("{} 2024-05-01 Ada Tester: Fix the answer\n", hashes[1])
    );
    let limited = workspace.ok("git_log", json!({"limit": 1})).await;
    assert!(limited.contains("raise `limit`"), "{limited}");
    let error = workspace.err("git_log", json!({"limit": 0})).await;
    assert!(error.contains("from 1 to 500"), "{error}");
}

#[tokio::test]
async fn show_prints_a_commit_or_a_file_at_a_revision() {
    let workspace = repo();
    workspace.write("src/lib.rs", "pub fn one() -> u32 {\n    2\n}\n");
    git(
        &workspace.root,
        &["commit", "--quiet", "-am", "Fix the answer"],
    );
    let commit = workspace.ok("git_show", json!({"rev": "HEAD"})).await;
    assert!(
        commit.contains("Author:     Ada Tester <ada@example.com>"),
        "{commit}"
    );
    assert!(commit.contains("    Fix the answer"), "{commit}");
    assert!(commit.contains("+    2"), "{commit}");
    assert_eq!(
        workspace
            .ok("git_show", json!({"rev": "HEAD~1", "path": "src/lib.rs"}))
            .await,
        "pub fn one() -> u32 {\n    1\n}\n"
    );
    let error = workspace.err("git_show", json!({"rev": "nope"})).await;
    assert!(error.contains("`git show` failed"), "{error}");
}

#[tokio::test]
async fn blame_names_commit_author_and_line() {
    let workspace = repo();
    workspace.write("src/lib.rs", "pub fn one() -> u32 {\n    2\n}\n");
    git(
        &workspace.root,
        &["commit", "--quiet", "-am", "Fix the answer"],
    );
    let second = git(&workspace.root, &["rev-parse", "--short=8", "HEAD"]);
    let first = git(&workspace.root, &["rev-parse", "--short=8", "HEAD~1"]);
    let blame = workspace
        .ok(
            "git_blame",
            json!({"path": "src/lib.rs", "start_line": 2, "end_line": 3}),
        )
        .await;
    assert_eq!(
        blame,
        format!(
            "{:<11} 2024-05-01 Ada Tester 2|     2\n{:<11} 2024-05-01 Ada Tester 3| }}\n",
            second.trim(),
            first.trim()
        )
    );
    workspace.write("untracked.rs", "x\n");
    let error = workspace
        .err("git_blame", json!({"path": "untracked.rs"}))
        .await;
    assert!(error.contains("not tracked by git"), "{error}");
}

#[tokio::test]
async fn commit_generates_a_message_from_the_staged_changes() {
    let workspace = repo();
    workspace.write(
        "src/lib.rs",
        "pub fn one() -> u32 {\n    1\n}\n\npub fn two() -> u32 {\n    2\n}\n",
    );
    workspace.write("src/extra.rs", "// extra\n");
    workspace.write("scratch.txt", "not for the commit\n");
    let text = workspace.ok("git_commit", json!({"paths": ["src"]})).await;
    assert!(text.contains("generated"), "{text}");
    assert_eq!(
        git(&workspace.root, &["log", "-1", "--format=%B"]),
        "Update src/lib.rs and src/extra.rs (+5 -0)\n\n\
         - src/extra.rs: added (+1 -0)\n\
         - src/lib.rs: modified (+4 -0)\n\n"
    );
    // The file outside `paths` stays uncommitted.
    assert_eq!(
        git(&workspace.root, &["status", "--porcelain"]),
        "?? scratch.txt\n"
    );
    let error = workspace
        .err("git_commit", json!({"message": "nothing"}))
        .await;
    assert!(error.contains("nothing is staged"), "{error}");
    workspace
        .ok(
            "git_commit",
            json!({"all": true, "message": "Add the scratch file"}),
        )
        .await;
    assert_eq!(
        git(&workspace.root, &["log", "-1", "--format=%s"]),
        "Add the scratch file\n"
    );
    assert_eq!(git(&workspace.root, &["status", "--porcelain"]), "");
}

#[tokio::test]
async fn a_failing_commit_hook_stops_the_commit() {
    let workspace = repo();
    let hook = workspace.write(
        ".git/hooks/pre-commit",
        "#!/bin/sh\necho 'lint failed: trailing spaces' >&2\nexit 1\n",
    );
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&hook, executable).unwrap();
    workspace.write("README.md", "# Changed\n");
    let error = workspace
        .err("git_commit", json!({"all": true, "message": "Try"}))
        .await;
    assert!(error.contains("lint failed: trailing spaces"), "{error}");
    assert_eq!(
        git(&workspace.root, &["log", "--format=%s"]),
        "Initial commit\n",
        "no commit was made, and the hook was not skipped"
    );
}

#[tokio::test]
async fn branch_lists_creates_and_refuses_to_switch_with_a_dirty_tree() {
    let workspace = repo();
    let listed = workspace.ok("git_branch", json!({})).await;
    assert!(listed.starts_with("* main "), "{listed}");
    assert!(listed.ends_with(" Initial commit\n"), "{listed}");
    workspace
        .ok("git_branch", json!({"name": "feature", "create": true}))
        .await;
    let listed = workspace.ok("git_branch", json!({})).await;
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("  feature "), "{listed}");
    workspace.write("README.md", "# Dirty\n");
    let error = workspace
        .err("git_branch", json!({"name": "feature", "checkout": true}))
        .await;
    assert!(
        error.contains("uncommitted changes (`README.md`)") && error.contains("allow_dirty"),
        "{error}"
    );
    assert_eq!(
        git(&workspace.root, &["branch", "--show-current"]),
        "main\n"
    );
    workspace
        .ok(
            "git_branch",
            json!({"name": "feature", "checkout": true, "allow_dirty": true}),
        )
        .await;
    assert_eq!(
        git(&workspace.root, &["branch", "--show-current"]),
        "feature\n"
    );
    assert_eq!(
        workspace.read("README.md"),
        "# Dirty\n",
        "changes carried over"
    );
    workspace
        .ok(
            "git_branch",
            json!({"name": "next", "create": true, "checkout": true}),
        )
        .await;
    assert_eq!(
        git(&workspace.root, &["branch", "--show-current"]),
        "next\n"
    );
    let error = workspace
        .err("git_branch", json!({"name": "bad name", "create": true}))
        .await;
    assert!(error.contains("not a valid branch name"), "{error}");
    let error = workspace
        .err(
            "git_branch",
            json!({"name": "missing", "checkout": true, "allow_dirty": true}),
        )
        .await;
    assert!(error.contains("there is no branch `missing`"), "{error}");
}

#[tokio::test]
async fn worktrees_are_added_listed_and_removed_in_allowed_places() {
    let workspace = repo();
    let text = workspace
        .ok(
            "git_worktree",
            json!({"action": "add", "path": "agent-1", "branch": "agent-1"}),
        )
        .await;
    let place = workspace.path(".git/code-mesh-worktrees/agent-1");
    assert!(text.contains(&place.display().to_string()), "{text}");
    assert_eq!(
        std::fs::read_to_string(place.join("README.md")).unwrap(),
        "# Demo\n"
    );
    let sibling = workspace.root.parent().unwrap().join("workspace-feature");
    workspace
        .ok(
            "git_worktree",
            json!({"action": "add", "path": "../workspace-feature"}),
        )
        .await;
    let listed = workspace
        .ok("git_worktree", json!({"action": "list"}))
        .await;
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(lines[0].starts_with(&format!("{} [main] ", workspace.root.display())));
    let has = |prefix: String| lines.iter().any(|line| line.starts_with(&prefix));
    assert!(has(format!("{} [agent-1] ", place.display())), "{listed}");
    assert!(
        has(format!("{} [workspace-feature] ", sibling.display())),
        "{listed}"
    );
    // Nowhere else: not inside the checkout, not far away.
    for path in ["src/nested", "/tmp/elsewhere-worktree", "../../far"] {
        let error = workspace
            .err("git_worktree", json!({"action": "add", "path": path}))
            .await;
        assert!(
            error.contains("is not a place for a worktree"),
            "{path}: {error}"
        );
    }
    std::fs::write(place.join("wip.txt"), "unsaved\n").unwrap();
    let error = workspace
        .err(
            "git_worktree",
            json!({"action": "remove", "path": "agent-1"}),
        )
        .await;
    assert!(error.contains("has uncommitted changes"), "{error}");
    std::fs::remove_file(place.join("wip.txt")).unwrap();
    workspace
        .ok(
            "git_worktree",
            json!({"action": "remove", "path": "agent-1"}),
        )
        .await;
    assert!(!place.exists());
    let listed = workspace
        .ok("git_worktree", json!({"action": "list"}))
        .await;
    assert_eq!(listed.lines().count(), 2, "{listed}");
    // The main checkout is unchanged by all this.
    assert_eq!(git(&workspace.root, &["status", "--porcelain"]), "");
}

#[test]
fn permission_targets_are_git_command_lines_or_paths() {
    let registry = code_mesh_tools::builtin_tools();
    let target = |tool: &str, arguments| registry.get(tool).unwrap().permission_target(&arguments);
    assert_eq!(
        target("git_commit", json!({"all": true})),
        PermissionTarget::Command("git commit --all".into())
    );
    assert_eq!(
        target("git_branch", json!({"name": "x", "checkout": true})),
        PermissionTarget::Command("git switch x".into())
    );
    assert_eq!(
        target("git_worktree", json!({"action": "add", "path": "agent 1"})),
        PermissionTarget::Command("git worktree add 'agent 1'".into())
    );
    assert_eq!(
        target("git_diff", json!({"path": ".env"})),
        PermissionTarget::Paths(vec![".env".into()])
    );
    assert_eq!(
        target("git_status", json!({})),
        PermissionTarget::Command("git status".into())
    );
}
