//! `write`.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::support::Workspace;

#[tokio::test]
async fn a_new_file_is_created_with_its_directories() {
    let workspace = Workspace::new();
    let text = workspace
        .ok(
            "write",
            json!({"path": "src/deep/er/main.rs", "content": "fn main() {}\n// end\n"}),
        )
        .await;
    assert_eq!(text, "created `src/deep/er/main.rs` (20 bytes, 2 lines)");
    assert_eq!(
        workspace.read("src/deep/er/main.rs"),
        "fn main() {}\n// end\n"
    );
    let mode = fs::metadata(workspace.path("src/deep/er/main.rs"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o700, 0o600, "{mode:o}");
}

#[tokio::test]
async fn overwriting_is_atomic_and_keeps_permissions() {
    let workspace = Workspace::new();
    let path = workspace.write("run.sh", "echo old\n");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o750)).unwrap();
    let inode_before = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap());
    let text = workspace
        .ok("write", json!({"path": "run.sh", "content": "echo new\n"}))
        .await;
    assert_eq!(
        text,
        "overwrote `run.sh` (9 bytes, 1 line; it had 9 bytes before)"
    );
    assert_eq!(workspace.read("run.sh"), "echo new\n");
    let metadata = fs::metadata(&path).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o750);
    // Replaced by a rename, not rewritten in place.
    assert_ne!(std::os::unix::fs::MetadataExt::ino(&metadata), inode_before);
    let leftovers: Vec<_> = fs::read_dir(&workspace.root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["run.sh"]);
}

#[tokio::test]
async fn writing_a_directory_or_a_read_only_file_is_refused() {
    let workspace = Workspace::new();
    fs::create_dir(workspace.path("dir")).unwrap();
    let error = workspace
        .err("write", json!({"path": "dir", "content": "x"}))
        .await;
    assert!(error.contains("`dir` is a directory"), "{error}");
    let path = workspace.write("locked.txt", "keep");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    let error = workspace
        .err("write", json!({"path": "locked.txt", "content": "x"}))
        .await;
    assert!(error.contains("`locked.txt` is read-only"), "{error}");
    assert_eq!(workspace.read("locked.txt"), "keep");
}

#[tokio::test]
async fn missing_content_is_named() {
    let workspace = Workspace::new();
    let error = workspace.err("write", json!({"path": "a.txt"})).await;
    assert!(error.contains("missing field `content`"), "{error}");
}
