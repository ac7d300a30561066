//! Crash safety: `kill -9` of `code-mesh run` at many points of a scripted session never
//! corrupts the database and never loses an event it reported; two processes can share one
//! database.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::Duration;

use code_mesh_protocol::{Event, EventKind, TurnEndReason};
use code_mesh_testkit::{ToolCall, Turn};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Value, json};

use crate::harness::*;

/// The kill points are drawn from this seed, so a failure can be replayed exactly (timing
/// aside); every failure message names it.
const SEED: u64 = 0x5eed_c0de_0005;
/// How many times the session is killed.
const KILLS: u64 = 15;

/// Shell commands, writes and reads over six model requests, each answer a little delayed and
/// streamed in small chunks, so that the run lasts long enough to be killed anywhere.
fn crash_script() -> Vec<Turn> {
    vec![
        Turn::reply("Let me look around first.")
            .with_tool_call(ToolCall::new(
                "bash",
                json!({"command": "echo started >> log.txt && ls"}),
            ))
            .with_delay_ms(25)
            .with_chunk_delay_ms(2),
        Turn::call("write", json!({"path": "a.txt", "content": "alpha\n"})).with_delay_ms(25),
        Turn::reply("Now the second file, and a check of the first.")
            .with_tool_call(ToolCall::new(
                "write",
                json!({"path": "b.txt", "content": "beta\n"}),
            ))
            .with_tool_call(ToolCall::new("read", json!({"path": "a.txt"})))
            .with_delay_ms(25)
            .with_chunk_delay_ms(2),
        Turn::call(
            "bash",
            json!({"command": "cat a.txt b.txt > c.txt && wc -l c.txt && echo joined >> log.txt"}),
        )
        .with_delay_ms(25),
        Turn::call("read", json!({"path": "c.txt"})).with_delay_ms(25),
        Turn::reply("All done: c.txt holds alpha and beta, one per line.")
            .with_delay_ms(25)
            .with_chunk_delay_ms(2),
    ]
}

fn spawn_run(project: &Project, base_url: &str, args: &[&str]) -> Child {
    project
        .command(Some(base_url))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// What a killed (or finished) run printed.
struct Killed {
    events: Vec<Event>,
    stderr: String,
}

/// Runs the crash script, reads its JSON events until `kill_after` of them arrived, waits
/// `extra_ms` (the engine keeps appending meanwhile), then SIGKILLs it; `None` lets it finish.
fn run_and_kill(project: &Project, kill_after: Option<usize>, extra_ms: u64) -> Killed {
    let server = serve(crash_script());
    let mut child = spawn_run(
        project,
        &server.base_url(),
        &["run", "--yes", "--json", "make a.txt, b.txt and c.txt"],
    );
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        lines.push(line);
        if Some(lines.len()) == kill_after {
            std::thread::sleep(Duration::from_millis(extra_ms));
            kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
            break;
        }
    }
    // Whatever was printed before the kill is still in the pipe.
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    lines.extend(rest.split_inclusive('\n').map(str::to_owned));
    child.wait().unwrap();
    let events = lines
        .iter()
        // A line cut by the kill was never reported whole.
        .filter(|line| line.ends_with('\n'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    Killed {
        events,
        stderr: stderr.join().unwrap(),
    }
}

/// The database is sound and holds every stored kind of event the run printed, with the
/// same seq and body.
fn check_database(project: &Project, killed: &Killed, context: &str) {
    let db = project.code_mesh_home().join("data/code-mesh.db");
    let connection = Connection::open(&db).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "{context}");
    let mut select = connection
        .prepare("SELECT type, body FROM events WHERE session_id = ?1 AND seq = ?2")
        .unwrap();
    for event in killed.events.iter().filter(|e| !e.kind.is_transient()) {
        let stored: Option<(String, String)> = select
            .query_row(
                rusqlite::params![event.session_id.as_str(), event.seq],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .unwrap();
        let Some((kind, body)) = stored else {
            panic!(
                "{context}: event {} (`{}`) was printed but is not in the database\n--- stderr\n{}",
                event.seq,
                event.kind.name(),
                killed.stderr
            );
        };
        assert_eq!(kind, event.kind.name(), "{context}: event {}", event.seq);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            serde_json::to_value(&event.kind).unwrap(),
            "{context}: event {}",
            event.seq
        );
    }
}

#[test]
fn kill_9_at_random_points_never_corrupts_the_database_or_loses_a_reported_event() {
    let project = Project::new();
    let whole = run_and_kill(&project, None, 0);
    let total = whole.events.len();
    assert!(
        matches!(
            whole.events.last().map(|e| &e.kind),
            Some(EventKind::TurnFinished {
                reason: TurnEndReason::Completed,
                ..
            })
        ),
        "the uninterrupted run did not complete:\n{}",
        whole.stderr
    );
    check_database(&project, &whole, "the uninterrupted run");

    let mut rng = fastrand::Rng::with_seed(SEED);
    for kill_index in 0..KILLS {
        // One kill point in each of KILLS equal slices of the run: early, middle and late.
        let low = 1 + (kill_index as usize * total) / KILLS as usize;
        let high = (((kill_index + 1) as usize * total) / KILLS as usize).max(low);
        let kill_after = rng.usize(low..=high);
        let extra_ms = rng.u64(0..6);
        let context = format!(
            "seed {SEED:#x}, kill {kill_index}: after {kill_after} of {total} events + {extra_ms} ms"
        );
        let killed = run_and_kill(&project, Some(kill_after), extra_ms);
        check_database(&project, &killed, &context);
        let replay = Outcome::from(
            project
                .command(None)
                .args(["sessions", "replay", "--all"])
                .output()
                .unwrap(),
        );
        assert_eq!(
            replay.code,
            Some(0),
            "{context}: the replay check failed\n{}{}",
            replay.stdout,
            replay.stderr
        );
        if kill_index % 3 == 1 {
            let server = serve(vec![Turn::reply("Recovered.")]);
            let resumed = project.run(&server, &["run", "-c", "--yes", "carry on"]);
            assert_eq!(
                resumed.code,
                Some(0),
                "{context}: `run -c` after the kill failed\n{}",
                resumed.stderr
            );
            assert_eq!(resumed.stdout, "Recovered.\n", "{context}");
            if let Err(err) = server.verify() {
                panic!("{context}: the resumed session's request was wrong:\n{err}");
            }
        }
    }
}

/// Three tool calls (two writes and a command) and an answer, for one of two parallel runs.
fn parallel_script(name: &str) -> Vec<Turn> {
    vec![
        Turn::call(
            "write",
            json!({"path": format!("{name}-1.txt"), "content": format!("{name} one\n")}),
        )
        .with_delay_ms(20),
        Turn::call(
            "bash",
            json!({"command": format!("cat {name}-1.txt > {name}-2.txt && echo {name} >> shared.log")}),
        )
        .with_delay_ms(20),
        Turn::call(
            "write",
            json!({"path": format!("{name}-3.txt"), "content": format!("{name} three\n")}),
        )
        .with_delay_ms(20),
        Turn::reply(format!("{name} finished."))
            .with_delay_ms(20)
            .with_chunk_delay_ms(2),
    ]
}

#[test]
fn two_runs_at_once_share_one_database() {
    let project = Project::new();
    let servers = [
        serve(parallel_script("left")),
        serve(parallel_script("right")),
    ];
    let children: Vec<Child> = servers
        .iter()
        .zip(["left", "right"])
        .map(|(server, name)| {
            spawn_run(
                &project,
                &server.base_url(),
                &["run", "--yes", "--json", &format!("make the {name} files")],
            )
        })
        .collect();
    let outcomes: Vec<Outcome> = children
        .into_iter()
        .map(|child| Outcome::from(child.wait_with_output().unwrap()))
        .collect();
    let connection = Connection::open(project.code_mesh_home().join("data/code-mesh.db")).unwrap();
    let mut ids = Vec::new();
    for (outcome, server) in outcomes.iter().zip(&servers) {
        outcome.assert_code(0);
        assert_verified(server);
        let events: Vec<Event> = outcome
            .stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(matches!(
            events.last().map(|e| &e.kind),
            Some(EventKind::TurnFinished {
                reason: TurnEndReason::Completed,
                steps: 4,
                ..
            })
        ));
        let id = events[0].session_id.clone();
        let stored: u64 = connection
            .query_row(
                "SELECT count(*) FROM events WHERE session_id = ?1",
                [id.as_str()],
                |row| row.get(0),
            )
            .unwrap();
        let persistent = events.iter().filter(|e| !e.kind.is_transient()).count() as u64;
        assert_eq!(stored, persistent, "session {id}");
        let messages: u64 = connection
            .query_row(
                "SELECT message_count FROM sessions WHERE id = ?1",
                [id.as_str()],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(messages, 8, "a prompt, 4 answers and 3 sets of results");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(project.read("left-2.txt"), "left one\n");
    assert_eq!(project.read("right-2.txt"), "right one\n");
    let log = project.read("shared.log");
    assert!(log.contains("left\n") && log.contains("right\n"), "{log}");
    let replay = Outcome::from(
        project
            .command(None)
            .args(["sessions", "replay", "--all"])
            .output()
            .unwrap(),
    );
    replay.assert_code(0);
    assert_eq!(replay.stdout.lines().count(), 2, "{}", replay.stdout);
}
