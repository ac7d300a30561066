//! `run --strategy swarm` through the binary in a real git repository: four candidates, each
//! on its own model served by the scripted server, each writing a different change in its
//! own worktree; the project's `./test.sh` keeps exactly one; its change, and only it, lands
//! in the working tree. And Ctrl-C mid-swarm leaves no worktree and no process behind.

use std::process::Command;
use std::time::{Duration, Instant};

use code_mesh_protocol::{Event, EventKind, TurnEndReason};
use code_mesh_testkit::Turn;
use serde_json::json;

use crate::cancel::{interrupt_when, processes_with};
use crate::harness::*;

/// Runs every `tests/*.sh` and reports TAP; fails when one fails.
const TEST_SH: &str = r##"#!/bin/sh
n=0; pass=0; fail=0
for t in tests/*.sh; do
  n=$((n+1))
  if sh "$t" >/dev/null 2>&1; then pass=$((pass+1)); echo "ok $n - $t"
  else fail=$((fail+1)); echo "not ok $n - $t"; fi
done
echo "# tests $n"; echo "# pass $pass"; echo "# fail $fail"
[ "$fail" -eq 0 ]
"##;

fn git(project: &Project, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(project.dir())
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A committed project: `value.txt` says `keep 41`; `tests/keep.sh` passes while it starts
/// with `keep`. Four candidate models, one reviewer, room for every agent at once.
fn project() -> Project {
    let project = Project::new();
    project.write("test.sh", TEST_SH);
    let test_sh = project.dir().join("test.sh");
    let mut permissions = std::fs::metadata(&test_sh).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&test_sh, permissions).unwrap();
    project.write("tests/keep.sh", "grep -q '^keep' value.txt\n");
    project.write("value.txt", "keep 41\n");
    project.write(
        "code-mesh.toml",
        "[tools]\ntest_runner = \"./test.sh\"\n\n[agents]\nmax_count = 8\nswarm_reviewers = 1\n\
         swarm_models = [\"openai/cand-0\", \"openai/cand-1\", \"openai/cand-2\", \"openai/cand-3\"]\n",
    );
    git(&project, &["add", "-A"]);
    git(&project, &["commit", "--quiet", "-m", "start"]);
    project
}

fn events(stdout: &str) -> Vec<Event> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn worktrees(project: &Project) -> usize {
    git(project, &["worktree", "list", "--porcelain"])
        .matches("worktree ")
        .count()
}

fn write_value(n: usize, content: &str) -> [Turn; 2] {
    [
        Turn::call("write", json!({"path": "value.txt", "content": content}))
            .for_model(format!("cand-{n}"))
            .expect_system_contains(format!("You are candidate {n} of 4")),
        Turn::reply(format!("Candidate {n} wrote `{}`.", content.trim()))
            .for_model(format!("cand-{n}"))
            .expect_tool_result_contains("value.txt"),
    ]
}

#[test]
fn a_swarm_of_four_applies_exactly_the_one_candidate_that_passes_the_tests() {
    let project = project();
    let mut script = vec![
        Turn::call(
            "write",
            json!({"path": "tests/value.sh", "content": "grep -qx 'keep 42' value.txt\n"}),
        )
        .for_agent("tester")
        .expect_last_user_contains("Write reproduction tests"),
        Turn::reply("Wrote tests/value.sh.").for_agent("tester"),
    ];
    for (n, content) in ["drop 40\n", "keep 42\n", "lost 43\n", "\n"]
        .iter()
        .enumerate()
    {
        script.extend(write_value(n, content));
    }
    let server = serve(script);
    let outcome = project.run(
        &server,
        &[
            "run",
            "--yes",
            "--json",
            "--strategy",
            "swarm",
            "--agents",
            "4",
            "make the value 42",
        ],
    );
    outcome.assert_code(0);
    assert_verified(&server);

    // Exactly the winner's change is in the working tree; the Tester's test is not.
    assert_eq!(project.read("value.txt"), "keep 42\n");
    assert!(!exists(&project.dir().join("tests/value.sh")));
    assert_eq!(git(&project, &["status", "--porcelain"]), " M value.txt\n");
    assert_eq!(worktrees(&project), 1);

    let events = events(&outcome.stdout);
    let lines: Vec<String> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskCreated { task } => Some(format!("created {} {}", task.id, task.agent)),
            EventKind::TaskCompleted { task, .. } => Some(format!("done {task}")),
            EventKind::TaskFailed { task, reason } => Some(format!("failed {task}: {reason}")),
            _ => None,
        })
        .collect();
    let breaks = |n: usize| {
        format!(
            "failed task_{}: candidate {n} was dropped: it breaks 1 test that passed before: tests/keep.sh",
            n + 2
        )
    };
    assert_eq!(
        lines,
        [
            "created task_1 tester".to_owned(),
            "created task_2 coder".to_owned(),
            "created task_3 coder".to_owned(),
            "created task_4 coder".to_owned(),
            "created task_5 coder".to_owned(),
            "done task_1".to_owned(),
            breaks(0),
            "done task_3".to_owned(),
            breaks(2),
            breaks(3),
        ]
    );
    let spawned: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AgentSpawned { agent } => Some(agent.model.clone()),
            _ => None,
        })
        .collect();
    for n in 0..4 {
        assert!(spawned.contains(&format!("openai/cand-{n}")), "{spawned:?}");
    }
    let answer = events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::MessageAdded { message } => Some(message.text()),
            _ => None,
        })
        .unwrap();
    assert!(
        answer.contains("The swarm chose candidate 1 (openai/cand-1"),
        "{answer}"
    );
    assert!(answer.contains("Files changed: value.txt."), "{answer}");
    assert!(
        answer.contains("Reproduction tests by the Tester: tests/value.sh."),
        "{answer}"
    );
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::TurnFinished {
            reason: TurnEndReason::Completed,
            ..
        }
    ));
}

#[test]
fn ctrl_c_mid_swarm_leaves_no_worktree_and_no_process_behind() {
    let project = project();
    // Unique to this test process, so nothing left by another run is counted.
    let marker = |n: usize| format!("301.{}{n}", std::process::id());
    let mut script = vec![Turn::reply("No tests needed.").for_agent("tester")];
    for n in 0..4 {
        script.push(
            Turn::call(
                "bash",
                json!({"command": format!("echo started; sleep {} ; echo never", marker(n))}),
            )
            .for_model(format!("cand-{n}")),
        );
    }
    let server = serve(script);
    let outcome = interrupt_when(
        &project,
        &server.base_url(),
        &[
            "run",
            "--yes",
            "--json",
            "--strategy",
            "swarm",
            "--agents",
            "4",
            "wait",
        ],
        |_| (0..4).all(|n| processes_with(&marker(n)) > 0),
    );
    outcome.assert_code(130);
    assert_eq!(worktrees(&project), 1);
    assert!(
        !project.dir().join(".git/code-mesh-worktrees").exists()
            || std::fs::read_dir(project.dir().join(".git/code-mesh-worktrees"))
                .unwrap()
                .next()
                .is_none()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while (0..4).any(|n| processes_with(&marker(n)) > 0) {
        assert!(
            Instant::now() < deadline,
            "a candidate's `sleep` survived the cancel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(project.read("value.txt"), "keep 41\n");
    let events = events(&outcome.stdout);
    let cancelled = events
        .iter()
        .filter(
            |e| matches!(&e.kind, EventKind::TaskFailed { reason, .. } if reason == "cancelled"),
        )
        .count();
    assert_eq!(cancelled, 4, "{}", outcome.stdout);
}
