//! The web page of `code-mesh serve` in a real headless Chromium (crates/server/web/tests/*.mjs):
//! a prompt from the page, an edit allowed from its permission card, the diff shown, the turn
//! finished, the file changed on disk, the session forked and the fork deleted; and a
//! multi-agent run whose coder's conversation is watched live from the agent tree.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use code_mesh_testkit::Turn;
use serde_json::json;

use crate::harness::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const TOKEN: &str = "browser-test-token";

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/web")
}

/// Why the browser test cannot run here, if it cannot.
fn missing_tools() -> Option<String> {
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(CHROMIUM.to_owned());
    }
    let playwright = web_dir().join("node_modules/playwright-core");
    if !playwright.exists() {
        missing.push(playwright.display().to_string());
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".to_owned());
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// `code-mesh serve`, killed when dropped; its stderr is kept for failure messages.
struct Served {
    child: Child,
    base_url: String,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    fn start(mut command: Command) -> Served {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let collected = Arc::clone(&stderr);
        // Keeps draining stderr after the address line so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = address_tx.send(url.trim_end_matches('/').to_owned());
                }
                collected.lock().unwrap().push_str(&line);
                collected.lock().unwrap().push('\n');
            }
        });
        let base_url = match address_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`code-mesh serve` printed no `listening on` line within 30 s\n--- stderr\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Served {
            child,
            base_url,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The browser test cannot run without its tools: in CI that is a failure, elsewhere a skip.
fn browser_unavailable() -> bool {
    let Some(missing) = missing_tools() else {
        return false;
    };
    if std::env::var_os("CI").is_some() {
        panic!(
            "the browser test needs {missing}; .ci/run installs Chromium, node and the page's \
             npm packages (npm ci in crates/server/web)"
        );
    }
    eprintln!("skipped: the browser test needs {missing}");
    true
}

/// Runs `tests/{script}` against `served`, stops the server, and fails with everything both
/// printed unless the script passed.
fn run_browser_script(script: &str, served: &mut Served, env: &[(&str, &str)]) {
    // Outside the temporary project, so it outlives a failing test.
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("serve-{}.png", script.trim_end_matches(".mjs")));
    let mut command = Command::new("node");
    command
        .arg(web_dir().join("tests").join(script))
        .current_dir(web_dir())
        .env("BASE_URL", &served.base_url)
        .env("TOKEN", TOKEN)
        .env("SCREENSHOT", &screenshot)
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let browser = Outcome::from(command.output().unwrap());
    served.stop();
    assert_eq!(
        browser.code,
        Some(0),
        "{script} failed (screenshot: {})\n--- stdout\n{}\n--- stderr\n{}\n--- serve stderr\n{}",
        screenshot.display(),
        browser.stdout,
        browser.stderr,
        served.stderr()
    );
}

#[test]
fn the_page_sends_a_prompt_allows_an_edit_and_shows_its_diff() {
    if browser_unavailable() {
        return;
    }

    let project = Project::new();
    project.write("greeting.txt", "Hello, world!\nSee you.\n");
    let server = serve(vec![
        Turn::call(
            "edit",
            json!({
                "path": "greeting.txt",
                "old_string": "Hello, world!",
                "new_string": "Hello, Code Mesh!"
            }),
        )
        .expect_last_user_contains("Change the greeting"),
        Turn::reply("The greeting now names Code Mesh.")
            .expect_tool_result_contains("@@ -1,1 +1,1 @@")
            .expect_tool_result_contains("+    1\tHello, Code Mesh!"),
    ]);

    let mut command = project.command(Some(&server.base_url()));
    command.args(["serve", "--port", "0", "--token", TOKEN, "--sandbox", "off"]);
    let mut served = Served::start(command);
    run_browser_script(
        "browser.mjs",
        &mut served,
        &[
            (
                "PROMPT",
                "Change the greeting in greeting.txt to name Code Mesh.",
            ),
            ("EXPECT_ADDED", "Hello, Code Mesh!"),
            ("EXPECT_FINAL", "The greeting now names Code Mesh."),
        ],
    );
    assert_eq!(
        project.read("greeting.txt"),
        "Hello, Code Mesh!\nSee you.\n"
    );
    assert_verified(&server);
    assert_eq!(server.turns_served(), 2);
}

/// Starts a session of `strategy` over the API (the page has no strategy picker); its id.
fn create_session(base_url: &str, strategy: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let view: serde_json::Value = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{base_url}/api/sessions"))
            .bearer_auth(TOKEN)
            .json(&json!({ "strategy": strategy }))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    });
    view["session"]["id"].as_str().unwrap().to_owned()
}

#[test]
fn the_page_shows_an_agents_conversation_live_and_returns_to_the_run() {
    if browser_unavailable() {
        return;
    }

    let project = Project::new();
    let words: Vec<String> = (1..=20).map(|n| format!("step{n}")).collect();
    let server = serve(vec![
        Turn::new()
            .with_tool_call(code_mesh_testkit::ToolCall::new(
                "delegate",
                json!({"tasks": [{"id": "a", "description": "write the notes", "agent": "coder"}]}),
            ))
            .for_agent("coordinator")
            .expect_last_user_contains("take notes"),
        // Late and slow, so the page opens its conversation before it replies and sees it stream.
        Turn::reply(words.join(" "))
            .for_agent("coder")
            .with_delay_ms(3000)
            .with_chunk_delay_ms(30),
        Turn::reply("All done.").for_agent("coordinator"),
    ]);

    let mut command = project.command(Some(&server.base_url()));
    command.args(["serve", "--port", "0", "--token", TOKEN, "--sandbox", "off"]);
    let mut served = Served::start(command);
    let session = create_session(&served.base_url, "hierarchical");
    let agent_screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-agent-view.png");
    run_browser_script(
        "browser-agents.mjs",
        &mut served,
        &[
            ("SESSION_ID", session.as_str()),
            ("PROMPT", "take notes"),
            ("AGENT_PROFILE", "coder"),
            ("EXPECT_AGENT_FIRST", "step1 "),
            ("EXPECT_AGENT_TEXT", "step20"),
            ("EXPECT_FINAL", "All done."),
            ("SCREENSHOT_AGENT", &agent_screenshot.to_string_lossy()),
        ],
    );
    assert_verified(&server);
    assert_eq!(server.turns_served(), 3);
}
