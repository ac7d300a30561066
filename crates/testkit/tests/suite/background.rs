//! Synchronous use: the background server and the binary, driven with plain sockets as
//! end-to-end tests drive the real `code-mesh` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use code_mesh_testkit::{Script, ScriptedServer, Turn};
use serde_json::{Value, json};

use super::support::{assistant_call, chat, tool_result, user};

/// One HTTP/1.1 request over a fresh connection; returns the raw response.
fn http_post(base_url: &str, body: &Value) -> String {
    let authority = base_url
        .trim_start_matches("http://")
        .trim_end_matches("/v1");
    let body = body.to_string();
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn a_background_server_serves_synchronous_clients() {
    let script = Script::new()
        .with_turn(Turn::call("bash", json!({"command": "echo hi"})))
        .with_turn(Turn::reply("done"));
    let server = ScriptedServer::start_in_background(script).unwrap();

    let first = http_post(&server.base_url(), &chat("m", vec![user("go")]));
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert!(first.contains("transfer-encoding: chunked"), "{first}");
    assert!(first.contains("\"id\":\"call_1\""));
    let messages = vec![
        user("go"),
        assistant_call("call_1", "bash"),
        tool_result("call_1", "hi"),
    ];
    let second = http_post(&server.base_url(), &chat("m", messages));
    assert!(second.contains("\"content\":\"done\""), "{second}");

    server.verify().unwrap();
}

#[test]
fn dropping_a_background_server_ends_responses_in_flight() {
    let turn = Turn::reply("too late").with_delay_ms(600_000);
    let server = ScriptedServer::start_in_background(Script::new().with_turn(turn)).unwrap();
    let base_url = server.base_url();
    let client = std::thread::spawn(move || {
        let authority = base_url
            .trim_start_matches("http://")
            .trim_end_matches("/v1");
        let body = chat("m", vec![user("hi")]).to_string();
        let mut stream = TcpStream::connect(authority).unwrap();
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream
            .write_all(format!("{head}{body}").as_bytes())
            .unwrap();
        let mut response = Vec::new();
        // Closed or reset, either way the read ends.
        let _ = stream.read_to_end(&mut response);
        response
    });
    while server.turns_served() == 0 {
        std::thread::yield_now();
    }

    drop(server);

    // Without the runtime being torn down this would wait ten minutes.
    assert_eq!(client.join().unwrap(), b"");
}

fn start_binary(script: &str, extra: &[&str]) -> (std::process::Child, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.toml");
    std::fs::write(&path, script).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_code-mesh-testkit"))
        .args(extra)
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base_url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    (child, base_url)
}

#[test]
fn the_binary_serves_the_hello_script_and_exits_when_done() {
    let hello = include_str!("../../scripts/hello.toml");
    let (child, base_url) = start_binary(hello, &["--exit-when-done"]);

    let first = http_post(&base_url, &chat("gpt-test", vec![user("say hello")]));
    assert!(first.contains("\"name\":\"bash\""), "{first}");
    let messages = vec![
        user("say hello"),
        assistant_call("call_1", "bash"),
        tool_result("call_1", "hello from code-mesh\n"),
    ];
    let second = http_post(&base_url, &chat("gpt-test", messages));
    assert!(second.contains("Hello!"), "{second}");

    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
}

#[test]
fn the_binary_exits_1_and_prints_violations() {
    let (child, base_url) = start_binary("[[turn]]\ntext = \"hi\"\n", &["--exit-when-done"]);

    http_post(
        &base_url,
        &json!({"model": "m", "messages": [], "stream": false}),
    );
    http_post(&base_url, &chat("m", vec![user("hi")]));

    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("violation: request 1: the request does not set `stream: true`"),
        "{stderr}"
    );
}

#[test]
fn the_binary_rejects_a_bad_script_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[turn]]\ntext = \"hi\"\nunknown = 1\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_code-mesh-testkit"))
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("line 3") && stderr.contains("unknown"),
        "{stderr}"
    );
}
