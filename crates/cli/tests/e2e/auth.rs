//! `code-mesh auth`: keys stored encrypted, used when the environment has none, removed by
//! `logout`; and never on disk in plaintext.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use code_mesh_testkit::Turn;
use pretty_assertions::assert_eq;

use crate::harness::*;

const KEY: &str = "sk-stored-canary-4e8a1c";

/// `code-mesh auth login PROVIDER` with `input` piped on stdin.
fn login(project: &Project, provider: &str, input: &str) -> Outcome {
    let mut child = project
        .command(None)
        .args(["auth", "login", provider])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may refuse before reading (an unknown provider): ignore a closed pipe.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    Outcome::from(child.wait_with_output().unwrap())
}

fn auth(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut command = project.command(None);
    command.arg("auth").args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    Outcome::from(command.output().unwrap())
}

/// The cells of `auth list`'s line for `provider`.
fn listed(list: &Outcome, provider: &str) -> Option<Vec<String>> {
    list.stdout
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().map(String::as_str) == Some(provider))
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
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

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_stored_key_is_used_when_the_environment_has_none_and_logout_removes_it() {
    let project = Project::new();
    let home = project.code_mesh_home();

    let stored = login(&project, "openai", &format!("  {KEY}\n"));
    stored.assert_code(0);
    assert!(
        stored
            .stderr
            .contains("stored the key for `openai` (sk-…8a1c)"),
        "{}",
        stored.stderr
    );
    assert!(!stored.stderr.contains(KEY), "{}", stored.stderr);
    assert_eq!(mode(&home.join("data/credentials.enc")), 0o600);
    assert_eq!(mode(&home.join("credentials.key")), 0o600);

    let list = auth(&project, &["list"], &[]);
    list.assert_code(0);
    assert_eq!(
        listed(&list, "openai").unwrap(),
        ["openai", "sk-…8a1c", "stored"]
    );
    assert!(!list.stdout.contains(KEY) && !list.stderr.contains(KEY));

    // No OPENAI_API_KEY: the stored key is sent.
    let server = serve(vec![Turn::reply("Hello from the stored key.")]);
    let run = Outcome::from(
        project
            .command(None)
            .env("OPENAI_BASE_URL", server.base_url())
            .env("CODE_MESH_LOG", "trace")
            .args(["run", "--json", "hello"])
            .output()
            .unwrap(),
    );
    run.assert_code(0);
    assert!(!run.stdout.contains(KEY), "{}", run.stdout);
    assert!(!run.stderr.contains(KEY), "the log shows the key");
    let requests = server.requests();
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_verified(&server);

    // Nothing under the Code Mesh home holds the key in plaintext: not the credentials, not
    // the session database, not the response cache.
    let files = files(&home);
    assert!(
        files.iter().any(|f| f.ends_with("code-mesh.db")),
        "{files:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the key is in {}",
            file.display()
        );
    }

    // A key in the environment wins over the stored one.
    let env_key = "sk-from-environment-77aa";
    let server = serve(vec![Turn::reply("Hello from the environment.")]);
    let run = Outcome::from(
        project
            .command(None)
            .env("OPENAI_BASE_URL", server.base_url())
            .env("OPENAI_API_KEY", env_key)
            .args(["run", "hello"])
            .output()
            .unwrap(),
    );
    run.assert_code(0);
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {env_key}").as_str())
    );
    let list = auth(&project, &["list"], &[("OPENAI_API_KEY", env_key)]);
    list.assert_code(0);
    assert_eq!(
        listed(&list, "openai").unwrap().join(" "),
        "openai sk-…77aa env OPENAI_API_KEY (the stored key is not used)"
    );

    let logout = auth(&project, &["logout", "openai"], &[]);
    logout.assert_code(0);
    assert!(
        logout
            .stderr
            .contains("removed the stored key for `openai`"),
        "{}",
        logout.stderr
    );
    let list = auth(&project, &["list"], &[]);
    list.assert_code(0);
    assert_eq!(listed(&list, "openai"), None, "{}", list.stdout);
    assert!(list.stderr.contains("no API keys"), "{}", list.stderr);

    // Without a key, OpenAI's own address is refused before any request.
    let run = Outcome::from(
        project
            .command(None)
            .args(["run", "-m", "openai/gpt-5-mini", "hello"])
            .output()
            .unwrap(),
    );
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("error: `openai` needs an API key, and `OPENAI_API_KEY` is not set"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`code-mesh auth login openai`"),
        "{}",
        run.stderr
    );

    let again = auth(&project, &["logout", "openai"], &[]);
    again.assert_code(2);
    assert!(
        again.stderr.contains("no key is stored for `openai`"),
        "{}",
        again.stderr
    );
}

#[test]
fn an_unknown_provider_is_refused_with_a_suggestion_and_configured_ones_are_accepted() {
    let project = Project::new();
    let refused = login(&project, "opnai", &format!("{KEY}\n"));
    refused.assert_code(2);
    assert!(
        refused
            .stderr
            .contains("error: unknown provider `opnai` (did you mean `openai`?)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("known providers are `openai`"),
        "{}",
        refused.stderr
    );
    assert!(!exists(&project.code_mesh_home().join("credentials.key")));

    project.write(
        "code-mesh.toml",
        "[providers.lab]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodels = [\"small\"]\n",
    );
    login(&project, "lab", "lab-key-0123456789\n").assert_code(0);
    let list = auth(&project, &["list"], &[]);
    assert_eq!(
        listed(&list, "lab").unwrap(),
        ["lab", "lab-…6789", "stored"],
        "{}",
        list.stdout
    );

    let empty = login(&project, "openai", "\n");
    empty.assert_code(2);
    assert!(
        empty.stderr.contains("no API key was given for `openai`"),
        "{}",
        empty.stderr
    );
}

#[test]
fn a_damaged_credentials_file_is_reported_and_logout_all_resets_it() {
    let project = Project::new();
    login(&project, "openai", &format!("{KEY}\n")).assert_code(0);
    let credentials = project.code_mesh_home().join("data/credentials.enc");
    let text = std::fs::read_to_string(&credentials).unwrap();
    // Change one hex digit of the ciphertext.
    let at = text.find("\"ciphertext\": \"").unwrap() + "\"ciphertext\": \"".len();
    let digit = if &text[at..=at] == "0" { "1" } else { "0" };
    let tampered = format!("{}{digit}{}", &text[..at], &text[at + 1..]);
    std::fs::write(&credentials, tampered).unwrap();

    let list = auth(&project, &["list"], &[]);
    list.assert_code(2);
    assert!(
        list.stderr.contains(&format!(
            "`{}` cannot be decrypted with the key in",
            credentials.display()
        )),
        "{}",
        list.stderr
    );
    assert!(
        list.stderr.contains("hint: `code-mesh auth logout --all`"),
        "{}",
        list.stderr
    );

    // A run that needs the stored key is warned, then told it has no key.
    let run = Outcome::from(
        project
            .command(None)
            .args(["run", "-m", "openai/gpt-5-mini", "hello"])
            .output()
            .unwrap(),
    );
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("warning: stored API keys are not used: "),
        "{}",
        run.stderr
    );

    auth(&project, &["logout", "--all"], &[]).assert_code(0);
    assert!(!exists(&credentials));
    assert!(!exists(&project.code_mesh_home().join("credentials.key")));
    auth(&project, &["list"], &[]).assert_code(0);
}

#[test]
fn a_credentials_file_others_can_read_is_refused() {
    let project = Project::new();
    login(&project, "openai", &format!("{KEY}\n")).assert_code(0);
    let key_file = project.code_mesh_home().join("credentials.key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let list = auth(&project, &["list"], &[]);
    list.assert_code(2);
    assert!(
        list.stderr.contains(&format!(
            "`{}` is accessible to other users (mode 0644)",
            key_file.display()
        )),
        "{}",
        list.stderr
    );
    assert!(
        list.stderr
            .contains(&format!("chmod 600 {}", key_file.display())),
        "{}",
        list.stderr
    );
}
