use std::io::Write;

use code_mesh_testkit::{ToolCall, Turn};
use serde_json::json;

use crate::harness::*;

#[test]
fn bad_tool_calls_come_back_to_the_model_as_errors_and_the_loop_goes_on() {
    let project = Project::new();
    std::fs::write(project.outside().join("secret.txt"), "outside secret\n").unwrap();
    std::os::unix::fs::symlink(
        project.outside().join("secret.txt"),
        project.dir().join("link-out"),
    )
    .unwrap();
    std::fs::write(
        project.dir().join("image.png"),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    )
    .unwrap();
    std::fs::write(project.dir().join("latin1.txt"), b"caf\xe9 cr\xe8me\n").unwrap();
    let mut huge = std::fs::File::create(project.dir().join("huge.log")).unwrap();
    // Real text at the start (a log, say), then a sparse 2 GB tail.
    huge.write_all(b"huge line one\nhuge line two\n").unwrap();
    for n in 3..50_000 {
        writeln!(huge, "huge line {n}").unwrap();
    }
    huge.set_len(2 * 1024 * 1024 * 1024).unwrap();
    drop(huge);

    let server = serve(vec![
        Turn::new()
            .with_tool_call(ToolCall::raw("read", r#"{"path": "src/"#))
            .with_tool_call(ToolCall::new("teleport", json!({"to": "mars"})))
            .with_tool_call(ToolCall::new(
                "read",
                json!({"path": "../outside/secret.txt"}),
            ))
            .with_tool_call(ToolCall::new("read", json!({"path": "link-out"})))
            .with_tool_call(ToolCall::new("read", json!({"path": "image.png"})))
            .with_tool_call(ToolCall::new(
                "read",
                json!({"path": "huge.log", "limit": 2}),
            ))
            .with_tool_call(ToolCall::new("read", json!({"path": "latin1.txt"})))
            .with_tool_call(ToolCall::new("read", json!({"path": 42}))),
        Turn::reply("I handled every error.")
            .expect_tool_result_contains("not valid JSON")
            .expect_tool_result_contains("unknown tool `teleport`")
            .expect_tool_result_contains("outside the workspace")
            .expect_tool_result_contains("symlink")
            .expect_tool_result_contains("binary")
            .expect_tool_result_contains("huge line two")
            .expect_tool_result_contains("UTF-8")
            .expect_tool_result_contains("caf")
            .expect_tool_result_contains("path"),
    ]);
    let outcome = project.run(&server, &["run", "read everything"]);
    outcome.assert_code(0);
    let results = server.requests()[1].messages().to_vec();
    let outputs: Vec<String> = results
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outputs.len(), 8, "every call was answered");
    if let Err(err) = server.verify() {
        panic!("{err}\n{outputs:#?}");
    }
    assert!(
        !outputs.iter().any(|o| o.contains("outside secret")),
        "{outputs:#?}"
    );
    assert!(
        outputs[5].len() < 10_000,
        "the 2 GB file is read bounded: {}",
        outputs[5].len()
    );
}

#[test]
fn a_config_typo_names_file_line_and_key() {
    let project = Project::new();
    project.write("code-mesh.toml", "[agents]\nmax_cuont = 3\n");
    let server = serve(vec![]);
    let outcome = project.run(&server, &["run", "hello"]);
    outcome.assert_code(2);
    let first = outcome.stderr.lines().next().unwrap();
    assert!(first.starts_with("error: "), "{}", outcome.stderr);
    assert!(first.contains("code-mesh.toml:2"), "{first}");
    assert!(first.contains("agents.max_cuont"), "{first}");
    assert!(outcome.stderr.contains("max_count"), "{}", outcome.stderr);
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn a_bad_config_value_from_the_environment_names_the_variable() {
    let project = Project::new();
    let server = serve(vec![]);
    let outcome = project
        .command(Some(&server.base_url()))
        .env("CODE_MESH_AGENTS__MAX_TURNS", "lots")
        .args(["run", "hello"])
        .output()
        .unwrap();
    let outcome = Outcome::from(outcome);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains("CODE_MESH_AGENTS__MAX_TURNS"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_provider_answering_500_is_a_clear_error() {
    let project = Project::new();
    let server = serve(vec![Turn::error(500)]);
    let outcome = project.run(&server, &["run", "hello"]);
    outcome.assert_code(3);
    assert!(outcome.stderr.contains("500"), "{}", outcome.stderr);
    assert_eq!(
        outcome
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );
}

#[test]
fn a_provider_answering_html_is_a_clear_error() {
    let project = Project::new();
    let server = serve(vec![
        Turn::new()
            .with_body("<!DOCTYPE html><html><body>Welcome to nginx!</body></html>")
            .with_content_type("text/html"),
    ]);
    let outcome = project.run(&server, &["run", "hello"]);
    outcome.assert_code(3);
    assert!(outcome.stderr.contains("HTML"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("hint:"), "{}", outcome.stderr);
}

#[test]
fn a_rejected_key_names_the_variable_to_fix() {
    let project = Project::new();
    let server = serve(vec![Turn::error(401).with_body(
        r#"{"error":{"message":"Incorrect API key provided: sk-test.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
    )]);
    let outcome = project.run(&server, &["run", "hello"]);
    outcome.assert_code(3);
    assert!(
        outcome.stderr.contains("Incorrect API key"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("OPENAI_API_KEY"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_unreachable_provider_is_a_clear_error() {
    let project = Project::new();
    let outcome = Outcome::from(
        project
            .command(Some("http://127.0.0.1:9/v1"))
            .args(["run", "hello"])
            .output()
            .unwrap(),
    );
    outcome.assert_code(3);
    assert!(
        outcome.stderr.contains("cannot reach"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("127.0.0.1:9"), "{}", outcome.stderr);
}

#[test]
fn no_provider_configured_says_what_to_set() {
    let project = Project::new();
    let outcome = Outcome::from(
        project
            .command(None)
            .args(["run", "hello"])
            .output()
            .unwrap(),
    );
    outcome.assert_code(2);
    for needle in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "OLLAMA_HOST",
        "base_url",
    ] {
        assert!(
            outcome.stderr.contains(needle),
            "missing {needle}: {}",
            outcome.stderr
        );
    }
}

#[test]
fn a_stream_cut_before_the_end_is_an_error_not_an_answer() {
    let project = Project::new();
    let server = serve(vec![
        Turn::reply("This answer will be cut off before it ends").with_cut_after(3),
    ]);
    let outcome = project.run(&server, &["run", "--json", "hello"]);
    outcome.assert_code(3);
    let last = outcome.stdout.lines().last().unwrap();
    assert!(last.contains("\"reason\":\"failed\""), "{last}");
    assert!(
        outcome.stdout.contains("\"code\":\"provider_stream_cut\""),
        "{}",
        outcome.stdout
    );
}

#[test]
fn unsupported_options_are_refused_not_ignored() {
    let project = Project::new();
    let server = serve(vec![]);
    let outcome = project.run(
        &server,
        &["run", "--strategy", "swarm", "--agents", "1", "hello"],
    );
    outcome.assert_code(2);
    assert!(
        outcome
            .stderr
            .contains("a swarm needs at least 2 candidates, not 1"),
        "{}",
        outcome.stderr
    );
    let outcome = project.run(&server, &["run", "--session", "ses_nope", "hello"]);
    outcome.assert_code(2);
    assert!(outcome.stderr.contains("ses_nope"), "{}", outcome.stderr);
    let outcome = project.run(&server, &["run", "-c", "hello"]);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains("run without -c"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn the_terminal_ui_without_a_terminal_and_its_options_before_a_subcommand_are_refused() {
    let project = Project::new();
    let server = serve(vec![]);
    let outcome = project.run(&server, &["fix the bug"]);
    outcome.assert_code(2);
    assert!(
        outcome
            .stderr
            .contains("the terminal UI needs a terminal on standard input and output"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("code-mesh run"),
        "{}",
        outcome.stderr
    );
    let outcome = project.run(&server, &["-m", "openai/x", "sessions", "list"]);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains("belong to the terminal UI"),
        "{}",
        outcome.stderr
    );
    // Global options still reach subcommands.
    let outcome = project.run(
        &server,
        &["-C", project.dir().to_str().unwrap(), "sessions", "list"],
    );
    outcome.assert_code(0);
    assert_eq!(server.requests().len(), 0);
}
