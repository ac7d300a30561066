//! The path policy, as every file tool applies it.

use std::fs;
use std::os::unix::fs::symlink;

use serde_json::json;

use crate::support::Workspace;

#[tokio::test]
async fn a_relative_path_outside_the_workspace_is_refused() {
    let workspace = Workspace::new();
    let outside = workspace.outside();
    fs::write(outside.join("secret.txt"), "secret").unwrap();
    let error = workspace
        .err("read", json!({"path": "../outside/secret.txt"}))
        .await;
    assert!(
        error.starts_with(&format!(
            "`../outside/secret.txt` is outside the workspace `{}` (resolved to `{}`)",
            workspace.root.display(),
            outside.join("secret.txt").display()
        )),
        "{error}"
    );
    assert!(error.contains("`tools.allowed_paths`"), "{error}");
    assert!(!error.contains("secret\n"));
}

#[tokio::test]
async fn an_absolute_path_outside_the_workspace_is_refused_for_every_file_tool() {
    let workspace = Workspace::new();
    let outside = workspace.outside();
    let file = outside.join("f.txt");
    fs::write(&file, "x\n").unwrap();
    let file = file.to_str().unwrap();
    let dir = outside.to_str().unwrap();
    for (tool, arguments) in [
        ("read", json!({"path": file})),
        ("write", json!({"path": file, "content": "y"})),
        (
            "edit",
            json!({"path": file, "old_string": "x", "new_string": "y"}),
        ),
        ("glob", json!({"pattern": "*", "path": dir})),
        ("grep", json!({"pattern": "x", "path": dir})),
        ("ls", json!({"path": dir})),
    ] {
        let error = workspace.err(tool, arguments).await;
        assert!(
            error.contains("is outside the workspace"),
            "{tool}: {error}"
        );
    }
    assert_eq!(fs::read_to_string(file).unwrap(), "x\n");
}

#[tokio::test]
async fn a_symlink_pointing_outside_is_refused_and_named() {
    let workspace = Workspace::new();
    let outside = workspace.outside();
    fs::write(outside.join("secret.txt"), "secret").unwrap();
    symlink(&outside, workspace.path("link")).unwrap();
    let error = workspace
        .err("read", json!({"path": "link/secret.txt"}))
        .await;
    assert!(
        error.starts_with(&format!(
            "`link/secret.txt` goes through `link`, a symlink to `{}`",
            outside.display()
        )),
        "{error}"
    );
    assert!(error.contains("outside the workspace"), "{error}");

    symlink(outside.join("secret.txt"), workspace.path("direct")).unwrap();
    let error = workspace.err("read", json!({"path": "direct"})).await;
    assert!(
        error.starts_with(&format!(
            "`direct` is a symlink to `{}`",
            outside.join("secret.txt").display()
        )),
        "{error}"
    );
}

#[tokio::test]
async fn writing_through_a_dangling_symlink_cannot_escape() {
    let workspace = Workspace::new();
    let outside = workspace.outside();
    let target = outside.join("created-by-agent.txt");
    symlink(&target, workspace.path("dangling")).unwrap();
    let error = workspace
        .err("write", json!({"path": "dangling", "content": "pwned"}))
        .await;
    assert!(error.contains("is a symlink to"), "{error}");
    assert!(!target.exists());
}

#[tokio::test]
async fn a_symlink_inside_the_workspace_is_followed() {
    let workspace = Workspace::new();
    workspace.write("real/file.txt", "inside\n");
    symlink(workspace.path("real"), workspace.path("alias")).unwrap();
    let text = workspace
        .ok("read", json!({"path": "alias/file.txt"}))
        .await;
    assert_eq!(text, "     1\tinside\n");
}

#[tokio::test]
async fn allowed_paths_open_an_outside_directory() {
    let mut workspace = Workspace::new();
    let outside = workspace.outside();
    fs::write(outside.join("notes.txt"), "shared notes\n").unwrap();
    workspace.context.allowed_paths = vec![outside.clone()];
    let path = outside.join("notes.txt");
    let text = workspace
        .ok("read", json!({"path": path.to_str().unwrap()}))
        .await;
    assert_eq!(text, "     1\tshared notes\n");
    let written = workspace
        .ok(
            "write",
            json!({"path": outside.join("new.txt").to_str().unwrap(), "content": "ok\n"}),
        )
        .await;
    assert!(written.starts_with("created `"), "{written}");
    assert_eq!(fs::read_to_string(outside.join("new.txt")).unwrap(), "ok\n");
    // A sibling of the allowed directory is still out of reach.
    let sibling = outside.parent().unwrap().join("sibling.txt");
    fs::write(&sibling, "no").unwrap();
    let error = workspace
        .err("read", json!({"path": sibling.to_str().unwrap()}))
        .await;
    assert!(
        error.contains(&format!("(`{}`)", outside.display())),
        "{error}"
    );
}

#[tokio::test]
async fn paths_are_reported_relative_to_the_working_directory() {
    let mut workspace = Workspace::new();
    workspace.write("sub/dir/a.txt", "a\n");
    workspace.write("other.txt", "o\n");
    workspace.context.cwd = workspace.path("sub");
    let text = workspace.ok("glob", json!({"pattern": "**/*.txt"})).await;
    assert_eq!(text, "dir/a.txt\n");
    let text = workspace
        .ok("write", json!({"path": "../other.txt", "content": "p\n"}))
        .await;
    assert!(
        text.starts_with(&format!(
            "overwrote `{}`",
            workspace.path("other.txt").display()
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_file_suggests_close_names() {
    let workspace = Workspace::new();
    workspace.write("src/config.rs", "");
    let error = workspace.err("read", json!({"path": "src/confg.rs"})).await;
    assert!(
        error.starts_with("`src/confg.rs` does not exist; did you mean `src/config.rs`?"),
        "{error}"
    );
}

#[tokio::test]
async fn a_symlink_with_an_innocent_name_does_not_lead_file_tools_to_a_secret() {
    let workspace = Workspace::new();
    fs::write(workspace.path(".env"), "API_TOKEN=hunter2\n").unwrap();
    symlink(workspace.path(".env"), workspace.path("notes.txt")).unwrap();
    for (tool, args) in [
        ("read", json!({"path": "notes.txt"})),
        ("write", json!({"path": "notes.txt", "content": "x"})),
        (
            "edit",
            json!({"path": "notes.txt", "old_string": "hunter2", "new_string": "x"}),
        ),
    ] {
        let error = workspace.err(tool, args).await;
        assert!(
            error.contains("through a symbolic link")
                && error.contains("`.env` files hold secrets"),
            "{tool}: {error}"
        );
    }
    assert_eq!(
        fs::read_to_string(workspace.path(".env")).unwrap(),
        "API_TOKEN=hunter2\n"
    );
}
