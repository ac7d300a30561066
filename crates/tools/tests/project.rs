//! `run_tests`, `build` and `lint` on real projects of each ecosystem this machine has, made by
//! the tests: the parsed summary must carry the right counts and the failing test's file and
//! line.

use std::process::Command;

use serde_json::json;

use crate::support::Workspace;

const CARGO_TOML: &str =
    "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";

const CARGO_LIB: &str = "\
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(1, 2), 3);
    }

    #[test]
    fn fails() {
        assert_eq!(add(1, 1), 3, \"one and one\");
    }
}
";

fn cargo_project() -> Workspace {
    let workspace = Workspace::new();
    workspace.write("Cargo.toml", CARGO_TOML);
    workspace.write("src/lib.rs", CARGO_LIB);
    workspace
}

fn has(program: &str, argument: &str) -> bool {
    Command::new(program)
        .arg(argument)
        .output()
        .is_ok_and(|output| output.status.success())
}

#[tokio::test]
async fn cargo_test_failures_come_back_with_counts_file_and_line() {
    let workspace = cargo_project();
    let text = workspace.ok("run_tests", json!({})).await;
    assert!(
        text.starts_with("$ cargo test --no-fail-fast --color never   (in ., cargo)\ntests: FAILED (exit code 101)\ntests: 1 passed, 1 failed, 0 ignored\n"),
        "{text}"
    );
    assert!(
        text.contains("failures (first 1 of 1):\n1. tests::fails at src/lib.rs:16:9\n   assertion `left == right` failed: one and one\n"),
        "{text}"
    );
    assert!(text.contains("--- output"), "{text}");
    assert!(text.contains("test result: FAILED."), "{text}");
}

#[tokio::test]
async fn a_filter_runs_only_the_matching_tests() {
    let workspace = cargo_project();
    let text = workspace.ok("run_tests", json!({"filter": "adds"})).await;
    assert!(text.contains("tests: succeeded (exit code 0)"), "{text}");
    // The library's tests and its (empty) doc tests.
    assert!(
        text.contains("tests: 1 passed, 0 failed, 0 ignored"),
        "{text}"
    );
}

#[tokio::test]
async fn cargo_build_errors_point_at_the_line() {
    let workspace = cargo_project();
    workspace.write("src/main.rs", "fn main() {\n    let x: i32 = \"a\";\n}\n");
    let text = workspace.ok("build", json!({})).await;
    assert!(text.contains("build: FAILED (exit code 101)"), "{text}");
    assert!(text.contains("diagnostics: 1 errors, 0 warnings"), "{text}");
    assert!(
        text.contains("1. src/main.rs:2:18\n   error[E0308]: mismatched types\n"),
        "{text}"
    );
}

#[tokio::test]
async fn the_project_is_found_from_a_path_inside_it() {
    let workspace = Workspace::new();
    workspace.write("crates/calc/Cargo.toml", CARGO_TOML);
    workspace.write("crates/calc/src/lib.rs", CARGO_LIB);
    let text = workspace
        .ok("run_tests", json!({"path": "crates/calc/src"}))
        .await;
    assert!(text.contains("(in crates/calc, cargo)"), "{text}");
    assert!(
        text.contains("tests::fails at crates/calc/src/lib.rs:16:9"),
        "{text}"
    );
}

#[tokio::test]
async fn no_project_is_a_clear_error() {
    let workspace = Workspace::new();
    workspace.write("notes.txt", "hello\n");
    let error = workspace.err("run_tests", json!({})).await;
    assert!(error.starts_with("no project found in"), "{error}");
    let error = workspace
        .err("run_tests", json!({"path": "../elsewhere"}))
        .await;
    assert!(error.contains("outside the workspace"), "{error}");
}

#[tokio::test]
async fn pytest_failures_come_back_with_counts_file_and_line() {
    if !has("python3", "--version") {
        eprintln!("skipped: python3 is not installed on this machine");
        return;
    }
    let pytest = Command::new("python3")
        .args(["-c", "import pytest"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        pytest,
        "pytest is missing: .ci/run installs it with `python3 -m pip install pytest`"
    );
    let workspace = Workspace::new();
    workspace.write("requirements-dev.txt", "pytest\n");
    workspace.write(
        "tests/test_calc.py",
        "import pytest\n\n\ndef add(a, b):\n    return a + b\n\n\ndef test_adds():\n    assert add(1, 2) == 3\n\n\ndef test_fails():\n    assert add(1, 1) == 3\n\n\n@pytest.mark.skip(reason=\"later\")\ndef test_skipped():\n    pass\n",
    );
    let text = workspace.ok("run_tests", json!({})).await;
    assert!(
        text.starts_with("$ python3 -m pytest -q --color=no   (in ., pytest (pip))\ntests: FAILED (exit code 1)\ntests: 1 passed, 1 failed, 1 ignored\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "1. tests/test_calc.py::test_fails at tests/test_calc.py:13\n   assert 2 == 3\n"
        ),
        "{text}"
    );
    let text = workspace
        .ok("run_tests", json!({"filter": "adds", "path": "tests"}))
        .await;
    assert!(text.contains("-k adds tests"), "{text}");
    assert!(
        text.contains("tests: 1 passed, 0 failed, 0 ignored"),
        "{text}"
    );
}

const NODE_TEST: &str = "\
const test = require('node:test');
const assert = require('node:assert');

test('adds', () => {
  assert.strictEqual(1 + 2, 3);
});

test('fails', () => {
  assert.strictEqual(1 + 1, 3);
});

test('skipped', { skip: true }, () => {});
";

#[tokio::test]
async fn node_test_failures_come_back_with_counts_file_and_line() {
    if !has("node", "--version") {
        eprintln!("skipped: node is not installed on this machine");
        return;
    }
    let workspace = Workspace::new();
    workspace.write(
        "package.json",
        "{\"name\": \"calc\", \"version\": \"1.0.0\", \"scripts\": {\"test\": \"node --test\"}}\n",
    );
    workspace.write("test/calc.test.js", NODE_TEST);
    let text = workspace.ok("run_tests", json!({})).await;
    assert!(
        text.starts_with("$ CI=true npm run test   (in ., npm)\ntests: FAILED (exit code 1)\ntests: 1 passed, 1 failed, 1 ignored\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "1. fails at test/calc.test.js:9:10\n   Expected values to be strictly equal:\n"
        ),
        "{text}"
    );
    // Without a test script, node's own runner, with the name filter.
    workspace.write("package.json", "{\"name\": \"calc\"}\n");
    let text = workspace.ok("run_tests", json!({"filter": "adds"})).await;
    assert!(
        text.starts_with("$ CI=true node --test --test-name-pattern=adds   (in ., node)"),
        "{text}"
    );
    assert!(text.contains("tests: 1 passed, 0 failed"), "{text}");
}

#[tokio::test]
async fn a_configured_linter_is_run_as_written() {
    let workspace = Workspace::new();
    workspace.write("Makefile", "lint:\n\ttrue\n");
    workspace.write(
        "lint.sh",
        "echo 'src/app.js:3:7: error: x is never used'\nexit 1\n",
    );
    let settings = code_mesh_tools::ProjectSettings {
        linter: "sh lint.sh".into(),
        ..Default::default()
    };
    let tool = code_mesh_tools::ProjectTool::lint(std::sync::Arc::new(settings), None);
    let text = code_mesh_core::Tool::call(&tool, json!({}), &workspace.context)
        .await
        .unwrap()
        .text;
    assert!(
        text.starts_with("$ sh lint.sh   (in ., config)\nlinter: FAILED (exit code 1)\n"),
        "{text}"
    );
    assert!(
        text.contains("1. src/app.js:3:7\n   error: x is never used\n"),
        "{text}"
    );
    // Detected when not configured: the Makefile's `lint` target.
    let text = workspace.ok("lint", json!({})).await;
    assert!(
        text.starts_with("$ make lint   (in ., make)\nlinter: succeeded"),
        "{text}"
    );
}
