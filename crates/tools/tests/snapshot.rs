//! Turn snapshots and undo on real repositories: the user's index, HEAD and stash stay as
//! they are, and undo reverts only what the turn changed.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use code_mesh_core::{FileTracker, TurnHookContext, TurnHooks};
use code_mesh_protocol::{SessionId, TurnId};
use code_mesh_tools::GitSnapshots;
use code_mesh_tools::snapshot::{Reverted, SnapshotError, undo_last_turn};
use pretty_assertions::assert_eq;

use crate::git::{git, init_repo};
use crate::support::Workspace;

const SESSION: &str = "ses_test01";

fn hook_context(workspace: &Workspace, turn: u32) -> TurnHookContext {
    TurnHookContext {
        session_id: SessionId::from(SESSION),
        turn: TurnId(turn),
        workspace: workspace.root.clone(),
        cwd: workspace.root.clone(),
        files: Arc::new(FileTracker::new()),
    }
}

/// Everything about the repository a snapshot must not change.
fn observable_state(root: &Path) -> (String, String, String, Vec<u8>) {
    (
        git(
            root,
            &[
                "status",
                "--porcelain=v2",
                "--branch",
                "--untracked-files=all",
            ],
        ),
        git(root, &["rev-parse", "HEAD"]),
        git(root, &["stash", "list"]),
        fs::read(root.join(".git/index")).unwrap(),
    )
}

fn repo_with_files() -> Workspace {
    let workspace = Workspace::new();
    init_repo(&workspace.root);
    workspace.write("a.txt", "a1\n");
    workspace.write("b.txt", "b1\n");
    workspace.write("c.txt", "c1\n");
    git(&workspace.root, &["add", "-A"]);
    git(&workspace.root, &["commit", "--quiet", "-m", "base"]);
    // Some state of the user's own: a staged change, an unstaged one, a stash entry.
    workspace.write("c.txt", "c-stashed\n");
    git(&workspace.root, &["stash", "--quiet"]);
    workspace.write("b.txt", "b-staged\n");
    git(&workspace.root, &["add", "b.txt"]);
    workspace.write("c.txt", "c-unstaged\n");
    workspace.write(".gitignore", "ignored/\n");
    workspace.write("ignored/big.bin", "not snapshotted\n");
    workspace
}

#[tokio::test]
async fn snapshots_leave_index_head_status_and_stash_alone() {
    let workspace = repo_with_files();
    let hooks = GitSnapshots::new();
    let before = observable_state(&workspace.root);
    let notes = hooks.before_turn(&hook_context(&workspace, 1)).await;
    assert!(notes.is_empty(), "{notes:?}");
    hooks.after_turn(&hook_context(&workspace, 1)).await;
    assert_eq!(observable_state(&workspace.root), before);
    let refs = git(
        &workspace.root,
        &[
            "for-each-ref",
            "--format=%(refname) %(objecttype)",
            "refs/code-mesh/",
        ],
    );
    assert_eq!(
        refs,
        format!("refs/code-mesh/{SESSION}/1/after tree\nrefs/code-mesh/{SESSION}/1/before tree\n")
    );
    // The tree holds the working tree as it is, untracked files included, ignored ones not.
    let tree = git(
        &workspace.root,
        &[
            "ls-tree",
            "-r",
            "--name-only",
            &format!("refs/code-mesh/{SESSION}/1/before"),
        ],
    );
    assert_eq!(tree, ".gitignore\na.txt\nb.txt\nc.txt\n");
    assert_eq!(
        git(
            &workspace.root,
            &["show", &format!("refs/code-mesh/{SESSION}/1/before:c.txt")]
        ),
        "c-unstaged\n"
    );
}

#[tokio::test]
async fn undo_reverts_the_last_turn_only_and_keeps_later_edits() {
    let workspace = repo_with_files();
    let hooks = GitSnapshots::new();
    // Turn 1: the agent edits a.txt.
    hooks.before_turn(&hook_context(&workspace, 1)).await;
    workspace.write("a.txt", "a-turn1\n");
    hooks.after_turn(&hook_context(&workspace, 1)).await;
    // Turn 2: edits a.txt and b.txt, creates new/dir/file.txt, deletes c.txt.
    hooks.before_turn(&hook_context(&workspace, 2)).await;
    workspace.write("a.txt", "a-turn2\n");
    workspace.write("b.txt", "b-turn2\n");
    workspace.write("new/dir/file.txt", "created\n");
    fs::remove_file(workspace.path("c.txt")).unwrap();
    hooks.after_turn(&hook_context(&workspace, 2)).await;
    // Turn 3 changes nothing.
    hooks.before_turn(&hook_context(&workspace, 3)).await;
    hooks.after_turn(&hook_context(&workspace, 3)).await;
    // The user then edits b.txt again and a file of their own.
    workspace.write("b.txt", "b-user\n");
    workspace.write("mine.txt", "user's file\n");
    let stash = git(&workspace.root, &["stash", "list"]);
    let index = fs::read(workspace.path(".git/index")).unwrap();

    let report = undo_last_turn(&workspace.root, SESSION).unwrap();
    assert_eq!(report.turn, 2);
    assert_eq!(report.empty_turns, [3]);
    assert_eq!(report.kept, ["b.txt"]);
    assert_eq!(
        report.reverted,
        [
            Reverted::Restored("a.txt".into()),
            Reverted::Recreated("c.txt".into()),
            Reverted::Deleted("new/dir/file.txt".into()),
        ]
    );
    assert_eq!(workspace.read("a.txt"), "a-turn1\n");
    assert_eq!(workspace.read("b.txt"), "b-user\n");
    assert_eq!(workspace.read("c.txt"), "c-unstaged\n");
    assert_eq!(workspace.read("mine.txt"), "user's file\n");
    assert!(
        !workspace.path("new").exists(),
        "created directories go too"
    );
    assert_eq!(git(&workspace.root, &["stash", "list"]), stash);
    assert_eq!(fs::read(workspace.path(".git/index")).unwrap(), index);

    // The next undo goes one turn further back, then there is nothing left.
    let report = undo_last_turn(&workspace.root, SESSION).unwrap();
    assert_eq!(report.turn, 1);
    assert_eq!(report.reverted, [Reverted::Restored("a.txt".into())]);
    assert_eq!(workspace.read("a.txt"), "a1\n");
    let error = undo_last_turn(&workspace.root, SESSION).unwrap_err();
    assert!(matches!(error, SnapshotError::NothingLeft(_)), "{error}");
    let error = undo_last_turn(&workspace.root, "ses_other").unwrap_err();
    assert!(matches!(error, SnapshotError::NoSnapshots(_)), "{error}");
}

#[tokio::test]
async fn an_interrupted_turn_is_undone_up_to_now() {
    let workspace = repo_with_files();
    let hooks = GitSnapshots::new();
    hooks.before_turn(&hook_context(&workspace, 1)).await;
    workspace.write("a.txt", "half done\n");
    // No after_turn: the run was killed.
    let report = undo_last_turn(&workspace.root, SESSION).unwrap();
    assert!(report.interrupted);
    assert_eq!(report.reverted, [Reverted::Restored("a.txt".into())]);
    assert_eq!(workspace.read("a.txt"), "a1\n");
}

#[tokio::test]
async fn outside_a_repository_snapshots_are_skipped_with_one_notice() {
    let workspace = Workspace::new();
    workspace.write("a.txt", "a\n");
    let hooks = GitSnapshots::new();
    let notes = hooks.before_turn(&hook_context(&workspace, 1)).await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("is not a git repository"), "{notes:?}");
    assert!(
        notes[0].contains("`code-mesh undo` cannot revert"),
        "{notes:?}"
    );
    hooks.after_turn(&hook_context(&workspace, 1)).await;
    assert!(
        hooks
            .before_turn(&hook_context(&workspace, 2))
            .await
            .is_empty()
    );
    let error = undo_last_turn(&workspace.root, SESSION).unwrap_err();
    assert!(matches!(error, SnapshotError::NotARepository(_)), "{error}");
    assert!(error.hint().unwrap().contains("git init"));
}
