//! Snapshots of what people read: help, transcripts, config provenance.

use code_mesh_testkit::{ToolCall, Turn};
use serde_json::json;

use crate::harness::*;

/// Paths, ids and times change from run to run; snapshots show placeholders.
fn settings(project: &Project) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        &regex_escape(&project.dir().display().to_string()),
        "[PROJECT]",
    );
    settings.add_filter(
        &regex_escape(&project.code_mesh_home().display().to_string()),
        "[CODE_MESH_HOME]",
    );
    settings.add_filter(r"ses_[0-9a-z]+", "[SESSION]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "[TIME]");
    settings.add_filter(r"\(\d+ ms\)", "([N] ms)");
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

#[test]
fn run_help_documents_options_and_exit_codes() {
    let project = Project::new();
    let outcome = Outcome::from(
        project
            .command(None)
            .args(["run", "--help"])
            .output()
            .unwrap(),
    );
    outcome.assert_code(0);
    insta::assert_snapshot!(outcome.stdout);
}

#[test]
fn sessions_show_prints_a_readable_transcript() {
    let project = Project::new();
    project.write("notes.txt", "first note\nsecond note\n");
    let server = serve(vec![
        Turn::reply("Reading it.")
            .with_tool_call(ToolCall::new("read", json!({"path": "notes.txt"}))),
        Turn::reply("It holds two notes.").with_usage(120, 30),
    ]);
    let run = project.run(&server, &["run", "what is in notes.txt?"]);
    run.assert_code(0);
    let settings = settings(&project);
    settings.bind(|| insta::assert_snapshot!("run_stderr", run.stderr));

    let list = Outcome::from(
        project
            .command(None)
            .args(["sessions", "list"])
            .output()
            .unwrap(),
    );
    list.assert_code(0);
    let id = list
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let show = Outcome::from(
        project
            .command(None)
            .args(["sessions", "show", &id])
            .output()
            .unwrap(),
    );
    show.assert_code(0);
    settings.bind(|| {
        insta::assert_snapshot!("sessions_list", list.stdout);
        insta::assert_snapshot!("sessions_show", show.stdout);
    });
}

#[test]
fn config_show_origin_names_every_source() {
    let project = Project::new();
    project.write("code-mesh.toml", "[agents]\nmax_turns = 12\n");
    let outcome = Outcome::from(
        project
            .command(None)
            .env("CODE_MESH_TOOLS__BASH_TIMEOUT", "45s")
            .args(["config", "show", "--origin"])
            .output()
            .unwrap(),
    );
    outcome.assert_code(0);
    let settings = settings(&project);
    settings.bind(|| insta::assert_snapshot!(outcome.stdout));
}
