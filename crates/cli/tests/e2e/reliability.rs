//! Failover, retries, the response cache, costs and `code-mesh models`, through the binary;
//! and no API key on disk.

use std::path::Path;

use code_mesh_testkit::Turn;
use pretty_assertions::assert_eq;
use serde_json::Value;

use crate::harness::*;

/// The JSON events `run --json` printed.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn the_fallback_answers_when_the_default_provider_is_down_and_the_session_says_so() {
    let project = Project::new();
    let server = serve(vec![
        Turn::reply("Answered by the backup.").for_model("backup-model"),
    ]);
    project.write(
        "code-mesh.toml",
        &format!(
            "[providers]\nmodel = \"openai/gpt-5-mini\"\nfallback = [\"backup/backup-model\"]\nmax_retries = 1\n\n\
             [providers.backup]\nbase_url = \"{}\"\n",
            server.base_url()
        ),
    );
    let run = project
        .command(None)
        // Nothing listens on port 9 (discard): the connection is refused.
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .env("OPENAI_API_KEY", "sk-test")
        .args(["run", "--json", "say hello"])
        .output()
        .unwrap();
    let run = Outcome::from(run);
    run.assert_code(0);
    let events = events(&run.stdout);
    let retries = of_type(&events, "provider_retry");
    assert_eq!(retries.len(), 1, "{}", run.stdout);
    assert_eq!(retries[0]["provider"], "openai");
    let failovers = of_type(&events, "provider_failover");
    assert_eq!(failovers.len(), 1, "{}", run.stdout);
    assert_eq!(failovers[0]["from"], "openai/gpt-5-mini");
    assert_eq!(failovers[0]["to"], "backup/backup-model");
    assert!(
        failovers[0]["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{}",
        failovers[0]
    );
    assert_verified(&server);

    let session = events[0]["session_id"].as_str().unwrap().to_owned();
    let show = Outcome::from(
        project
            .command(None)
            .args(["sessions", "show", &session, "--json"])
            .output()
            .unwrap(),
    );
    show.assert_code(0);
    let shown: Value = serde_json::from_str(&show.stdout).unwrap();
    let answers: Vec<&Value> = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect();
    assert_eq!(answers.len(), 1, "{}", show.stdout);
    assert_eq!(answers[0]["model"], "backup/backup-model");
}

#[test]
fn a_server_error_is_retried_and_shown_on_stderr() {
    let project = Project::new();
    let server = serve(vec![Turn::error(503), Turn::reply("Back again.")]);
    let run = project.run(&server, &["run", "hello"]);
    run.assert_code(0);
    assert_eq!(run.stdout, "Back again.\n");
    assert!(
        run.stderr
            .contains("`openai` failed with a server error (HTTP 503)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(retry 1)"), "{}", run.stderr);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn an_identical_request_at_temperature_zero_is_answered_from_the_cache() {
    let project = Project::new();
    project.write(
        "code-mesh.toml",
        "[providers]\ncache = true\ntemperature = 0\n",
    );
    let server = serve(vec![Turn::reply("Cached.").with_usage(1000, 10)]);
    let first = project.run(&server, &["run", "--json", "what is two plus two?"]);
    first.assert_code(0);
    assert_eq!(
        of_type(&events(&first.stdout), "response_cache_hit").len(),
        0
    );

    let second = project.run(&server, &["run", "--json", "what is two plus two?"]);
    second.assert_code(0);
    let events = events(&second.stdout);
    let hits = of_type(&events, "response_cache_hit");
    assert_eq!(hits.len(), 1, "{}", second.stdout);
    assert_eq!(hits[0]["model"], "openai/gpt-5-mini");
    let text: String = of_type(&events, "text_delta")
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Cached.");
    assert_eq!(server.requests().len(), 1, "no second request");
}

#[test]
fn the_end_line_shows_the_cost_from_the_catalogue_and_config() {
    let project = Project::new();
    let server = serve(vec![Turn::reply("Hi.").with_usage(1_000_000, 100_000)]);
    let run = project.run(&server, &["run", "hello"]);
    run.assert_code(0);
    // gpt-5-mini: $0.25 in and $2 out per million tokens.
    assert!(
        run.stderr
            .contains("tokens: 1000000 in, 100000 out, $0.4500"),
        "{}",
        run.stderr
    );

    project.write(
        "code-mesh.toml",
        "[providers.openai.model_info.gpt-5-mini]\ninput_price = 1.0\noutput_price = 10.0\n",
    );
    let server = serve(vec![Turn::reply("Hi.").with_usage(1_000_000, 100_000)]);
    let run = project.run(&server, &["run", "hello"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("out, $2.0000"),
        "config prices win: {}",
        run.stderr
    );
}

#[test]
fn models_lists_the_usable_models_with_limits_and_prices() {
    let project = Project::new();
    project.write(
        "code-mesh.toml",
        "[providers]\nfallback = [\"lab/small\"]\n\n[providers.lab]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodels = [\"small\"]\n\n\
         [providers.lab.model_info.small]\ncontext = \"32k\"\ninput_price = 0.5\noutput_price = 1.5\n",
    );
    let listed = Outcome::from(
        project
            .command(None)
            .env("OPENAI_API_KEY", "sk-test")
            .args(["models", "--json"])
            .output()
            .unwrap(),
    );
    listed.assert_code(0);
    let rows: Vec<Value> = serde_json::from_str(&listed.stdout).unwrap();
    let row = |name: &str| rows.iter().find(|r| r["model"] == name).cloned();
    let mini = row("openai/gpt-5-mini").unwrap();
    assert_eq!(mini["context"], 272_000);
    assert_eq!(mini["max_output"], 128_000);
    assert_eq!(mini["input_price"], 0.25);
    assert_eq!(mini["role"], "default");
    let lab = row("lab/small").unwrap();
    assert_eq!(
        (&lab["context"], &lab["output_price"], &lab["role"]),
        (
            &Value::from(32_000),
            &Value::from(1.5),
            &Value::from("fallback")
        )
    );
    assert_eq!(
        row("anthropic/claude-sonnet-4-5"),
        None,
        "no key, not listed"
    );

    let all = Outcome::from(
        project
            .command(None)
            .args(["models", "--all", "--json"])
            .output()
            .unwrap(),
    );
    all.assert_code(0);
    let rows: Vec<Value> = serde_json::from_str(&all.stdout).unwrap();
    assert!(rows.len() > 300, "{}", rows.len());
    let sonnet = rows
        .iter()
        .find(|r| r["model"] == "anthropic/claude-sonnet-4-5")
        .unwrap();
    assert_eq!(sonnet["cache_write_price"], 3.75);

    let table = Outcome::from(
        project
            .command(None)
            .env("OPENAI_API_KEY", "sk-test")
            .arg("models")
            .output()
            .unwrap(),
    );
    table.assert_code(0);
    let line = table
        .stdout
        .lines()
        .find(|l| l.starts_with("openai/gpt-5-mini "))
        .unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "openai/gpt-5-mini",
            "(default)",
            "272k",
            "128k",
            "0.25",
            "2",
            "0.025",
            "-",
            "tools",
            "images",
            "reasoning"
        ]
    );
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn no_api_key_reaches_disk() {
    const KEY: &str = "sk-canary-5b1f0e7d9c3a";
    let project = Project::new();
    project.write(
        "code-mesh.toml",
        "[providers]\ncache = true\ntemperature = 0\n",
    );
    let server = serve(vec![
        Turn::error(401),
        Turn::error(500),
        Turn::reply("Fine."),
    ]);
    for expected_code in [3, 0] {
        let run = Outcome::from(
            project
                .command(None)
                .env("OPENAI_BASE_URL", server.base_url())
                .env("OPENAI_API_KEY", KEY)
                .env("CODE_MESH_LOG", "trace")
                .args(["run", "--json", "hello"])
                .output()
                .unwrap(),
        );
        run.assert_code(expected_code);
        assert!(!run.stdout.contains(KEY), "{}", run.stdout);
        assert!(!run.stderr.contains(KEY), "the log shows the key");
    }
    // The key was really in use.
    let authorization = server.requests()[0]
        .header("authorization")
        .unwrap()
        .to_owned();
    assert_eq!(authorization, format!("Bearer {KEY}"));

    let home = project.code_mesh_home();
    let files = files(&home);
    assert!(
        files.iter().any(|f| f.ends_with("code-mesh.db")),
        "{files:?}"
    );
    let secret = KEY.as_bytes();
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "the key is in {}",
            file.display()
        );
    }
}
