//! The editing tools through the real binary: `apply_patch` and `multiedit` in a scripted
//! task, and a file changed between two `run -c` invocations reported to the user and the
//! model, and refused for editing until read again.

use std::time::{Duration, SystemTime};

use code_mesh_protocol::{Event, EventKind};
use code_mesh_testkit::Turn;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::*;

const LIB: &str = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";

#[test]
fn a_task_patches_and_multiedits_files() {
    let project = Project::new();
    project.write("src/lib.rs", LIB);
    project.write("old_notes.txt", "remove me\n");
    let patch = "*** Begin Patch\n\
                 *** Add File: src/mul.rs\n\
                 +pub fn mul(a: i32, b: i32) -> i32 {\n\
                 +    a * b\n\
                 +}\n\
                 *** Update File: src/lib.rs\n\
                 @@\n\
                 +pub mod mul;\n\
                 *** Delete File: old_notes.txt\n\
                 *** End Patch\n";
    let server = serve(vec![
        Turn::call("apply_patch", json!({"patch": patch}))
            .expect_tools_include("apply_patch")
            .expect_tools_include("multiedit"),
        Turn::call(
            "multiedit",
            json!({
                "path": "src/lib.rs",
                "edits": [
                    {"old_string": "pub fn add(a: i32, b: i32) -> i32 {", "new_string": "pub fn add(a: i64, b: i64) -> i64 {"},
                    {"old_string": "pub mod mul;", "new_string": "pub mod mul;\npub use mul::mul;"},
                ],
            }),
        )
        .expect_tool_result_contains("added `src/mul.rs` (3 lines)")
        .expect_tool_result_contains("deleted `old_notes.txt`"),
        Turn::reply("Done.").expect_tool_result_contains("applied 2 edits"),
    ]);
    let outcome = project.run(&server, &["run", "--yes", "add mul"]);
    outcome.assert_code(0);
    assert_verified(&server);
    assert_eq!(
        project.read("src/lib.rs"),
        "pub fn add(a: i64, b: i64) -> i64 {\n    a + b\n}\npub mod mul;\npub use mul::mul;\n"
    );
    assert_eq!(
        project.read("src/mul.rs"),
        "pub fn mul(a: i32, b: i32) -> i32 {\n    a * b\n}\n"
    );
    assert!(!exists(&project.dir().join("old_notes.txt")));
}

#[test]
fn a_file_changed_between_runs_is_reported_and_must_be_read_again() {
    let project = Project::new();
    project.write("src/lib.rs", LIB);
    let first = serve(vec![
        Turn::call("read", json!({"path": "src/lib.rs"})),
        Turn::reply("It adds two numbers.").expect_tool_result_contains("a + b"),
    ]);
    project
        .run(&first, &["run", "--yes", "what does lib.rs do?"])
        .assert_code(0);
    assert_verified(&first);

    // Someone edits the file between the two runs.
    project.write(
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 {\n    b + a\n}\n",
    );
    let path = project.dir().join("src/lib.rs");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(2))
        .unwrap();

    let second = serve(vec![
        Turn::call(
            "edit",
            json!({"path": "src/lib.rs", "old_string": "    b + a", "new_string": "    a + b"}),
        )
        .expect_last_user_contains("swap them back")
        .expect_last_user_contains("`src/lib.rs` changed since you last read it"),
        Turn::call("read", json!({"path": "src/lib.rs"}))
            .expect_tool_result_contains("changed since you last read it")
            .expect_tool_result_contains("read it again before editing"),
        Turn::call(
            "edit",
            json!({"path": "src/lib.rs", "old_string": "    b + a", "new_string": "    a + b"}),
        )
        .expect_tool_result_contains("b + a"),
        Turn::reply("Swapped back.").expect_tool_result_contains("replaced 1 occurrence"),
    ]);
    let outcome = project.run(&second, &["run", "--yes", "--json", "-c", "swap them back"]);
    outcome.assert_code(0);
    assert_verified(&second);
    let warnings: Vec<String> = outcome
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Event>(line).ok())
        .filter_map(|event| match event.kind {
            EventKind::Warning { message } => Some(message),
            _ => None,
        })
        .filter(|message| message.contains("src/lib.rs"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", outcome.stdout);
    assert!(
        warnings[0].starts_with("`src/lib.rs` changed since you last read it (modified "),
        "{warnings:?}"
    );
    assert_eq!(project.read("src/lib.rs"), LIB);

    // A third run has nothing new to report: the agent read the file again.
    let third = serve(vec![Turn::reply("Nothing changed.")]);
    let outcome = project.run(&third, &["run", "--yes", "--json", "-c", "anything new?"]);
    outcome.assert_code(0);
    assert_verified(&third);
    assert!(
        !outcome.stdout.contains("changed since you last read it"),
        "{}",
        outcome.stdout
    );
}
