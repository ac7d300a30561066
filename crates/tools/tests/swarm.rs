//! The swarm's building blocks on real repositories: worktrees from the user's dirty tree,
//! their removal on every way out, evaluation by a small TAP test runner, and applying the
//! winner.

use std::fs;
use std::path::Path;
use std::time::Duration;

use code_mesh_core::consensus::{DropReason, choose};
use code_mesh_tools::ProjectSettings;
use code_mesh_tools::swarm::{
    CandidateWorktrees, EvaluationSettings, ReproductionTests, SwarmError, apply_winner,
    evaluate_candidate, run_baseline,
};
use pretty_assertions::assert_eq;

use crate::git::{git, init_repo};
use crate::support::Workspace;

/// Runs every `tests/*.sh` and reports TAP; exit code 1 when one fails.
const RUNNER: &str = r##"n=0; pass=0; fail=0
for t in tests/*.sh; do
  n=$((n+1))
  if sh "$t" >/dev/null 2>&1; then pass=$((pass+1)); echo "ok $n - $t"
  else fail=$((fail+1)); echo "not ok $n - $t"; fi
done
echo "# tests $n"; echo "# pass $pass"; echo "# fail $fail"
[ "$fail" -eq 0 ]
"##;

/// A committed project whose `value` test fails and `name` test passes, with uncommitted
/// changes on top: a modified tracked file, a staged new file and an untracked file.
fn dirty_repo() -> Workspace {
    let workspace = Workspace::new();
    init_repo(&workspace.root);
    workspace.write("run_tests.sh", RUNNER);
    workspace.write("value.txt", "41\n");
    workspace.write("name.txt", "ada\n");
    workspace.write("tests/value.sh", "grep -qx 42 value.txt\n");
    workspace.write("tests/name.sh", "grep -q ada name.txt\n");
    git(&workspace.root, &["add", "-A"]);
    git(
        &workspace.root,
        &["commit", "--quiet", "-m", "Initial commit"],
    );
    workspace.write("name.txt", "ada\nlovelace\n");
    workspace.write("staged.txt", "staged\n");
    git(&workspace.root, &["add", "staged.txt"]);
    workspace.write("notes/untracked.txt", "mine\n");
    workspace
}

fn assert_no_swarm_left(root: &Path) {
    let listing = git(root, &["worktree", "list", "--porcelain"]);
    assert_eq!(listing.matches("worktree ").count(), 1, "{listing}");
    assert_eq!(git(root, &["branch", "--list"]), "* main\n");
    assert_eq!(
        git(root, &["for-each-ref", "--format=%(refname)"]),
        "refs/heads/main\n"
    );
    assert!(!root.join(".git/code-mesh-worktrees").exists());
    assert!(
        !root.join(".git/worktrees").exists()
            || fs::read_dir(root.join(".git/worktrees"))
                .unwrap()
                .next()
                .is_none()
    );
}

fn settings(reproduction: ReproductionTests) -> EvaluationSettings {
    EvaluationSettings {
        project: ProjectSettings {
            test_runner: "sh run_tests.sh".into(),
            ..ProjectSettings::default()
        },
        timeout: Duration::from_secs(120),
        reproduction,
    }
}

#[tokio::test]
async fn worktrees_start_from_the_dirty_tree_and_are_removed() {
    let workspace = dirty_repo();
    let status_before = git(&workspace.root, &["status", "--porcelain"]);
    let set = CandidateWorktrees::create(&workspace.root, "r1", 2)
        .await
        .unwrap();
    assert_eq!(set.candidates().len(), 2);
    for (n, candidate) in set.candidates().iter().enumerate() {
        assert_eq!(candidate.number, n);
        assert!(
            candidate
                .path
                .ends_with(format!(".git/code-mesh-worktrees/swarm-r1-{n}"))
        );
        let read = |p: &str| fs::read_to_string(candidate.workspace().join(p)).unwrap();
        assert_eq!(read("name.txt"), "ada\nlovelace\n");
        assert_eq!(read("staged.txt"), "staged\n");
        assert_eq!(read("notes/untracked.txt"), "mine\n");
        assert_eq!(read("value.txt"), "41\n");
        let roots = candidate.writable_roots();
        assert_eq!(roots[0], candidate.path);
        assert!(
            roots[1].ends_with(format!(".git/worktrees/swarm-r1-{n}")),
            "{roots:?}"
        );
    }
    assert!(set.baseline().path.ends_with("swarm-r1-baseline"));
    // The user's index, HEAD and files are untouched.
    assert_eq!(
        git(&workspace.root, &["status", "--porcelain"]),
        status_before
    );
    set.remove().await.unwrap();
    assert_no_swarm_left(&workspace.root);
    assert_eq!(
        git(&workspace.root, &["status", "--porcelain"]),
        status_before
    );
}

#[tokio::test]
async fn dropping_the_set_removes_every_worktree_even_with_changes_in_them() {
    let workspace = dirty_repo();
    let set = CandidateWorktrees::create(&workspace.root, "drop", 3)
        .await
        .unwrap();
    fs::write(set.candidates()[1].path.join("new.txt"), "work\n").unwrap();
    drop(set);
    assert_no_swarm_left(&workspace.root);
}

#[tokio::test]
async fn a_failed_creation_removes_the_worktrees_already_made() {
    let workspace = dirty_repo();
    let blocker = workspace.root.join(".git/code-mesh-worktrees/swarm-x-1");
    fs::create_dir_all(&blocker).unwrap();
    let error = CandidateWorktrees::create(&workspace.root, "x", 3)
        .await
        .unwrap_err();
    assert!(matches!(error, SwarmError::Invalid(_)), "{error}");
    assert!(error.to_string().contains("already exists"), "{error}");
    assert!(
        !workspace
            .root
            .join(".git/code-mesh-worktrees/swarm-x-0")
            .exists()
    );
    fs::remove_dir_all(workspace.root.join(".git/code-mesh-worktrees")).unwrap();
    assert_no_swarm_left(&workspace.root);
}

#[tokio::test]
async fn a_directory_outside_git_is_refused() {
    let workspace = Workspace::new();
    let error = CandidateWorktrees::create(&workspace.root, "r", 2)
        .await
        .unwrap_err();
    assert!(matches!(error, SwarmError::NotARepository(_)), "{error}");
    assert!(
        error.to_string().contains("is not inside a git repository"),
        "{error}"
    );
}

#[tokio::test]
async fn evaluation_tells_a_fix_from_a_break_from_no_change_and_the_winner_is_applied() {
    let workspace = dirty_repo();
    let tester = tempfile::tempdir().unwrap();
    fs::create_dir_all(tester.path().join("tests")).unwrap();
    fs::write(
        tester.path().join("tests/repro.sh"),
        "grep -qx 42 value.txt\n",
    )
    .unwrap();
    let settings = settings(ReproductionTests {
        from: tester.path().to_path_buf(),
        files: vec!["tests/repro.sh".into()],
    });
    let set = CandidateWorktrees::create(&workspace.root, "eval", 3)
        .await
        .unwrap();
    let [fixer, breaker, idle] = set.candidates() else {
        panic!("three candidates")
    };
    fs::write(fixer.path.join("value.txt"), "42\n").unwrap();
    fs::write(fixer.path.join("added.txt"), "new file\n").unwrap();
    fs::write(breaker.path.join("name.txt"), "grace\n").unwrap();

    let baseline = run_baseline(set.baseline(), &settings, &workspace.context)
        .await
        .unwrap();
    assert_eq!(baseline.run.not_run, None, "{}", baseline.run.output);
    assert_eq!((baseline.run.passed, baseline.run.failed), (1, 2));
    assert_eq!(baseline.run.exit_code, Some(1));

    let mut evaluations = Vec::new();
    for candidate in [fixer, breaker, idle] {
        evaluations.push(
            evaluate_candidate(
                candidate,
                set.start(),
                &baseline,
                &settings,
                &workspace.context,
            )
            .await
            .unwrap(),
        );
    }
    let [fixed, broke, nothing] = &evaluations[..] else {
        unreachable!()
    };
    assert_eq!((fixed.report.passed, fixed.report.failed), (3, 0));
    assert_eq!(fixed.report.exit_code, Some(0));
    assert_eq!(
        fixed.report.newly_passing,
        ["tests/repro.sh", "tests/value.sh"]
    );
    assert!(fixed.report.breaks.is_empty());
    let diff = String::from_utf8(fixed.diff.clone()).unwrap();
    assert!(diff.contains("-41\n+42"), "{diff}");
    assert!(diff.contains("added.txt"), "{diff}");
    assert!(
        !diff.contains("repro.sh"),
        "reproduction tests stay out of the diff: {diff}"
    );
    assert_eq!(fixed.report.diff_bytes, fixed.diff.len() as u64);

    assert_eq!(broke.report.breaks, ["tests/name.sh"]);
    assert!(broke.report.newly_passing.is_empty());
    assert!(nothing.report.is_empty_diff());
    assert!(nothing.diff.is_empty());
    assert!(nothing.report.breaks.is_empty());

    let reports: Vec<_> = evaluations.iter().map(|e| e.report.clone()).collect();
    let decision = choose(&reports, &[]);
    assert_eq!(decision.winner, Some(0));
    assert_eq!(
        decision
            .dropped
            .iter()
            .map(|d| d.reason.clone())
            .collect::<Vec<_>>(),
        [
            DropReason::BreaksTests {
                tests: vec!["tests/name.sh".into()]
            },
            DropReason::NoChanges
        ]
    );

    let applied = apply_winner(set.repository(), &fixed.diff).await.unwrap();
    assert_eq!(applied.files, ["added.txt", "value.txt"]);
    set.remove().await.unwrap();
    assert_no_swarm_left(&workspace.root);
    // Exactly the winner's change, on top of the user's own uncommitted changes.
    assert_eq!(workspace.read("value.txt"), "42\n");
    assert_eq!(workspace.read("added.txt"), "new file\n");
    assert_eq!(workspace.read("name.txt"), "ada\nlovelace\n");
    assert_eq!(workspace.read("notes/untracked.txt"), "mine\n");
    assert!(!workspace.path("tests/repro.sh").exists());
    assert_eq!(
        git(&workspace.root, &["status", "--porcelain"]),
        " M name.txt\nA  staged.txt\n M value.txt\n?? added.txt\n?? notes/\n"
    );
}

#[tokio::test]
async fn a_diff_that_no_longer_applies_leaves_the_tree_untouched() {
    let workspace = dirty_repo();
    let set = CandidateWorktrees::create(&workspace.root, "late", 1)
        .await
        .unwrap();
    let candidate = &set.candidates()[0];
    fs::write(candidate.path.join("value.txt"), "42\n").unwrap();
    fs::write(candidate.path.join("other.txt"), "other\n").unwrap();
    let evaluation = evaluate_candidate(
        candidate,
        set.start(),
        &run_baseline(
            set.baseline(),
            &settings(ReproductionTests::default()),
            &workspace.context,
        )
        .await
        .unwrap(),
        &settings(ReproductionTests::default()),
        &workspace.context,
    )
    .await
    .unwrap();
    set.remove().await.unwrap();
    // The user edits the same file meanwhile.
    workspace.write("value.txt", "40\n");
    let status = git(&workspace.root, &["status", "--porcelain"]);
    let error = apply_winner(&workspace.root, &evaluation.diff)
        .await
        .unwrap_err();
    assert!(matches!(error, SwarmError::DoesNotApply { .. }), "{error}");
    assert!(error.to_string().contains("left untouched"), "{error}");
    assert_eq!(workspace.read("value.txt"), "40\n");
    assert!(!workspace.path("other.txt").exists(), "all or nothing");
    assert_eq!(git(&workspace.root, &["status", "--porcelain"]), status);

    let error = apply_winner(&workspace.root, b"").await.unwrap_err();
    assert!(error.to_string().contains("changed nothing"), "{error}");
}
