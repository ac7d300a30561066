//! `code-mesh sessions list|show|resume|fork|export|import|delete|replay` through the real
//! binary, on sessions made by scripted runs.

use code_mesh_core::{NewSession, RecordedEvent};
use code_mesh_protocol::{Event, EventKind, Message, Part, Role, SessionId};
use code_mesh_store::SqliteStore;
use code_mesh_testkit::{ToolCall, Turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::harness::*;

/// Paths, ids and times change from run to run; snapshots show placeholders.
fn settings(project: &Project) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    let project_dir: String = project
        .dir()
        .display()
        .to_string()
        .chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect();
    settings.add_filter(&project_dir, "[PROJECT]");
    settings.add_filter(r"ses_[0-9a-z]+", "[SESSION]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "[TIME]");
    settings
}

/// `code-mesh ARGS` without a model server.
fn cm(project: &Project, args: &[&str]) -> Outcome {
    Outcome::from(project.command(None).args(args).output().unwrap())
}

fn database(project: &Project) -> SqliteStore {
    SqliteStore::open(project.code_mesh_home().join("data/code-mesh.db")).unwrap()
}

/// Messages: 1 user, 2 assistant (text, reasoning, a `read` call), 3 its result, 4 the answer.
fn notes_session(project: &Project) -> SessionId {
    project.write("notes.txt", "first note\nsecond note\n");
    let server = serve(vec![
        Turn::reply("Reading it.")
            .with_reasoning("The file is small; read it whole.")
            .with_tool_call(ToolCall::new("read", json!({"path": "notes.txt"}))),
        Turn::reply("It holds two notes.").with_usage(120, 30),
    ]);
    let run = project.run(&server, &["run", "--json", "what is in notes.txt?"]);
    run.assert_code(0);
    assert_verified(&server);
    let first: Event = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    first.session_id
}

fn new_id(outcome: &Outcome) -> SessionId {
    let id = outcome.stdout.trim();
    assert!(id.starts_with("ses_"), "no new id: {}", outcome.stdout);
    SessionId(id.to_owned())
}

fn events_json(project: &Project, id: &SessionId) -> Value {
    let export = cm(project, &["sessions", "export", id.as_str()]);
    export.assert_code(0);
    let document: Value = serde_json::from_str(&export.stdout).unwrap();
    assert_eq!(document["format"], "code-mesh-session");
    assert_eq!(document["version"], 1);
    document["events"].clone()
}

/// Events as exported, with the session id and (when asked) the seqs left out.
fn normalized(events: &Value, keep_seq: bool) -> Vec<Value> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            let mut event = event.clone();
            let object = event.as_object_mut().unwrap();
            object.remove("session_id");
            if !keep_seq {
                object.remove("seq");
            }
            event
        })
        .collect()
}

/// A sub-agent's session under `parent`, written straight through the store.
fn sub_agent_session(project: &Project, parent: &SessionId, agent: &str) -> SessionId {
    let store = database(project);
    let message = Message {
        seq: 1,
        role: Role::User,
        parts: vec![Part::Text {
            text: format!("{agent}: run the tests"),
        }],
        model: None,
        usage: None,
        interrupted: false,
        created_at: 1_000,
    };
    let info = store
        .create_session_with_events_blocking(
            NewSession {
                cwd: project.dir().display().to_string(),
                workspace: project.dir().display().to_string(),
                model: "openai/gpt-5-mini".into(),
                parent_id: Some(parent.clone()),
                agent: Some(agent.into()),
            },
            vec![RecordedEvent {
                at: 1_000,
                kind: EventKind::MessageAdded { message },
            }],
        )
        .unwrap();
    info.id
}

#[test]
fn list_and_show_present_cost_forks_and_sub_agents_under_their_parent() {
    let project = Project::new();
    let parent = notes_session(&project);
    let fork = cm(
        &project,
        &["sessions", "fork", parent.as_str(), "--at", "1"],
    );
    fork.assert_code(0);
    let fork = new_id(&fork);
    let agent = sub_agent_session(&project, &parent, "tester");
    let grandchild = sub_agent_session(&project, &agent, "reviewer");

    let list = cm(&project, &["sessions", "list"]);
    list.assert_code(0);
    let rows: Vec<&str> = list.stdout.lines().collect();
    assert!(rows[0].contains("COST"), "{}", list.stdout);
    assert!(rows[1].starts_with(parent.as_str()), "{}", list.stdout);
    let parent_row = rows
        .iter()
        .position(|r| r.starts_with(parent.as_str()))
        .unwrap();
    assert!(
        rows[parent_row + 1..].iter().all(|r| r.starts_with("  ")),
        "children are indented under the parent:\n{}",
        list.stdout
    );
    assert!(
        list.stdout.contains(&format!("  {fork}")),
        "{}",
        list.stdout
    );
    let agent_row = rows
        .iter()
        .position(|r| r.trim_start().starts_with(agent.as_str()))
        .unwrap();
    assert!(
        rows[agent_row].starts_with(&format!("  {agent}"))
            && rows[agent_row + 1].starts_with(&format!("    {grandchild}")),
        "a sub-agent's sub-agent is indented under it:\n{}",
        list.stdout
    );

    let show_parent = cm(&project, &["sessions", "show", parent.as_str()]);
    show_parent.assert_code(0);
    assert!(show_parent.stdout.contains(&format!("{fork} (fork)")));
    assert!(
        show_parent
            .stdout
            .contains(&format!("{agent} (agent `tester`)"))
    );
    let show_fork = cm(&project, &["sessions", "show", fork.as_str()]);
    show_fork.assert_code(0);
    assert!(
        show_fork
            .stdout
            .contains(&format!("parent:    {parent} (fork through message 1)")),
        "{}",
        show_fork.stdout
    );

    let json = cm(&project, &["sessions", "list", "--json"]);
    json.assert_code(0);
    let sessions: Vec<Value> = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(sessions.len(), 4);
    let agent_entry = sessions.iter().find(|s| s["id"] == agent.as_str()).unwrap();
    assert_eq!(agent_entry["parent_id"], parent.as_str());
    assert_eq!(agent_entry["agent"], "tester");

    let settings = settings(&project);
    settings.bind(|| {
        insta::assert_snapshot!("sessions_list_tree", list.stdout);
        insta::assert_snapshot!("sessions_show_parent", show_parent.stdout);
        insta::assert_snapshot!("sessions_show_fork", show_fork.stdout);
    });
}

#[test]
fn a_fork_holds_the_messages_up_to_its_point_and_continues_from_there() {
    let project = Project::new();
    let parent = notes_session(&project);

    let split = cm(
        &project,
        &["sessions", "fork", parent.as_str(), "--at", "2"],
    );
    split.assert_code(2);
    assert!(
        split.stderr.contains("results are message 3"),
        "{}",
        split.stderr
    );
    assert!(
        split.stderr.contains("hint: fork at message 3"),
        "{}",
        split.stderr
    );
    let beyond = cm(
        &project,
        &["sessions", "fork", parent.as_str(), "--at", "9"],
    );
    beyond.assert_code(2);
    assert!(
        beyond.stderr.contains("its messages are 1 to 4"),
        "{}",
        beyond.stderr
    );
    let unknown = cm(&project, &["sessions", "fork", "ses_nope"]);
    unknown.assert_code(2);
    assert!(
        unknown.stderr.contains("no session `ses_nope`"),
        "{}",
        unknown.stderr
    );

    let fork = cm(
        &project,
        &["sessions", "fork", parent.as_str(), "--at", "3"],
    );
    fork.assert_code(0);
    let fork = new_id(&fork);
    let store = database(&project);
    let parent_messages = store.messages_blocking(&parent).unwrap();
    let fork_messages = store.messages_blocking(&fork).unwrap();
    assert_eq!(fork_messages, parent_messages[..3].to_vec());
    let fork_events = store.events_blocking(&fork).unwrap();
    assert_eq!(
        fork_events[0].kind,
        EventKind::SessionForked {
            parent_id: parent.clone(),
            through_seq: 3
        }
    );
    let info = store.session_blocking(&fork).unwrap().unwrap();
    assert_eq!(info.parent_id, Some(parent.clone()));
    assert_eq!(info.title, "what is in notes.txt?");
    cm(&project, &["sessions", "replay", fork.as_str()]).assert_code(0);

    let server = serve(vec![
        Turn::reply("Two notes, as read.")
            .expect_messages_contain("what is in notes.txt?")
            .expect_tool_result_contains("second note")
            .expect_last_user_contains("summarise them"),
    ]);
    project
        .run(
            &server,
            &["sessions", "resume", fork.as_str(), "summarise them"],
        )
        .assert_code(0);
    assert_verified(&server);
    let sent = server.requests()[0].raw_body.clone();
    assert!(
        !sent.contains("It holds two notes."),
        "the parent's answer after the fork point was sent: {sent}"
    );
    assert_eq!(store.messages_blocking(&fork).unwrap().len(), 5);
    assert_eq!(store.messages_blocking(&parent).unwrap().len(), 4);
}

#[test]
fn resume_continues_a_session_like_run_session_and_without_a_prompt_shows_its_end() {
    let project = Project::new();
    let id = notes_session(&project);

    let tail = cm(&project, &["sessions", "resume", id.as_str()]);
    tail.assert_code(0);
    assert!(tail.stdout.contains("[4] assistant"), "{}", tail.stdout);
    assert!(
        tail.stdout.contains("It holds two notes."),
        "{}",
        tail.stdout
    );
    assert!(
        tail.stderr
            .contains(&format!("code-mesh sessions resume {id} \"")),
        "{}",
        tail.stderr
    );

    let server = serve(vec![
        Turn::reply("Yes, two.")
            .expect_messages_contain("It holds two notes.")
            .expect_last_user_contains("are you sure?"),
    ]);
    let resumed = project.run(
        &server,
        &["sessions", "resume", id.as_str(), "are you sure?"],
    );
    resumed.assert_code(0);
    assert_verified(&server);
    assert_eq!(resumed.stdout, "Yes, two.\n");
    let both = cm(
        &project,
        &["sessions", "resume", id.as_str(), "--session", "x", "go"],
    );
    both.assert_code(2);
    let missing = cm(&project, &["sessions", "resume", "ses_nope", "go"]);
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("no session `ses_nope`"),
        "{}",
        missing.stderr
    );
    assert_eq!(database(&project).messages_blocking(&id).unwrap().len(), 6);
}

#[test]
fn export_then_import_gives_back_the_same_events() {
    let project = Project::new();
    let original = notes_session(&project);
    let first = events_json(&project, &original);

    let file = project.dir().join("export.json");
    cm(
        &project,
        &[
            "sessions",
            "export",
            original.as_str(),
            "-o",
            file.to_str().unwrap(),
        ],
    )
    .assert_code(0);
    let imported = cm(&project, &["sessions", "import", file.to_str().unwrap()]);
    imported.assert_code(0);
    let imported = new_id(&imported);
    assert_ne!(imported, original);
    let second = events_json(&project, &imported);
    // The import numbers the events from 1 (the original's skip the streaming deltas' seqs).
    assert_eq!(normalized(&second, false), normalized(&first, false));
    let seqs: Vec<u64> = second
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());

    // A second round trip changes nothing but the session id.
    std::fs::write(
        &file,
        cm(&project, &["sessions", "export", imported.as_str()]).stdout,
    )
    .unwrap();
    let again = cm(&project, &["sessions", "import", file.to_str().unwrap()]);
    again.assert_code(0);
    let third = events_json(&project, &new_id(&again));
    assert_eq!(normalized(&third, true), normalized(&second, true));

    let store = database(&project);
    assert_eq!(
        store.messages_blocking(&imported).unwrap(),
        store.messages_blocking(&original).unwrap()
    );
    let info = store.session_blocking(&imported).unwrap().unwrap();
    let source = store.session_blocking(&original).unwrap().unwrap();
    assert_eq!(
        (info.title, info.usage, info.parent_id),
        (source.title, source.usage, None)
    );
}

#[test]
fn import_refuses_a_broken_export_saying_what_is_wrong() {
    let project = Project::new();
    let original = notes_session(&project);
    let export = cm(&project, &["sessions", "export", original.as_str()]);
    let mut document: Value = serde_json::from_str(&export.stdout).unwrap();
    let file = project.dir().join("broken.json");

    document["version"] = json!(7);
    std::fs::write(&file, document.to_string()).unwrap();
    let newer = cm(&project, &["sessions", "import", file.to_str().unwrap()]);
    newer.assert_code(2);
    assert!(newer.stderr.contains("version 7"), "{}", newer.stderr);

    document["version"] = json!(1);
    let events = document["events"].as_array_mut().unwrap();
    let first_message = events
        .iter()
        .position(|e| e["type"] == "message_added")
        .unwrap();
    events.remove(first_message);
    std::fs::write(&file, document.to_string()).unwrap();
    let gap = cm(&project, &["sessions", "import", file.to_str().unwrap()]);
    gap.assert_code(2);
    assert!(
        gap.stderr.contains("where message 1 comes next"),
        "{}",
        gap.stderr
    );
    assert!(gap.stderr.contains("hint:"), "{}", gap.stderr);

    let missing = cm(&project, &["sessions", "import", "no-such-file.json"]);
    missing.assert_code(2);
    assert!(missing.stderr.contains("cannot read"), "{}", missing.stderr);
    assert_eq!(
        database(&project).list_sessions_blocking(10).unwrap().len(),
        1
    );
}

#[test]
fn markdown_export_is_a_readable_transcript() {
    let project = Project::new();
    project.write("notes.txt", "first note\n```\nfenced\n```\n");
    let server = serve(vec![
        Turn::reply("Reading it.")
            .with_reasoning("The file is small; read it whole.")
            .with_tool_call(ToolCall::new("read", json!({"path": "notes.txt"}))),
        Turn::reply("It holds a note and a fence.").with_usage(120, 30),
    ]);
    project
        .run(&server, &["run", "what is in notes.txt?"])
        .assert_code(0);
    let list = cm(&project, &["sessions", "list", "--json"]);
    let sessions: Vec<Value> = serde_json::from_str(&list.stdout).unwrap();
    let id = sessions[0]["id"].as_str().unwrap().to_owned();
    let markdown = cm(
        &project,
        &["sessions", "export", &id, "--format", "markdown"],
    );
    markdown.assert_code(0);
    settings(&project).bind(|| insta::assert_snapshot!(markdown.stdout));
}

#[test]
fn delete_takes_sub_agent_sessions_along_and_keeps_forks() {
    let project = Project::new();
    let parent = notes_session(&project);
    let fork = new_id(&cm(&project, &["sessions", "fork", parent.as_str()]));
    let agent = sub_agent_session(&project, &parent, "tester");
    let grandchild = sub_agent_session(&project, &agent, "reviewer");

    let unconfirmed = cm(&project, &["sessions", "delete", parent.as_str()]);
    unconfirmed.assert_code(2);
    assert!(
        unconfirmed.stderr.contains("and 2 sub-agent sessions"),
        "{}",
        unconfirmed.stderr
    );
    assert!(
        unconfirmed.stderr.contains("--yes"),
        "{}",
        unconfirmed.stderr
    );
    let store = database(&project);
    assert!(store.session_blocking(&parent).unwrap().is_some());

    cm(&project, &["sessions", "delete", parent.as_str(), "--yes"]).assert_code(0);
    assert!(store.session_blocking(&parent).unwrap().is_none());
    assert!(store.session_blocking(&agent).unwrap().is_none());
    assert!(store.session_blocking(&grandchild).unwrap().is_none());
    assert!(store.events_blocking(&parent).unwrap().is_empty());
    let kept = store.session_blocking(&fork).unwrap().unwrap();
    assert_eq!(kept.parent_id, None);
    assert_eq!(store.messages_blocking(&fork).unwrap().len(), 4);

    let again = cm(&project, &["sessions", "delete", parent.as_str(), "--yes"]);
    again.assert_code(2);
    assert!(
        again.stderr.contains(&format!("no session `{parent}`")),
        "{}",
        again.stderr
    );
}

#[test]
fn replay_reports_a_session_whose_store_disagrees_with_its_events() {
    let project = Project::new();
    let id = notes_session(&project);
    let ok = cm(&project, &["sessions", "replay", "--all"]);
    ok.assert_code(0);
    assert!(
        ok.stdout.starts_with(&format!("ok: {id}: "))
            && ok.stdout.ends_with(" events, 4 messages\n"),
        "{}",
        ok.stdout
    );
    assert_eq!(ok.stdout.lines().count(), 1, "{}", ok.stdout);

    let db = project.code_mesh_home().join("data/code-mesh.db");
    let connection = rusqlite::Connection::open(&db).unwrap();
    connection
        .execute(
            "UPDATE messages SET body = replace(body, 'two notes', 'three notes') \
             WHERE session_id = ?1 AND seq = 4",
            [id.as_str()],
        )
        .unwrap();
    connection
        .execute(
            "UPDATE sessions SET title = 'edited' WHERE id = ?1",
            [id.as_str()],
        )
        .unwrap();
    let differs = cm(&project, &["sessions", "replay", id.as_str()]);
    differs.assert_code(1);
    assert!(
        differs.stdout.starts_with(&format!("differs: {id}")),
        "{}",
        differs.stdout
    );
    assert!(
        differs.stdout.contains(
            "title: the events give \"what is in notes.txt?\" but the store holds \"edited\""
        ),
        "{}",
        differs.stdout
    );
    assert!(differs.stdout.contains("message 4:"), "{}", differs.stdout);
    assert!(differs.stdout.contains("three notes"), "{}", differs.stdout);

    // Put it back, or the check every scenario ends with would (rightly) fail.
    connection
        .execute(
            "UPDATE messages SET body = replace(body, 'three notes', 'two notes') \
             WHERE session_id = ?1 AND seq = 4",
            [id.as_str()],
        )
        .unwrap();
    connection
        .execute(
            "UPDATE sessions SET title = 'what is in notes.txt?' WHERE id = ?1",
            [id.as_str()],
        )
        .unwrap();
    cm(&project, &["sessions", "replay", id.as_str()]).assert_code(0);
}
