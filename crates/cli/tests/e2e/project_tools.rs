//! The project tools and the shell's streaming through the real binary: the scripted model
//! calls `run_tests` in a cargo project with a failing test and reads the parsed summary;
//! `bash` output arrives as `tool_output_delta` events while the command runs, without the
//! API keys of the environment.

use code_mesh_protocol::{Event, EventKind};
use code_mesh_testkit::Turn;
use serde_json::json;

use crate::harness::*;

const LIB: &str = "\
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

/// The toolchain's own homes: the harness gives the binary a fresh `HOME`, and rustup's
/// `cargo` finds its toolchains through these.
fn with_toolchain(command: &mut std::process::Command) {
    let home = std::env::var("HOME").unwrap_or_default();
    for (name, default) in [
        ("RUSTUP_HOME", format!("{home}/.rustup")),
        ("CARGO_HOME", format!("{home}/.cargo")),
    ] {
        command.env(name, std::env::var(name).unwrap_or(default));
    }
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        command.env("RUSTUP_TOOLCHAIN", toolchain);
    }
}

fn events(stdout: &str) -> Vec<Event> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[test]
fn run_tests_gives_the_model_a_parsed_summary_of_a_failing_cargo_test() {
    let project = Project::new();
    project.write(
        "Cargo.toml",
        "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    project.write("src/lib.rs", LIB);
    let server = serve(vec![
        Turn::call("run_tests", json!({})).expect_tools_include("run_tests"),
        Turn::reply("`tests::fails` fails: add(1, 1) is 2.")
            .expect_tool_result_contains("tests: FAILED (exit code 101)")
            .expect_tool_result_contains("tests: 1 passed, 1 failed, 0 ignored")
            .expect_tool_result_contains(
                "1. tests::fails at src/lib.rs:16:9\n   assertion `left == right` failed: one and one",
            ),
    ]);
    let mut command = project.command(Some(&server.base_url()));
    with_toolchain(&mut command);
    let output = command
        .args([
            "run",
            "--yes",
            "--sandbox",
            "off",
            "--json",
            "why do the tests fail?",
        ])
        .output()
        .unwrap();
    let outcome = Outcome::from(output);
    outcome.assert_code(0);
    assert_verified(&server);
    let events = events(&outcome.stdout);
    // The test run's output reached the front end while it ran.
    let streamed: String = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ToolOutputDelta { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        streamed.contains("test tests::fails ... FAILED"),
        "{streamed}"
    );
}

#[test]
fn shell_output_streams_as_it_arrives_without_secrets() {
    use std::io::BufRead;

    let project = Project::new();
    // The command cannot finish before the test has seen its first line as an event and
    // created `go`: streaming is proven by order, not by timing.
    let server = serve(vec![
        Turn::call(
            "bash",
            json!({"command": "echo first; while [ ! -e go ]; do sleep 0.05; done; echo second; env | sort"}),
        ),
        Turn::reply("done")
            .expect_tool_result_contains("first\nsecond\n")
            .expect_tool_result_contains("CODE_MESH_HOME="),
    ]);
    let mut command = project.command(Some(&server.base_url()));
    command
        .env("GITHUB_TOKEN", "ghp-e2e-secret")
        .env("MY_SERVICE_PASSWORD", "hunter2-e2e")
        .args(["run", "--yes", "--sandbox", "off", "--json", "run it"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut events = Vec::new();
    for line in stdout.lines() {
        let event: Event = serde_json::from_str(&line.unwrap()).unwrap();
        if let EventKind::ToolOutputDelta { delta, .. } = &event.kind
            && delta.contains("first")
        {
            assert!(!delta.contains("second"), "{delta}");
            std::fs::write(project.dir().join("go"), "").unwrap();
        }
        events.push(event);
    }
    assert!(child.wait().unwrap().success());
    assert_verified(&server);
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ToolOutputDelta { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert!(deltas.len() >= 2, "{deltas:?}");
    let result = events
        .iter()
        .find_map(|event| match &event.kind {
            EventKind::ToolCallFinished { output, .. } => Some(output.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(deltas.concat() + "exit code: 0", result);
    for secret in [
        "OPENAI_API_KEY",
        "sk-test",
        "GITHUB_TOKEN",
        "ghp-e2e-secret",
        "MY_SERVICE_PASSWORD",
        "hunter2",
    ] {
        assert!(
            !result.contains(secret),
            "`{secret}` reached the command:\n{result}"
        );
    }
    assert!(result.contains("\nPATH="), "{result}");
}
