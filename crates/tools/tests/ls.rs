//! `ls`.

use serde_json::json;

use crate::support::Workspace;

#[tokio::test]
async fn a_directory_is_shown_as_a_two_level_tree() {
    let workspace = Workspace::new();
    workspace.write("Cargo.toml", "");
    workspace.write("src/main.rs", "");
    workspace.write("src/lib.rs", "");
    workspace.write("src/nested/deep/file.rs", "");
    workspace.write("docs/guide.md", "");
    workspace.write(".gitignore", "target/\n");
    workspace.write("target/debug/app", "");
    workspace.write(".git/HEAD", "");
    let text = workspace.ok("ls", json!({})).await;
    assert_eq!(
        text,
        "./\n  docs/\n    guide.md\n  src/\n    nested/\n    lib.rs\n    main.rs\n  .gitignore\n  Cargo.toml\n"
    );
    let text = workspace
        .ok("ls", json!({"path": "src", "ignore": ["nested", "*.rs"]}))
        .await;
    assert!(text.starts_with("`src` is empty"), "{text}");
}

#[tokio::test]
async fn big_directories_are_capped_with_a_note() {
    let workspace = Workspace::new();
    for number in 0..120 {
        workspace.write(&format!("dir/f{number:03}"), "");
    }
    let text = workspace.ok("ls", json!({})).await;
    assert!(text.contains("    f049\n    … 70 more\n"), "{text}");
    assert!(text.contains("[70 entries not shown;"), "{text}");
}

#[tokio::test]
async fn a_file_is_not_listed() {
    let workspace = Workspace::new();
    workspace.write("a.txt", "");
    let error = workspace.err("ls", json!({"path": "a.txt"})).await;
    assert!(error.contains("is a file, not a directory"), "{error}");
}
