//! The swarm's git side for the engine: [`GitSwarm`] implements
//! `code_mesh_core::orchestra::SwarmWorkspace` over [`CandidateWorktrees`],
//! [`run_baseline`], [`evaluate_candidate`] and [`apply_winner`].
//!
//! One worktree more than there are candidates is made: the last is the Tester's. Its
//! reproduction tests are the files it added or changed whose path has `test` or `spec` in
//! it; other files it changed are left out (they would overwrite a candidate's change).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::orchestra::{
    ReproductionFiles, SwarmCheckouts, SwarmEvaluation, SwarmPlace, SwarmStepError, SwarmWorkspace,
};
use code_mesh_core::{FileTracker, ToolContext, ToolLimits, ToolOutputSink};
use tokio_util::sync::CancellationToken;

use super::{
    Baseline, CandidateWorktree, CandidateWorktrees, EvaluationSettings, ReproductionTests,
    SwarmError, TestRun, apply_winner, blocking, evaluate_candidate, git, run_baseline,
};
use crate::ProjectSettings;

/// Swarm checkouts as git worktrees of the user's repository; test runs through the process
/// runner under the run's sandbox.
#[derive(Clone, Debug)]
pub struct GitSwarm {
    /// The `[tools]` test settings.
    pub project: ProjectSettings,
    /// Longest one test run may take.
    pub test_timeout: Duration,
    pub limits: ToolLimits,
}

impl GitSwarm {
    pub fn new(project: ProjectSettings, test_timeout: Duration, limits: ToolLimits) -> Self {
        GitSwarm {
            project,
            test_timeout,
            limits,
        }
    }
}

#[async_trait]
impl SwarmWorkspace for GitSwarm {
    async fn prepare(
        &self,
        run: &str,
        candidates: usize,
        user: &SwarmPlace,
    ) -> Result<Box<dyn SwarmCheckouts>, SwarmStepError> {
        let set = CandidateWorktrees::create(&user.workspace, run, candidates + 1)
            .await
            .map_err(step_error)?;
        Ok(Box::new(GitCheckouts {
            set: Some(set),
            candidates,
            user: user.clone(),
            settings: EvaluationSettings {
                project: self.project.clone(),
                timeout: self.test_timeout,
                reproduction: ReproductionTests::default(),
            },
            limits: self.limits,
            baseline: None,
            diffs: HashMap::new(),
        }))
    }
}

/// One swarm turn's worktrees.
struct GitCheckouts {
    /// `None` once removed.
    set: Option<CandidateWorktrees>,
    candidates: usize,
    user: SwarmPlace,
    settings: EvaluationSettings,
    limits: ToolLimits,
    baseline: Option<Baseline>,
    /// Each evaluated candidate's diff, for [`SwarmCheckouts::apply`].
    diffs: HashMap<usize, Vec<u8>>,
}

fn step_error(error: SwarmError) -> SwarmStepError {
    match error {
        SwarmError::Cancelled => SwarmStepError::Cancelled,
        other => SwarmStepError::Failed(other.to_string()),
    }
}

fn gone() -> SwarmStepError {
    SwarmStepError::Failed("the swarm's worktrees were already removed".into())
}

impl GitCheckouts {
    fn set(&self) -> Result<&CandidateWorktrees, SwarmStepError> {
        self.set.as_ref().ok_or_else(gone)
    }

    fn place(&self, worktree: &CandidateWorktree) -> SwarmPlace {
        let relative = self
            .user
            .cwd
            .strip_prefix(&self.user.workspace)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        SwarmPlace {
            workspace: worktree.workspace().to_path_buf(),
            cwd: worktree.workspace().join(relative),
            sandbox: worktree.sandbox_policy(&self.user.sandbox),
        }
    }

    fn context(&self, cancel: CancellationToken) -> ToolContext {
        ToolContext {
            session_id: Default::default(),
            workspace: self.user.workspace.clone(),
            cwd: self.user.cwd.clone(),
            allowed_paths: Vec::new(),
            call_id: "swarm-evaluation".into(),
            cancel,
            limits: self.limits,
            sandbox: self.user.sandbox.clone(),
            files: Arc::new(FileTracker::new()),
            output: ToolOutputSink::discard(),
        }
    }
}

#[async_trait]
impl SwarmCheckouts for GitCheckouts {
    fn candidates(&self) -> Vec<SwarmPlace> {
        self.set
            .as_ref()
            .map(|set| {
                set.candidates()
                    .iter()
                    .take(self.candidates)
                    .map(|worktree| self.place(worktree))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn tester(&self) -> SwarmPlace {
        match self
            .set
            .as_ref()
            .and_then(|set| set.candidates().get(self.candidates))
        {
            Some(worktree) => self.place(worktree),
            None => self.user.clone(),
        }
    }

    async fn take_reproduction_tests(&mut self) -> Result<ReproductionFiles, SwarmStepError> {
        let set = self.set()?;
        let tester = set
            .candidates()
            .get(self.candidates)
            .ok_or_else(gone)?
            .workspace()
            .to_path_buf();
        let start = set.start().to_owned();
        let from = tester.clone();
        let changed = blocking(move || changed_files(&tester, &start))
            .await
            .map_err(step_error)?;
        let (tests, ignored): (Vec<String>, Vec<String>) =
            changed.into_iter().partition(|path| is_test_path(path));
        self.settings.reproduction = ReproductionTests {
            from,
            files: tests.iter().map(PathBuf::from).collect(),
        };
        Ok(ReproductionFiles { tests, ignored })
    }

    async fn run_baseline(&mut self, cancel: CancellationToken) -> Result<String, SwarmStepError> {
        let context = self.context(cancel);
        let set = self.set()?;
        let baseline = run_baseline(set.baseline(), &self.settings, &context)
            .await
            .map_err(step_error)?;
        let line = describe(&baseline.run);
        self.baseline = Some(baseline);
        Ok(line)
    }

    async fn evaluate(
        &mut self,
        number: usize,
        cancel: CancellationToken,
    ) -> Result<SwarmEvaluation, SwarmStepError> {
        let context = self.context(cancel);
        let set = self.set()?;
        let worktree = set
            .candidates()
            .get(number)
            .filter(|_| number < self.candidates)
            .ok_or_else(|| SwarmStepError::Failed(format!("there is no candidate {number}")))?;
        let baseline = self
            .baseline
            .as_ref()
            .ok_or_else(|| SwarmStepError::Failed("the baseline tests have not run yet".into()))?;
        let evaluation =
            evaluate_candidate(worktree, set.start(), baseline, &self.settings, &context)
                .await
                .map_err(step_error)?;
        let result = SwarmEvaluation {
            report: evaluation.report,
            diff: String::from_utf8_lossy(&evaluation.diff).into_owned(),
            tests: describe(&evaluation.run),
        };
        self.diffs.insert(number, evaluation.diff);
        Ok(result)
    }

    async fn apply(&mut self, number: usize) -> Result<Vec<String>, SwarmStepError> {
        let set = self.set()?;
        let diff = self.diffs.get(&number).ok_or_else(|| {
            SwarmStepError::Failed(format!("candidate {number} was not evaluated"))
        })?;
        let applied = apply_winner(set.repository(), diff)
            .await
            .map_err(step_error)?;
        Ok(applied.files)
    }

    async fn remove(mut self: Box<Self>) -> Result<(), SwarmStepError> {
        match self.set.take() {
            Some(set) => set.remove().await.map_err(step_error),
            None => Ok(()),
        }
    }
}

/// One line on a test run.
fn describe(run: &TestRun) -> String {
    let command = if run.command.is_empty() {
        "the tests".to_owned()
    } else {
        format!("`{}`", run.command)
    };
    match &run.not_run {
        Some(reason) => format!("{command} gave no result: {reason}"),
        None => {
            let mut line = format!("{command}: {} passed, {} failed", run.passed, run.failed);
            if run.ignored > 0 {
                line.push_str(&format!(", {} ignored", run.ignored));
            }
            line
        }
    }
}

/// Whether a path looks like a test file (`tests/x.rs`, `foo_test.go`, `a.spec.ts`).
fn is_test_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("test") || lower.contains("spec")
}

/// Files added or changed in the working tree at `workspace` against `start`, relative to
/// `workspace` (git's own index is left as it is).
fn changed_files(workspace: &Path, start: &str) -> Result<Vec<String>, SwarmError> {
    let scratch = tempfile::tempdir()
        .map_err(|e| SwarmError::Io(format!("cannot create a temporary directory: {e}")))?;
    let index = scratch.path().join("index");
    let env = [("GIT_INDEX_FILE", index.as_os_str())];
    git(workspace, &["read-tree", start], &env)?;
    git(workspace, &["add", "--all", "--", "."], &env)?;
    let names = git(
        workspace,
        &[
            "diff",
            "--cached",
            "--name-only",
            "-z",
            "--relative",
            "--diff-filter=AM",
            "--no-renames",
            start,
        ],
        &env,
    )?;
    Ok(String::from_utf8_lossy(&names)
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::fs;
    use std::process::Command;

    use code_mesh_core::SandboxPolicy;
    use code_mesh_core::orchestra::SwarmWorkspace;

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
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

    /// A repository whose TAP runner runs every `tests/*.sh`; `tests/keep.sh` passes.
    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "--quiet", "--initial-branch=main"]);
        fs::write(
            root.join("run_tests.sh"),
            "n=0; fail=0\nfor t in tests/*.sh; do n=$((n+1)); if sh \"$t\" >/dev/null 2>&1; then echo \"ok $n - $t\"; else fail=$((fail+1)); echo \"not ok $n - $t\"; fi; done\necho \"# tests $n\"; echo \"# pass $((n-fail))\"; echo \"# fail $fail\"\n[ \"$fail\" -eq 0 ]\n",
        )
        .unwrap();
        fs::create_dir_all(root.join("tests")).unwrap();
        fs::write(root.join("tests/keep.sh"), "grep -q keep keep.txt\n").unwrap();
        fs::write(root.join("keep.txt"), "keep\n").unwrap();
        fs::write(root.join("value.txt"), "41\n").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "--quiet", "-m", "start"]);
        dir
    }

    fn backend() -> GitSwarm {
        GitSwarm::new(
            ProjectSettings {
                test_runner: "sh run_tests.sh".into(),
                ..ProjectSettings::default()
            },
            Duration::from_secs(60),
            ToolLimits::default(),
        )
    }

    fn user(root: &Path) -> SwarmPlace {
        let root = root.canonicalize().unwrap();
        SwarmPlace {
            workspace: root.clone(),
            cwd: root,
            sandbox: SandboxPolicy {
                mode: code_mesh_protocol::SandboxMode::Off,
                ..SandboxPolicy::default()
            },
        }
    }

    fn worktree_count(root: &Path) -> usize {
        git(root, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count()
    }

    #[tokio::test]
    async fn the_tester_tests_judge_candidates_and_only_the_winner_is_applied() {
        let dir = repo();
        let root = dir.path();
        let mut checkouts = backend().prepare("t1", 3, &user(root)).await.unwrap();
        let places = checkouts.candidates();
        assert_eq!(places.len(), 3);
        // Candidates and the Tester, plus the baseline.
        assert_eq!(worktree_count(root), 1 + 3 + 1 + 1);
        let tester = checkouts.tester();
        assert!(!places.contains(&tester));
        assert!(
            places[1]
                .sandbox
                .writable_roots
                .contains(&places[1].workspace)
        );

        fs::write(
            tester.workspace.join("tests/value.sh"),
            "grep -qx 42 value.txt\n",
        )
        .unwrap();
        fs::write(tester.workspace.join("notes.txt"), "not a test\n").unwrap();
        fs::write(places[0].workspace.join("value.txt"), "42\n").unwrap();
        fs::write(places[1].workspace.join("value.txt"), "43\n").unwrap();
        fs::write(places[1].workspace.join("keep.txt"), "gone\n").unwrap();

        let files = checkouts.take_reproduction_tests().await.unwrap();
        assert_eq!(files.tests, ["tests/value.sh"]);
        assert_eq!(files.ignored, ["notes.txt"]);
        let baseline = checkouts
            .run_baseline(CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(baseline, "`sh run_tests.sh`: 1 passed, 1 failed");

        let good = checkouts
            .evaluate(0, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!((good.report.passed, good.report.failed), (2, 0));
        assert!(good.report.breaks.is_empty());
        assert!(good.diff.contains("+42"), "{}", good.diff);
        let bad = checkouts
            .evaluate(1, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(bad.report.breaks, ["tests/keep.sh"]);
        let empty = checkouts
            .evaluate(2, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(empty.report.diff_bytes, 0);

        let changed = checkouts.apply(0).await.unwrap();
        assert_eq!(changed, ["value.txt"]);
        checkouts.remove().await.unwrap();
        assert_eq!(fs::read_to_string(root.join("value.txt")).unwrap(), "42\n");
        assert_eq!(fs::read_to_string(root.join("keep.txt")).unwrap(), "keep\n");
        // The Tester's test is not part of the winner's change.
        assert!(!root.join("tests/value.sh").exists());
        assert_eq!(worktree_count(root), 1);
    }

    #[tokio::test]
    async fn a_cancelled_evaluation_stops_and_dropping_removes_the_worktrees() {
        let dir = repo();
        let root = dir.path();
        let mut checkouts = backend().prepare("t2", 2, &user(root)).await.unwrap();
        checkouts
            .run_baseline(CancellationToken::new())
            .await
            .unwrap();
        let cancel = CancellationToken::new();
        cancel.cancel();
        let error = checkouts.evaluate(0, cancel).await.unwrap_err();
        assert_eq!(error, SwarmStepError::Cancelled);
        drop(checkouts);
        assert_eq!(worktree_count(root), 1);
    }

    #[tokio::test]
    async fn a_folder_outside_git_is_refused_with_the_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let error = backend()
            .prepare("t3", 2, &user(dir.path()))
            .await
            .err()
            .unwrap();
        let SwarmStepError::Failed(message) = error else {
            panic!("{error:?}");
        };
        assert!(
            message.contains("is not inside a git repository"),
            "{message}"
        );
    }
}
