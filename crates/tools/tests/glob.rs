//! `glob`.

use std::fs::File;
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::support::Workspace;

fn touch(workspace: &Workspace, relative: &str, seconds_ago: u64) {
    let path = workspace.write(relative, "");
    let modified = SystemTime::now() - Duration::from_secs(seconds_ago);
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

#[tokio::test]
async fn matches_are_sorted_newest_first() {
    let workspace = Workspace::new();
    touch(&workspace, "src/old.rs", 300);
    touch(&workspace, "src/new.rs", 10);
    touch(&workspace, "src/deep/middle.rs", 100);
    touch(&workspace, "README.md", 1);
    let text = workspace.ok("glob", json!({"pattern": "**/*.rs"})).await;
    assert_eq!(text, "src/new.rs\nsrc/deep/middle.rs\nsrc/old.rs\n");
    let text = workspace
        .ok("glob", json!({"pattern": "*.rs", "path": "src"}))
        .await;
    assert_eq!(text, "src/new.rs\nsrc/old.rs\n");
}

#[tokio::test]
async fn results_are_capped_with_a_count_of_the_rest() {
    let workspace = Workspace::new();
    for number in 0..250 {
        touch(&workspace, &format!("many/f{number:03}.txt"), 1000 - number);
    }
    let text = workspace.ok("glob", json!({"pattern": "many/*.txt"})).await;
    let paths: Vec<&str> = text.lines().take_while(|line| !line.is_empty()).collect();
    assert_eq!(paths.len(), 200);
    assert_eq!(paths[0], "many/f249.txt");
    assert_eq!(paths[199], "many/f050.txt");
    assert!(
        text.contains("[showing the 200 most recently modified of 250 matching files;"),
        "{text}"
    );
}

#[tokio::test]
async fn gitignored_and_hidden_files_are_skipped_unless_named() {
    let workspace = Workspace::new();
    workspace.write(".gitignore", "target/\n*.log\n");
    workspace.write("target/debug/build.rs", "");
    workspace.write("src/lib.rs", "");
    workspace.write("debug.log", "");
    workspace.write(".github/workflows/ci.yml", "");
    workspace.write(".git/config.rs", "");
    let text = workspace.ok("glob", json!({"pattern": "**/*.rs"})).await;
    assert_eq!(text, "src/lib.rs\n");
    let text = workspace.ok("glob", json!({"pattern": "**/*.yml"})).await;
    assert!(text.starts_with("no files match `**/*.yml`"), "{text}");
    let text = workspace
        .ok("glob", json!({"pattern": ".github/**/*.yml"}))
        .await;
    assert_eq!(text, ".github/workflows/ci.yml\n");
}

#[tokio::test]
async fn a_top_level_pattern_hints_at_deeper_matches() {
    let workspace = Workspace::new();
    workspace.write("src/main.rs", "");
    let text = workspace.ok("glob", json!({"pattern": "*.rs"})).await;
    assert!(
        text.starts_with("no files match `*.rs` in `.`; 1 file in subdirectories match `**/*.rs`"),
        "{text}"
    );
}

#[tokio::test]
async fn invalid_patterns_and_file_roots_are_explained() {
    let workspace = Workspace::new();
    workspace.write("file.txt", "");
    let error = workspace.err("glob", json!({"pattern": "src/[a"})).await;
    assert!(
        error.starts_with("invalid glob pattern `src/[a`"),
        "{error}"
    );
    let error = workspace
        .err("glob", json!({"pattern": "*", "path": "file.txt"}))
        .await;
    assert!(error.contains("is a file, not a directory"), "{error}");
}
