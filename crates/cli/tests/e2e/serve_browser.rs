//! The web page of `code-mesh serve` in a real headless Chromium (crates/server/web/tests/browser.mjs):
//! a prompt from the page, an edit allowed from its permission card, the diff shown, the turn
//! finished, and the file changed on disk.

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

#[test]
fn the_page_sends_a_prompt_allows_an_edit_and_shows_its_diff() {
    if let Some(missing) = missing_tools() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the browser test needs {missing}; .ci/run installs Chromium, node and the page's \
                 npm packages (npm ci in crates/server/web)"
            );
        }
        eprintln!("skipped: the browser test needs {missing}");
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

    // Outside the temporary project, so it outlives a failing test.
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-browser.png");
    let browser = Command::new("node")
        .arg(web_dir().join("tests/browser.mjs"))
        .current_dir(web_dir())
        .env("BASE_URL", &served.base_url)
        .env("TOKEN", TOKEN)
        .env(
            "PROMPT",
            "Change the greeting in greeting.txt to name Code Mesh.",
        )
        .env("EXPECT_ADDED", "Hello, Code Mesh!")
        .env("EXPECT_FINAL", "The greeting now names Code Mesh.")
        .env("SCREENSHOT", &screenshot)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let browser = Outcome::from(browser);
    served.stop();
    assert_eq!(
        browser.code,
        Some(0),
        "the browser test failed (screenshot: {})\n--- stdout\n{}\n--- stderr\n{}\n--- serve stderr\n{}",
        screenshot.display(),
        browser.stdout,
        browser.stderr,
        served.stderr()
    );
    assert_eq!(
        project.read("greeting.txt"),
        "Hello, Code Mesh!\nSee you.\n"
    );
    assert_verified(&server);
    assert_eq!(server.turns_served(), 2);
}
