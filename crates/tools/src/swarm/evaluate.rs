//! Running the project's tests in a worktree and comparing a candidate's run with the
//! baseline's (the same tests on the unchanged start state, run once).
//!
//! The command is the one `run_tests` would run there (project detection and `[tools]
//! test_runner`), run through the shared process runner with the worktree as the workspace,
//! and its output read by the same parser. Reproduction tests a Tester wrote are copied into
//! the worktree first, the baseline's too, so "newly passing" shows which of them a candidate
//! fixed. The candidate's diff is taken before the copy and before the tests run, so neither
//! the reproduction tests nor files the test run writes end up in it.
//!
//! A test "breaks" when it passed in the baseline and fails with the candidate's change. When
//! the runner names no passing tests (pytest's `-q`, a script printing counts), a break is a
//! named failure the baseline did not have, or, when no failure is named either, more failing
//! tests than the baseline.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use code_mesh_core::ToolContext;
use code_mesh_core::consensus::CandidateReport;

use super::worktree::CandidateWorktree;
use super::{SwarmError, git};
use crate::process::{self, Ending, Run, RunOptions};
use crate::project::ProjectSettings;
use crate::project::detect::{self, Action, Request};
use crate::project::parse::OutputParser;

/// Bytes of the test output kept (head and tail) in a [`TestRun`].
const KEPT_OUTPUT_BYTES: usize = 64 * 1024;

/// Files a Tester wrote, copied into every worktree before its tests run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReproductionTests {
    /// Where the files are (e.g. the Tester's worktree or workspace).
    pub from: PathBuf,
    /// Their paths relative to `from`; each lands at the same path in the worktree's
    /// workspace.
    pub files: Vec<PathBuf>,
}

/// How candidates are evaluated.
#[derive(Clone, Debug)]
pub struct EvaluationSettings {
    /// The `[tools]` test settings (`test_runner`, `package_manager`).
    pub project: ProjectSettings,
    /// How long one test run may take before it is killed (and counts as not run).
    pub timeout: Duration,
    /// Reproduction tests copied into every worktree.
    pub reproduction: ReproductionTests,
}

/// One run of the test suite.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRun {
    /// The command that ran (empty when none was found).
    pub command: String,
    /// Why the tests did not run or gave no result; `None` when they ran.
    pub not_run: Option<String>,
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// The exit code, `None` when killed or not run.
    pub exit_code: Option<i32>,
    pub duration: Duration,
    /// The start and end of the output.
    pub output: String,
    /// The tests the output named as passing.
    pub passed_names: BTreeSet<String>,
    /// The tests the output named as failing.
    pub failed_names: BTreeSet<String>,
}

/// The test run on the unchanged start state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    pub run: TestRun,
}

/// A candidate's evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// What `code_mesh_core::consensus::choose` needs.
    pub report: CandidateReport,
    /// The candidate's change against the start state (`git diff --binary`, new files
    /// included); empty when it changed nothing.
    pub diff: Vec<u8>,
    /// Its test run.
    pub run: TestRun,
}

/// Runs the tests once in the baseline worktree (reproduction tests copied in first).
pub async fn run_baseline(
    baseline: &CandidateWorktree,
    settings: &EvaluationSettings,
    context: &ToolContext,
) -> Result<Baseline, SwarmError> {
    copy_reproduction(&settings.reproduction, baseline.workspace()).await?;
    let run = run_tests(baseline, settings, context).await?;
    Ok(Baseline { run })
}

/// Takes the candidate's diff against `start`, copies the reproduction tests in, runs the
/// tests and compares them with `baseline`. Call it once per candidate, after its agent is
/// done.
pub async fn evaluate_candidate(
    candidate: &CandidateWorktree,
    start: &str,
    baseline: &Baseline,
    settings: &EvaluationSettings,
    context: &ToolContext,
) -> Result<Evaluation, SwarmError> {
    let diff = candidate_diff(&candidate.path, start).await?;
    copy_reproduction(&settings.reproduction, candidate.workspace()).await?;
    let run = run_tests(candidate, settings, context).await?;
    let (breaks, newly_passing) = compare(&baseline.run, &run);
    let report = CandidateReport {
        candidate: candidate.number,
        not_run: run.not_run.clone(),
        passed: run.passed,
        failed: run.failed,
        ignored: run.ignored,
        exit_code: run.exit_code,
        duration_ms: u64::try_from(run.duration.as_millis()).unwrap_or(u64::MAX),
        breaks,
        newly_passing,
        diff_bytes: diff.len() as u64,
    };
    Ok(Evaluation { report, diff, run })
}

/// The working tree of `worktree` against `start`, new files included, written through a
/// temporary index so the worktree's own index is left as the candidate left it.
async fn candidate_diff(worktree: &Path, start: &str) -> Result<Vec<u8>, SwarmError> {
    let worktree = worktree.to_path_buf();
    let start = start.to_string();
    super::blocking(move || {
        let scratch = tempfile::tempdir()
            .map_err(|e| SwarmError::Io(format!("cannot create a temporary directory: {e}")))?;
        let index = scratch.path().join("index");
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        git(&worktree, &["read-tree", &start], &env)?;
        git(&worktree, &["add", "--all", "--", "."], &env)?;
        git(
            &worktree,
            &[
                "diff",
                "--cached",
                "--binary",
                "--no-color",
                "--no-ext-diff",
                &start,
            ],
            &env,
        )
    })
    .await
}

async fn copy_reproduction(tests: &ReproductionTests, workspace: &Path) -> Result<(), SwarmError> {
    if tests.files.is_empty() {
        return Ok(());
    }
    let tests = tests.clone();
    let workspace = workspace.to_path_buf();
    super::blocking(move || {
        for file in &tests.files {
            let plain = file
                .components()
                .all(|component| matches!(component, Component::Normal(_)));
            if !plain {
                return Err(SwarmError::Invalid(format!(
                    "the reproduction test path `{}` must be relative and without `..`",
                    file.display()
                )));
            }
            let source = tests.from.join(file);
            let target = workspace.join(file);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| {
                    SwarmError::Io(format!("cannot create `{}`: {e}", parent.display()))
                })?;
            }
            fs::copy(&source, &target).map_err(|e| {
                SwarmError::Io(format!(
                    "cannot copy the reproduction test `{}` to `{}`: {e}",
                    source.display(),
                    target.display()
                ))
            })?;
        }
        Ok(())
    })
    .await
}

async fn run_tests(
    worktree: &CandidateWorktree,
    settings: &EvaluationSettings,
    context: &ToolContext,
) -> Result<TestRun, SwarmError> {
    let workspace = worktree.workspace().to_path_buf();
    let mut context = context.clone();
    context.workspace = workspace.clone();
    context.cwd = workspace.clone();
    context.sandbox = worktree.sandbox_policy(&context.sandbox);
    let plan = match detect::plan(
        Action::Test,
        &workspace,
        &workspace,
        &settings.project,
        Request::default(),
    ) {
        Ok(plan) => plan,
        Err(message) => {
            return Ok(TestRun {
                not_run: Some(message),
                ..TestRun::default()
            });
        }
    };
    if context.cancel.is_cancelled() {
        return Err(SwarmError::Cancelled);
    }
    let run = Run {
        command: plan.command.clone(),
        cwd: plan.dir.clone(),
        timeout: settings.timeout,
        max_output: KEPT_OUTPUT_BYTES,
    };
    let mut parser = OutputParser::new();
    let started = Instant::now();
    let outcome = process::run_with(run, RunOptions::default(), &context, &mut |bytes| {
        parser.feed(bytes)
    })
    .await;
    let duration = started.elapsed();
    let summary = parser.finish();
    let mut test_run = TestRun {
        command: plan.command.clone(),
        duration,
        passed_names: summary.names.passed,
        failed_names: summary.names.failed,
        ..TestRun::default()
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            test_run.not_run = Some(format!("`{}` did not start: {error}", plan.command));
            return Ok(test_run);
        }
    };
    test_run.output = outcome
        .output
        .finish(|dropped| format!("[… {dropped} bytes left out …]"));
    match outcome.ending {
        Ending::Exited(status) => test_run.exit_code = status.code(),
        Ending::TimedOut => {
            test_run.not_run = Some(format!(
                "`{}` timed out after {} s and was killed",
                plan.command,
                settings.timeout.as_secs()
            ));
        }
        Ending::Cancelled => return Err(SwarmError::Cancelled),
    }
    match summary.tests {
        Some(counts) => {
            test_run.passed = counts.passed;
            test_run.failed = counts.failed;
            test_run.ignored = counts.ignored;
        }
        None if test_run.not_run.is_none() => {
            test_run.not_run = Some(format!(
                "`{}` printed no test summary Code Mesh recognises (exit code {})",
                plan.command,
                test_run
                    .exit_code
                    .map_or_else(|| "none".to_string(), |code| code.to_string())
            ));
        }
        None => {}
    }
    Ok(test_run)
}

/// The candidate's breaks and newly passing tests, compared with the baseline's run.
fn compare(baseline: &TestRun, candidate: &TestRun) -> (Vec<String>, Vec<String>) {
    if candidate.not_run.is_some() {
        return (Vec::new(), Vec::new());
    }
    let breaks: Vec<String> = if !baseline.passed_names.is_empty() {
        candidate
            .failed_names
            .intersection(&baseline.passed_names)
            .cloned()
            .collect()
    } else if !candidate.failed_names.is_empty() {
        candidate
            .failed_names
            .difference(&baseline.failed_names)
            .cloned()
            .collect()
    } else if candidate.failed > baseline.failed {
        vec![format!(
            "{} more failing tests than before (the runner names none)",
            candidate.failed - baseline.failed
        )]
    } else {
        Vec::new()
    };
    let newly_passing = if !candidate.passed_names.is_empty() {
        candidate
            .passed_names
            .intersection(&baseline.failed_names)
            .cloned()
            .collect()
    } else {
        baseline
            .failed_names
            .difference(&candidate.failed_names)
            .cloned()
            .collect()
    };
    (breaks, newly_passing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(passed: &[&str], failed: &[&str]) -> TestRun {
        TestRun {
            passed: passed.len() as u64,
            failed: failed.len() as u64,
            passed_names: passed.iter().map(|s| s.to_string()).collect(),
            failed_names: failed.iter().map(|s| s.to_string()).collect(),
            ..TestRun::default()
        }
    }

    #[test]
    fn breaks_are_baseline_passes_that_now_fail() {
        let baseline = run(&["a", "b"], &["c"]);
        let candidate = run(&["a", "c"], &["b", "new"]);
        assert_eq!(
            compare(&baseline, &candidate),
            (vec!["b".to_string()], vec!["c".to_string()])
        );
    }

    #[test]
    fn without_passing_names_new_failures_are_breaks() {
        let baseline = run(&[], &["c"]);
        let candidate = run(&[], &["d"]);
        assert_eq!(
            compare(&baseline, &candidate),
            (vec!["d".to_string()], vec!["c".to_string()])
        );
    }

    #[test]
    fn without_any_names_more_failures_are_a_break() {
        let baseline = TestRun {
            passed: 3,
            failed: 1,
            ..TestRun::default()
        };
        let candidate = TestRun {
            passed: 2,
            failed: 2,
            ..TestRun::default()
        };
        let (breaks, newly) = compare(&baseline, &candidate);
        assert_eq!(
            breaks,
            ["1 more failing tests than before (the runner names none)"]
        );
        assert!(newly.is_empty());
        assert_eq!(compare(&baseline, &baseline), (vec![], vec![]));
    }
}
