//! Stale reads: the editing tools refuse a file that changed since the agent last read or
//! wrote it, and `ExternalChangeWatch` reports such files before a turn.

use std::fs;
use std::time::{Duration, SystemTime};

use code_mesh_core::{TurnHookContext, TurnHooks};
use code_mesh_protocol::{SessionId, TurnId};
use serde_json::json;

use crate::support::Workspace;

/// Changes a file behind the tools' back, with a modification time unmistakably newer.
fn change_outside(workspace: &Workspace, relative: &str, content: &str) {
    let path = workspace.write(relative, content);
    let later = SystemTime::now() + Duration::from_secs(2);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(later)
        .unwrap();
}

#[tokio::test]
async fn every_editing_tool_refuses_a_file_changed_since_it_was_read() {
    let workspace = Workspace::new();
    workspace.write("src/lib.rs", "fn a() {}\n");
    workspace.ok("read", json!({"path": "src/lib.rs"})).await;
    change_outside(&workspace, "src/lib.rs", "fn a() {}\nfn b() {}\n");
    let attempts = [
        (
            "edit",
            json!({"path": "src/lib.rs", "old_string": "fn a() {}", "new_string": "fn c() {}"}),
        ),
        (
            "multiedit",
            json!({"path": "src/lib.rs", "edits": [{"old_string": "fn a() {}", "new_string": "fn c() {}"}]}),
        ),
        (
            "apply_patch",
            json!({"patch": "*** Begin Patch\n*** Update File: src/lib.rs\n@@\n-fn a() {}\n+fn c() {}\n*** End Patch"}),
        ),
        (
            "apply_patch",
            json!({"patch": "*** Begin Patch\n*** Delete File: src/lib.rs\n*** End Patch"}),
        ),
    ];
    for (tool, arguments) in attempts {
        let error = workspace.err(tool, arguments).await;
        assert!(
            error.contains("`src/lib.rs` changed since you last read it (modified "),
            "{tool}: {error}"
        );
        assert!(
            error.contains("by something else); read it again before editing"),
            "{tool}: {error}"
        );
    }
    assert_eq!(workspace.read("src/lib.rs"), "fn a() {}\nfn b() {}\n");
    // Reading again makes it editable.
    workspace.ok("read", json!({"path": "src/lib.rs"})).await;
    workspace
        .ok(
            "edit",
            json!({"path": "src/lib.rs", "old_string": "fn b() {}", "new_string": "fn c() {}"}),
        )
        .await;
    assert_eq!(workspace.read("src/lib.rs"), "fn a() {}\nfn c() {}\n");
}

#[tokio::test]
async fn own_writes_and_edits_keep_the_file_fresh() {
    let workspace = Workspace::new();
    workspace
        .ok("write", json!({"path": "f.txt", "content": "one\n"}))
        .await;
    for (old, new) in [("one", "two"), ("two", "three")] {
        workspace
            .ok(
                "edit",
                json!({"path": "f.txt", "old_string": old, "new_string": new}),
            )
            .await;
    }
    workspace
        .ok(
            "apply_patch",
            json!({"patch": "*** Begin Patch\n*** Update File: f.txt\n@@\n-three\n+four\n*** End Patch"}),
        )
        .await;
    workspace
        .ok(
            "multiedit",
            json!({"path": "f.txt", "edits": [{"old_string": "four", "new_string": "five"}]}),
        )
        .await;
    assert_eq!(workspace.read("f.txt"), "five\n");
}

#[tokio::test]
async fn a_file_never_read_may_be_edited_and_a_touch_is_no_change() {
    let workspace = Workspace::new();
    workspace.write("never.txt", "x\n");
    workspace
        .ok(
            "edit",
            json!({"path": "never.txt", "old_string": "x", "new_string": "y"}),
        )
        .await;
    workspace.write("same.txt", "keep\n");
    workspace.ok("read", json!({"path": "same.txt"})).await;
    // New time, same content: the hash taken by the whole read says nothing changed.
    change_outside(&workspace, "same.txt", "keep\n");
    workspace
        .ok(
            "edit",
            json!({"path": "same.txt", "old_string": "keep", "new_string": "kept"}),
        )
        .await;
    assert_eq!(workspace.read("same.txt"), "kept\n");
}

#[tokio::test]
async fn the_watch_reports_changed_and_deleted_files_before_a_turn() {
    let workspace = Workspace::new();
    workspace.write("a.txt", "a\n");
    workspace.write("b.txt", "b\n");
    workspace.write("c.txt", "c\n");
    for name in ["a.txt", "b.txt", "c.txt"] {
        workspace.ok("read", json!({"path": name})).await;
    }
    let watch = code_mesh_tools::ExternalChangeWatch::new();
    let context = TurnHookContext {
        session_id: SessionId("session".into()),
        turn: TurnId(2),
        workspace: workspace.root.clone(),
        cwd: workspace.root.clone(),
        files: workspace.context.files.clone(),
    };
    assert_eq!(watch.before_turn(&context).await, Vec::<String>::new());
    change_outside(&workspace, "a.txt", "changed\n");
    fs::remove_file(workspace.path("c.txt")).unwrap();
    let notices = watch.before_turn(&context).await;
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(
        notices[0].starts_with("`a.txt` changed since you last read it"),
        "{notices:?}"
    );
    assert!(notices[1].starts_with("`c.txt` was deleted"), "{notices:?}");
    // The next read updates the stamp; nothing more to report.
    workspace.ok("read", json!({"path": "a.txt"})).await;
    assert_eq!(watch.before_turn(&context).await, Vec::<String>::new());
}

#[tokio::test]
async fn after_a_summary_files_read_before_it_must_be_read_again_before_an_edit() {
    let workspace = Workspace::new();
    workspace.write("src/lib.rs", "fn a() {}\n");
    workspace.write("new.rs", "x\n");
    workspace.ok("read", json!({"path": "src/lib.rs"})).await;
    // The context manager summarised the conversation: the read is gone from the context.
    workspace.context.files.mark_all_unread();
    let edit = json!({"path": "src/lib.rs", "old_string": "fn a() {}", "new_string": "fn c() {}"});
    let error = workspace.err("edit", edit.clone()).await;
    assert!(
        error.contains("`src/lib.rs` was read before the conversation was summarised"),
        "{error}"
    );
    assert!(error.contains("read it again before editing it"), "{error}");
    assert_eq!(workspace.read("src/lib.rs"), "fn a() {}\n");
    // A file never seen before the summary is not held back.
    workspace
        .ok(
            "edit",
            json!({"path": "new.rs", "old_string": "x", "new_string": "y"}),
        )
        .await;
    workspace.ok("read", json!({"path": "src/lib.rs"})).await;
    workspace.ok("edit", edit).await;
    assert_eq!(workspace.read("src/lib.rs"), "fn c() {}\n");
}
