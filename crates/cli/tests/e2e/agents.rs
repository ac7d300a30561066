//! `code-mesh agents`: the built-in profiles, overrides from config and agent files, and the
//! `coder` profile that `run` works as.

use code_mesh_testkit::Turn;
use pretty_assertions::assert_eq;
use serde_json::Value;

use crate::harness::*;

fn settings(project: &Project) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        &regex_escape(&project.dir().display().to_string()),
        "[PROJECT]",
    );
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

fn agents(project: &Project, args: &[&str]) -> Outcome {
    let output = project
        .command(None)
        .arg("agents")
        .args(args)
        .output()
        .unwrap();
    Outcome::from(output)
}

/// A project overriding `reviewer` in code-mesh.toml and again in an agent file, and adding
/// a `translator` profile.
fn project_with_overrides() -> Project {
    let project = Project::new();
    project.write(
        "code-mesh.toml",
        "[agents.profiles.reviewer]\nmodel = \"openai/gpt-4o\"\ntemperature = 0.5\n",
    );
    project.write(
        ".code-mesh/agents/reviewer.md",
        "---\n# our house reviewer\ndescription: Reviews against docs/rules.md.\ntools: read, grep, git_diff\ntemperature: 0.1\n---\n\nYou are the Reviewer.\nCheck every change against docs/rules.md.\n",
    );
    project.write(
        ".code-mesh/agents/translator.md",
        "---\ndescription: Translates the docs.\ntools: read, write\n---\nTranslate the documentation into French.\n",
    );
    project
}

#[test]
fn agents_list_shows_the_ten_built_in_profiles() {
    let project = Project::new();
    let outcome = agents(&project, &["list"]);
    outcome.assert_code(0);
    insta::assert_snapshot!(outcome.stdout);

    let json = agents(&project, &["list", "--json"]);
    json.assert_code(0);
    let rows: Vec<Value> = serde_json::from_str(&json.stdout).unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|row| row["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "coordinator",
            "architect",
            "coder",
            "analyst",
            "tester",
            "documenter",
            "security",
            "devops",
            "designer",
            "reviewer"
        ]
    );
    assert_eq!(rows[2]["tools"], Value::Null);
    assert!(
        rows[0]["tools"]
            .as_array()
            .unwrap()
            .contains(&"delegate".into())
    );
}

#[test]
fn agents_show_prints_the_whole_profile() {
    let project = Project::new();
    let outcome = agents(&project, &["show", "reviewer"]);
    outcome.assert_code(0);
    insta::assert_snapshot!(outcome.stdout);

    let json = agents(&project, &["show", "coder", "--json"]);
    json.assert_code(0);
    let profile: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(profile["name"], "coder");
    assert_eq!(profile["origin"], "built-in");
    assert!(profile.get("tools").is_none(), "{profile}");
    assert!(
        profile["prompt"]
            .as_str()
            .unwrap()
            .starts_with("You are the Coder.")
    );
}

#[test]
fn an_unknown_profile_suggests_the_closest_name() {
    let project = Project::new();
    let outcome = agents(&project, &["show", "reveiwer"]);
    outcome.assert_code(2);
    assert!(
        outcome
            .stderr
            .starts_with("error: no agent profile `reveiwer` (did you mean `reviewer`?)\nhint: the profiles are `coordinator`,"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn config_tables_and_agent_files_override_and_add_profiles_with_their_origin() {
    let project = project_with_overrides();
    let list = agents(&project, &["list"]);
    list.assert_code(0);
    let show = agents(&project, &["show", "reviewer"]);
    show.assert_code(0);
    settings(&project).bind(|| {
        insta::assert_snapshot!("agents_list_overridden", list.stdout);
        insta::assert_snapshot!("agents_show_overridden", show.stdout);
    });

    let json = agents(&project, &["show", "reviewer", "--json"]);
    let reviewer: Value = serde_json::from_str(&json.stdout).unwrap();
    // The file wins over the config table field by field; the table's model stays.
    assert_eq!(reviewer["model"], "openai/gpt-4o");
    assert_eq!(reviewer["temperature"].as_f64().unwrap() as f32, 0.1);
    assert_eq!(reviewer["max_turns"], 30);

    let origins = Outcome::from(
        project
            .command(None)
            .args(["config", "show", "--origin"])
            .output()
            .unwrap(),
    );
    origins.assert_code(0);
    let model_line = origins
        .stdout
        .lines()
        .find(|line| line.starts_with("agents.profiles.reviewer.model"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        model_line.ends_with(&format!("# {}/code-mesh.toml:2", project.dir().display())),
        "{}",
        origins.stdout
    );
}

#[test]
fn a_bad_agent_file_is_reported_at_its_line() {
    let project = Project::new();
    project.write(
        ".code-mesh/agents/reviewer.md",
        "---\ndescription: Strict.\ntemprature: 0.1\n---\nReview.\n",
    );
    let outcome = agents(&project, &["list"]);
    outcome.assert_code(2);
    let path = project.dir().join(".code-mesh/agents/reviewer.md");
    assert!(
        outcome.stderr.starts_with(&format!(
            "error: {}:3: unknown key `temprature` (did you mean `temperature`?)",
            path.display()
        )),
        "{}",
        outcome.stderr
    );

    // An unknown tool is caught at its line too, in `run` before any model request.
    project.write(
        ".code-mesh/agents/reviewer.md",
        "---\ntools: read, grpe\n---\nReview.\n",
    );
    let server = serve(Vec::new());
    let run = project.run(&server, &["run", "review"]);
    run.assert_code(2);
    assert!(
        run.stderr.starts_with(&format!(
            "error: {}:2: agent profile `reviewer`: unknown tool `grpe` in `tools` (did you mean `grep`?)",
            path.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn a_bad_config_table_is_reported_at_its_line() {
    let project = Project::new();
    project.write(
        "code-mesh.toml",
        "[agents.profiles.coder]\ntemperature = 0.2\nmodle = \"a/b\"\n",
    );
    let outcome = agents(&project, &["list"]);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.starts_with(&format!(
            "error: {}/code-mesh.toml:3: unknown key `agents.profiles.coder.modle`",
            project.dir().display()
        )),
        "{}",
        outcome.stderr
    );

    project.write(
        "code-mesh.toml",
        "[agents.profiles.coder]\ntools = [\"read\", \"bsh\"]\n",
    );
    let outcome = agents(&project, &["list"]);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.starts_with(&format!(
            "error: {}/code-mesh.toml:2: agent profile `coder`: unknown tool `bsh` in `tools` (did you mean `bash`?)",
            project.dir().display()
        )),
        "{}",
        outcome.stderr
    );
}

#[test]
fn run_works_as_the_coder_profile() {
    let project = Project::new();
    let server = serve(vec![
        Turn::reply("Done.")
            .for_agent("coder")
            .expect_system_contains("Code Mesh agent: coder")
            .expect_system_contains("You are the Coder.")
            .expect_tools_include("bash"),
    ]);
    let outcome = project.run(&server, &["run", "say done"]);
    outcome.assert_code(0);
    assert_verified(&server);
    assert_eq!(outcome.stdout, "Done.\n");
}

#[test]
fn run_offers_only_the_tools_of_an_overridden_coder() {
    let project = Project::new();
    project.write(
        ".code-mesh/agents/coder.md",
        "---\ntools: read, grep, delegate\n---\nYou are our Coder. Read before you write.\n",
    );
    let server = serve(vec![
        Turn::reply("Read only.")
            .for_agent("coder")
            .expect_system_contains("Code Mesh agent: coder\n\nYou are our Coder."),
    ]);
    let outcome = project.run(&server, &["run", "look around"]);
    outcome.assert_code(0);
    assert_verified(&server);
    let requests = server.requests();
    let tools: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    // `delegate` exists only in orchestrated runs; a single run leaves it out.
    assert_eq!(tools, ["read", "grep"]);
}
