//! The web page of `code-mesh serve` in a real headless Chromium (crates/server/web/tests/*.mjs):
//! a prompt from the page, an edit allowed from its permission card, the diff shown, the turn
//! finished, the file changed on disk, the session forked and the fork deleted; and a
//! multi-agent run, started from the page with a picked model and strategy, whose coder's
//! conversation is watched live from the agent tree.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use code_mesh_testkit::Turn;
use serde_json::json;

use crate::harness::*;
use crate::serve::{Served, delegated_notes_script};

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
        .env("BASE_URL", &served.base)
        .env("TOKEN", TOKEN)
        .env("SCREENSHOT", &screenshot)
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let browser = Outcome::from(command.output().unwrap());
    let (_, serve_stderr) = served.terminate();
    assert_eq!(
        browser.code,
        Some(0),
        "{script} failed (screenshot: {})\n--- stdout\n{}\n--- stderr\n{}\n--- serve stderr\n{}",
        screenshot.display(),
        browser.stdout,
        browser.stderr,
        serve_stderr
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

    let mut served = Served::start(
        &project,
        Some(&server.base_url()),
        &["--token", TOKEN, "--sandbox", "off"],
    );
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

#[test]
fn the_page_shows_an_agents_conversation_live_and_returns_to_the_run() {
    if browser_unavailable() {
        return;
    }

    let project = Project::new();
    // Two models: the page must send the one it picked, or the run would use the configured one.
    project.write(
        "code-mesh.toml",
        "[providers]\nmodel = \"openai/testkit-default\"\n\n\
         [providers.openai]\nmodels = [\"testkit-default\", \"testkit-picked\"]\n",
    );
    // The coder answers late and slowly, so the page opens its conversation before it replies
    // and sees it stream.
    let server = serve(delegated_notes_script(3000));

    let mut served = Served::start(
        &project,
        Some(&server.base_url()),
        &["--token", TOKEN, "--sandbox", "off"],
    );
    let agent_screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-agent-view.png");
    run_browser_script(
        "browser-agents.mjs",
        &mut served,
        &[
            ("DEFAULT_MODEL", "openai/testkit-default"),
            ("MODEL", "openai/testkit-picked"),
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
    let coordinator = server
        .requests()
        .into_iter()
        .find(|request| request.turn == Some(1))
        .expect("the coordinator's request");
    assert_eq!(coordinator.model(), Some("testkit-picked"));
}
