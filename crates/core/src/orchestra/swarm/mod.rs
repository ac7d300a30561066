//! The swarm strategy: N `coder` candidates attempt the same task in parallel, each in a
//! checkout of its own, varying model, temperature and approach; a `tester` writes
//! reproduction tests beside them; every candidate's change is evaluated by the project's
//! tests plus those reproduction tests against a baseline run; `reviewer` agents vote among
//! the candidates that survive; [`crate::consensus::choose`] decides; the winner's change is
//! applied to the user's working tree and every checkout is removed.
//!
//! `core` decides; the git side (checkouts, test runs, applying a diff) is a
//! [`SwarmWorkspace`] the front end gives (`code-mesh-tools` implements it over git
//! worktrees), so `core` stays free of processes and files.
//!
//! **Order of a turn.** Checkouts are made first, so a folder that is not a git repository
//! fails the turn before any model request. The Tester runs alongside the candidates (it
//! starts first, sharing `[agents] max_count` with them): it writes tests from the task
//! alone, without seeing any candidate's work, so nothing is gained by waiting, and a
//! candidate cannot tailor its change to tests it never saw. Once every agent has ended, the
//! baseline runs on the unchanged tree with the reproduction tests, then each finished
//! candidate is evaluated in turn (test suites are not run in parallel: they may share ports
//! or caches). A candidate whose agent failed is reported as not run. Reviewers are asked
//! only when at least two candidates survive; with one there is nothing to choose.
//!
//! **Events.** Each candidate, the Tester and each reviewer is a task of the run's graph
//! (`task_created`, `task_started`, `agent_spawned`/`agent_terminated` from its agent). A
//! candidate's task ends after its evaluation: `task_completed` with its agent's answer and
//! test results when it can win, `task_failed` with the reason when consensus drops it.
//! Warnings say when the Tester or the baseline gave nothing to go on; the final answer says
//! who won, why, and which files changed.
//!
//! **Cancel.** The turn's token reaches every agent (their tools' commands are killed) and
//! the test runs; checkouts are removed on every way out, cancel and failure included.

mod prompts;
mod vote;
mod workspace;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use code_mesh_protocol::{AgentOutcome, EventKind, TaskId, TaskInfo, TaskState};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use prompts::{
    APPROACHES, REVIEWER_SECTION, candidate_section, review_prompt, tester_prompt, tester_section,
};
pub use vote::VOTE_TOOL_NAME;
use vote::VoteTool;
pub use workspace::{
    ReproductionFiles, SwarmCheckouts, SwarmEvaluation, SwarmPlace, SwarmStepError, SwarmWorkspace,
};

use super::agent::{AgentEnd, AgentRun, run_agent};
use super::graph::NewTask;
use super::{
    AgentExtras, AgentWorkspace, Orchestra, OrchestraDriver, OrchestraError, OrchestraSettings,
};
use crate::consensus::{CandidateReport, ReviewerVote, choose};
use crate::turn::{StrategyOutcome, StrategyTurn};
use crate::{SessionConfig, SessionHandle, SessionStart, Store, ToolRegistry};

/// Temperatures candidates take in turn: from careful to adventurous.
const TEMPERATURES: [f32; 7] = [0.2, 0.5, 0.8, 1.0, 0.35, 0.65, 0.9];

#[derive(Clone)]
pub struct SwarmSettings {
    /// Candidates (`--agents` or `[agents] swarm_size`; at least 2).
    pub candidates: usize,
    /// Models candidates take in turn (`provider/model`); empty: the run's model.
    pub models: Vec<String>,
    /// Reviewer agents voting among the survivors (`[agents] swarm_reviewers`).
    pub reviewers: usize,
    pub workspace: Arc<dyn SwarmWorkspace>,
}

impl std::fmt::Debug for SwarmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmSettings")
            .field("candidates", &self.candidates)
            .field("models", &self.models)
            .field("reviewers", &self.reviewers)
            .finish_non_exhaustive()
    }
}

/// Opens swarm runs.
#[derive(Debug)]
pub struct Swarm;

impl Swarm {
    /// Opens (or resumes) the run's session; each user turn is carried out by a swarm.
    pub async fn open(
        store: Arc<dyn Store>,
        tools: ToolRegistry,
        config: SessionConfig,
        start: SessionStart,
        settings: OrchestraSettings,
        swarm: SwarmSettings,
    ) -> Result<(SessionHandle, OrchestraDriver), OrchestraError> {
        let mut needed = vec![CODER, TESTER];
        if swarm.reviewers > 0 {
            needed.push(REVIEWER);
        }
        for name in needed {
            if !settings.profiles.iter().any(|p| p.name == name) {
                return Err(OrchestraError::MissingProfile(name.to_owned()));
            }
        }
        super::open_strategy_run(store, tools, config, start, settings, move |orchestra| {
            Arc::new(SwarmTurn {
                orchestra,
                settings: swarm,
                turns: Mutex::new(0),
            })
        })
        .await
    }
}

const CODER: &str = "coder";
const TESTER: &str = "tester";
const REVIEWER: &str = "reviewer";

struct SwarmTurn {
    orchestra: Arc<Orchestra>,
    settings: SwarmSettings,
    turns: Mutex<u32>,
}

/// One candidate: its task, its variation, and how it went.
struct Candidate {
    number: usize,
    task: TaskInfo,
    model: Option<String>,
    temperature: f32,
    approach: &'static str,
    place: SwarmPlace,
    run: Option<AgentRun>,
    evaluation: Option<SwarmEvaluation>,
}

impl Candidate {
    fn label(&self, run_model: &str) -> String {
        format!(
            "candidate {} ({}, temperature {})",
            self.number,
            self.model.as_deref().unwrap_or(run_model),
            self.temperature
        )
    }
}

/// How a swarm turn ended, before its checkouts are removed.
enum Ended {
    Done(StrategyOutcome),
    Cancelled(String),
}

#[async_trait]
impl StrategyTurn for SwarmTurn {
    async fn run(&self, prompt: String, cancel: CancellationToken) -> StrategyOutcome {
        let outcome = self.turn(prompt, cancel).await;
        self.orchestra.flush().await;
        outcome
    }
}

impl SwarmTurn {
    async fn turn(&self, prompt: String, cancel: CancellationToken) -> StrategyOutcome {
        let count = self.settings.candidates;
        if count < 2 {
            return StrategyOutcome::failed(
                String::new(),
                format!("a swarm needs at least 2 candidates, not {count}"),
                Some("pass `--agents 2` or more, or set `[agents] swarm_size`".into()),
            );
        }
        let run = self.run_id();
        let base = &self.orchestra.base;
        let user = SwarmPlace {
            workspace: base.workspace.clone(),
            cwd: base.cwd.clone(),
            sandbox: base.sandbox.clone(),
        };
        let mut checkouts = match self.settings.workspace.prepare(&run, count, &user).await {
            Ok(checkouts) => checkouts,
            Err(SwarmStepError::Cancelled) => return StrategyOutcome::cancelled(String::new()),
            Err(SwarmStepError::Failed(message)) => {
                return StrategyOutcome::failed(
                    String::new(),
                    format!("the swarm could not start: {message}"),
                    Some("the swarm needs a git repository with git installed; `--strategy single` works anywhere".into()),
                );
            }
        };
        let ended = self.work(&prompt, &mut *checkouts, &cancel).await;
        let removed = checkouts.remove().await;
        let mut outcome = match ended {
            Ended::Done(outcome) => outcome,
            Ended::Cancelled(answer) => StrategyOutcome::cancelled(answer),
        };
        if let Err(err) = removed {
            self.orchestra
                .emit(EventKind::Warning {
                    message: format!(
                        "the swarm's checkouts were not all removed ({err}); `git worktree prune` after deleting `.git/code-mesh-worktrees` cleans up"
                    ),
                })
                .await;
            if outcome.error.is_none()
                && outcome.reason == code_mesh_protocol::TurnEndReason::Completed
            {
                outcome.answer.push_str(&format!(
                    "\n\nNote: the swarm's checkouts were not all removed: {err}"
                ));
            }
        }
        outcome
    }

    /// A short id for this turn's checkouts: the run's session and the turn's number.
    fn run_id(&self) -> String {
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        *turns += 1;
        let session = self.orchestra.run_session().0;
        let tail: String = session
            .chars()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{tail}-{turns}")
    }

    /// The turn's steps, in order: tasks, agents, the Tester's tests, evaluation, decision.
    async fn work(
        &self,
        prompt: &str,
        checkouts: &mut dyn SwarmCheckouts,
        cancel: &CancellationToken,
    ) -> Ended {
        let count = self.settings.candidates;
        let places = checkouts.candidates();
        if places.len() != count {
            return Ended::Done(StrategyOutcome::failed(
                String::new(),
                format!(
                    "the swarm made {} checkouts for {count} candidates",
                    places.len()
                ),
                None,
            ));
        }
        let (tester_task, mut candidates) = match self.plan(prompt, places).await {
            Ok(planned) => planned,
            Err(ended) => return ended,
        };

        // Every agent, the Tester first, up to `max_count` at once.
        let mut jobs = vec![Job {
            index: None,
            task: tester_task.clone(),
            prompt: tester_prompt(prompt),
            extras: AgentExtras {
                prompt: Some(tester_section(count)),
                workspace: Some(agent_workspace(&checkouts.tester())),
                ..AgentExtras::default()
            },
        }];
        for candidate in &candidates {
            jobs.push(Job {
                index: Some(candidate.number),
                task: candidate.task.clone(),
                // Each candidate's own line keeps their conversations apart (a provider's
                // cache or a test server keys conversations by their first message).
                prompt: format!(
                    "{prompt}\n\n(You are candidate {} of {count}.)",
                    candidate.number
                ),
                extras: AgentExtras {
                    prompt: Some(candidate_section(
                        candidate.number,
                        count,
                        candidate.approach,
                    )),
                    temperature: Some(candidate.temperature),
                    model: candidate.model.clone(),
                    workspace: Some(agent_workspace(&candidate.place)),
                    ..AgentExtras::default()
                },
            });
        }
        let mut tester_run = None;
        for (index, run) in self.run_jobs(jobs, cancel).await {
            match index {
                Some(n) => candidates[n].run = Some(run),
                None => tester_run = Some(run),
            }
        }
        if cancel.is_cancelled() {
            // The Tester may have finished before the cancel: its task is done.
            if let Some(AgentRun {
                end: AgentEnd::Done,
                outcome,
            }) = tester_run
            {
                self.complete(&tester_task.id, outcome).await;
            }
            self.cancel_unfinished(&candidates, &tester_task).await;
            return Ended::Cancelled(
                "The swarm was cancelled; the working tree is unchanged.".into(),
            );
        }

        let tester_note = self.tester_tests(tester_run, checkouts, &tester_task).await;
        let (baseline, reports) = match self
            .evaluate(checkouts, &mut candidates, &tester_task, cancel)
            .await
        {
            Ok(evaluated) => evaluated,
            Err(ended) => return ended,
        };
        self.decide(
            prompt,
            checkouts,
            &candidates,
            &reports,
            &baseline,
            &tester_note,
            cancel,
        )
        .await
    }

    /// The tasks (the Tester's, then one per candidate) and each candidate's variation.
    async fn plan(
        &self,
        prompt: &str,
        places: Vec<SwarmPlace>,
    ) -> Result<(TaskInfo, Vec<Candidate>), Ended> {
        let count = self.settings.candidates;
        // The tasks: the Tester, then the candidates.
        let short = first_line(prompt);
        let mut batch = vec![NewTask {
            label: None,
            description: format!("write reproduction tests: {short}"),
            agent: TESTER.into(),
            depends_on: Vec::new(),
        }];
        batch.extend((0..count).map(|n| NewTask {
            label: None,
            description: format!("candidate {n} of {count}: {short}"),
            agent: CODER.into(),
            depends_on: Vec::new(),
        }));
        let tasks = match self.add_tasks(batch).await {
            Ok(tasks) => tasks,
            Err(outcome) => return Err(Ended::Done(outcome)),
        };
        let (tester_task, candidate_tasks) = tasks
            .split_first()
            .map_or((None, &[][..]), |(t, c)| (Some(t.clone()), c));
        let (Some(tester_task), true) = (tester_task, candidate_tasks.len() == count) else {
            return Err(Ended::Done(StrategyOutcome::failed(
                String::new(),
                "the swarm's tasks were not created".into(),
                None,
            )));
        };
        let candidates: Vec<Candidate> = candidate_tasks
            .iter()
            .zip(places)
            .enumerate()
            .map(|(number, (task, place))| Candidate {
                number,
                task: task.clone(),
                model: (!self.settings.models.is_empty())
                    .then(|| self.settings.models[number % self.settings.models.len()].clone()),
                temperature: TEMPERATURES[number % TEMPERATURES.len()],
                approach: APPROACHES[number % APPROACHES.len()],
                place,
                run: None,
                evaluation: None,
            })
            .collect();
        Ok((tester_task, candidates))
    }

    /// Collects the Tester's reproduction tests and closes its task; what the answer and the
    /// reviewers are told about them.
    async fn tester_tests(
        &self,
        tester_run: Option<AgentRun>,
        checkouts: &mut dyn SwarmCheckouts,
        tester_task: &TaskInfo,
    ) -> String {
        let orchestra = &self.orchestra;
        // The Tester's tests.
        let mut tester_note = String::new();
        match tester_run {
            Some(AgentRun {
                end: AgentEnd::Done,
                outcome,
            }) => match checkouts.take_reproduction_tests().await {
                Ok(files) => {
                    if !files.ignored.is_empty() {
                        orchestra
                                .emit(EventKind::Warning {
                                    message: format!(
                                        "the Tester changed files that are not tests, which the evaluation leaves out: {}",
                                        files.ignored.join(", ")
                                    ),
                                })
                                .await;
                    }
                    tester_note = if files.tests.is_empty() {
                        "The Tester wrote no reproduction test; candidates were judged by the project's tests alone.".into()
                    } else {
                        format!(
                            "Reproduction tests by the Tester: {}.",
                            files.tests.join(", ")
                        )
                    };
                    let mut outcome = outcome;
                    let _ = write!(outcome.summary, "\n\n{tester_note}");
                    self.complete(&tester_task.id, outcome).await;
                }
                Err(err) => {
                    tester_note = format!("The Tester's tests could not be used ({err}).");
                    self.fail(
                        &tester_task.id,
                        TaskState::Failed,
                        format!("its tests could not be collected: {err}"),
                    )
                    .await;
                }
            },
            Some(AgentRun { outcome, .. }) => {
                tester_note = format!(
                    "The Tester failed ({}); candidates were judged by the project's tests alone.",
                    outcome.summary
                );
                self.fail(&tester_task.id, TaskState::Failed, outcome.summary)
                    .await;
            }
            None => {
                self.fail(
                    &tester_task.id,
                    TaskState::Failed,
                    "its agent never ran".into(),
                )
                .await;
            }
        }
        if !tester_note.is_empty() && !tester_note.starts_with("Reproduction") {
            orchestra
                .emit(EventKind::Warning {
                    message: tester_note.clone(),
                })
                .await;
        }
        tester_note
    }

    /// The baseline run, then each finished candidate's evaluation (one at a time: suites may
    /// share ports or caches); the baseline's line and every candidate's report.
    async fn evaluate(
        &self,
        checkouts: &mut dyn SwarmCheckouts,
        candidates: &mut [Candidate],
        tester_task: &TaskInfo,
        cancel: &CancellationToken,
    ) -> Result<(String, Vec<CandidateReport>), Ended> {
        let orchestra = &self.orchestra;
        // The baseline, then each candidate.
        let baseline = match checkouts.run_baseline(cancel.clone()).await {
            Ok(line) => line,
            Err(SwarmStepError::Cancelled) => {
                self.cancel_unfinished(candidates, tester_task).await;
                return Err(Ended::Cancelled(
                    "The swarm was cancelled while testing; the working tree is unchanged.".into(),
                ));
            }
            Err(SwarmStepError::Failed(message)) => {
                orchestra
                    .emit(EventKind::Warning {
                        message: format!("the baseline test run failed: {message}"),
                    })
                    .await;
                format!("did not run: {message}")
            }
        };
        let mut reports = Vec::new();
        for candidate in candidates.iter_mut() {
            let report = match &candidate.run {
                Some(AgentRun {
                    end: AgentEnd::Done,
                    ..
                }) => match checkouts.evaluate(candidate.number, cancel.clone()).await {
                    Ok(evaluation) => {
                        let report = evaluation.report.clone();
                        candidate.evaluation = Some(evaluation);
                        report
                    }
                    Err(SwarmStepError::Cancelled) => break,
                    Err(SwarmStepError::Failed(message)) => not_run(
                        candidate.number,
                        format!("its evaluation failed: {message}"),
                    ),
                },
                Some(AgentRun { end, outcome }) => {
                    // Not evaluated: the agent did not finish its change.
                    let state = if *end == AgentEnd::Cancelled {
                        TaskState::Cancelled
                    } else {
                        TaskState::Failed
                    };
                    self.fail(&candidate.task.id, state, outcome.summary.clone())
                        .await;
                    reports.push(not_run(
                        candidate.number,
                        format!("its agent did not finish ({})", outcome.summary),
                    ));
                    continue;
                }
                None => not_run(candidate.number, "its agent never ran".into()),
            };
            self.record_candidate(candidate, &report).await;
            reports.push(report);
        }
        if cancel.is_cancelled() {
            self.cancel_unfinished(candidates, tester_task).await;
            return Err(Ended::Cancelled(
                "The swarm was cancelled while testing; the working tree is unchanged.".into(),
            ));
        }
        Ok((baseline, reports))
    }

    /// The reviewers' vote among the survivors, the decision, and the winner's change applied
    /// to the user's working tree.
    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        prompt: &str,
        checkouts: &mut dyn SwarmCheckouts,
        candidates: &[Candidate],
        reports: &[CandidateReport],
        baseline: &str,
        tester_note: &str,
        cancel: &CancellationToken,
    ) -> Ended {
        let run_model = self.orchestra.base.model.clone();
        // The vote, among the survivors.
        let first = choose(reports, &[]);
        if first.winner.is_none() {
            return Ended::Done(StrategyOutcome::failed(
                format!("No candidate of the swarm qualified; the working tree is unchanged.\nBaseline tests: {baseline}. {tester_note}"),
                first.summary,
                Some("each candidate's `task_failed` says why it was dropped; make the project's tests runnable (`[tools] test_runner`), reword the task, or try more candidates with `--agents`".into()),
            ));
        }
        let survivors: Vec<usize> = first.standings.iter().map(|s| s.candidate).collect();
        let votes = if survivors.len() >= 2 && self.settings.reviewers > 0 {
            let review = review_prompt(
                prompt,
                candidates,
                &survivors,
                &run_model,
                baseline,
                tester_note,
            );
            match self.review(review, &survivors, cancel).await {
                Some(votes) => votes,
                None => {
                    return Ended::Cancelled(
                        "The swarm was cancelled during the review; the working tree is unchanged."
                            .into(),
                    );
                }
            }
        } else {
            Vec::new()
        };
        let decision = choose(reports, &votes);
        let Some(winner) = decision.winner else {
            return Ended::Done(StrategyOutcome::failed(
                String::new(),
                decision.summary,
                None,
            ));
        };
        if cancel.is_cancelled() {
            return Ended::Cancelled("The swarm was cancelled before the winner was applied; the working tree is unchanged.".into());
        }

        // The winner's change, into the user's working tree.
        let files = match checkouts.apply(winner).await {
            Ok(files) => files,
            Err(err) => {
                return Ended::Done(StrategyOutcome::failed(
                    format!(
                        "Candidate {winner} won, but its change was not applied.\n{}",
                        decision.summary
                    ),
                    format!("the winning change could not be applied: {err}"),
                    Some("the working tree is unchanged; run the swarm again".into()),
                ));
            }
        };
        let Some(candidate) = candidates.get(winner) else {
            return Ended::Done(StrategyOutcome::failed(
                String::new(),
                format!("the swarm chose candidate {winner}, which it does not have"),
                None,
            ));
        };
        let mut answer = format!(
            "The swarm chose {}. {}\n\nFiles changed: {}.\nBaseline tests: {baseline}.",
            candidate.label(&run_model),
            decision.summary,
            if files.is_empty() {
                "none".to_owned()
            } else {
                files.join(", ")
            }
        );
        if let Some(evaluation) = &candidate.evaluation {
            let _ = write!(answer, "\nIts tests: {}.", evaluation.tests);
        }
        if !tester_note.is_empty() {
            let _ = write!(answer, "\n{tester_note}");
        }
        for vote in &votes {
            let _ = write!(
                answer,
                "\n{} voted for candidate {}: {}",
                vote.reviewer, vote.candidate, vote.reason
            );
        }
        if let Some(run) = &candidate.run {
            let _ = write!(
                answer,
                "\n\nThe winner's own summary:\n{}",
                run.outcome.summary.trim()
            );
        }
        Ended::Done(StrategyOutcome::completed(answer))
    }

    async fn add_tasks(&self, batch: Vec<NewTask>) -> Result<Vec<TaskInfo>, StrategyOutcome> {
        let created = {
            let mut graph = self.orchestra.graph();
            match graph.add_batch(batch) {
                Ok(ids) => ids
                    .iter()
                    .filter_map(|id| graph.info(id).cloned())
                    .collect::<Vec<_>>(),
                Err(err) => {
                    return Err(StrategyOutcome::failed(
                        String::new(),
                        format!("the swarm's tasks could not be added: {err}"),
                        Some("a run holds a limited number of tasks; start a new run".into()),
                    ));
                }
            }
        };
        let mut created = created;
        created.sort_by_key(|task| task_number(&task.id));
        for task in &created {
            self.orchestra
                .emit(EventKind::TaskCreated { task: task.clone() })
                .await;
        }
        Ok(created)
    }

    /// Runs `jobs` up to `max_count` at once; returns each job's index and run.
    async fn run_jobs(
        &self,
        jobs: Vec<Job>,
        cancel: &CancellationToken,
    ) -> Vec<(Option<usize>, AgentRun)> {
        let max = self.orchestra.settings.max_count.max(1);
        futures::stream::iter(jobs.into_iter().map(|job| {
            let orchestra = self.orchestra.clone();
            let cancel = cancel.child_token();
            async move {
                if cancel.is_cancelled() {
                    return (job.index, cancelled_run());
                }
                orchestra.graph().start(&job.task.id);
                let run = run_agent(orchestra, job.task, job.prompt, cancel, job.extras).await;
                (job.index, run)
            }
        }))
        .buffer_unordered(max)
        .collect()
        .await
    }

    /// Reports a candidate's task: done when it can win, failed with the reason otherwise.
    async fn record_candidate(&self, candidate: &Candidate, report: &CandidateReport) {
        let verdict = choose(std::slice::from_ref(report), &[]);
        match verdict.dropped.first() {
            Some(dropped) => {
                self.fail(
                    &candidate.task.id,
                    TaskState::Failed,
                    format!(
                        "candidate {} was dropped: {}",
                        candidate.number, dropped.reason
                    ),
                )
                .await;
            }
            None => {
                let mut outcome = candidate
                    .run
                    .as_ref()
                    .map(|run| run.outcome.clone())
                    .unwrap_or_else(|| AgentOutcome {
                        summary: String::new(),
                        usage: code_mesh_protocol::Usage::default(),
                    });
                if let Some(evaluation) = &candidate.evaluation {
                    let _ = write!(
                        outcome.summary,
                        "\n\nEvaluation of candidate {}: {}; diff of {} bytes.",
                        candidate.number, evaluation.tests, report.diff_bytes
                    );
                }
                self.complete(&candidate.task.id, outcome).await;
            }
        }
    }

    /// Fails the tasks that have not ended, as cancelled.
    async fn cancel_unfinished(&self, candidates: &[Candidate], tester: &TaskInfo) {
        let ids = std::iter::once(&tester.id).chain(candidates.iter().map(|c| &c.task.id));
        for id in ids {
            let open = self
                .orchestra
                .graph()
                .state(id)
                .is_some_and(|state| !state.is_finished());
            if open {
                self.fail(id, TaskState::Cancelled, "cancelled".into())
                    .await;
            }
        }
    }

    /// Runs the reviewers; their valid and invalid votes alike (consensus sorts them out).
    /// `None` when cancelled.
    async fn review(
        &self,
        prompt: String,
        survivors: &[usize],
        cancel: &CancellationToken,
    ) -> Option<Vec<ReviewerVote>> {
        let count = self.settings.reviewers;
        let batch = (0..count)
            .map(|n| NewTask {
                label: None,
                description: format!(
                    "review the swarm's candidates and vote ({} of {count})",
                    n + 1
                ),
                agent: REVIEWER.into(),
                depends_on: Vec::new(),
            })
            .collect();
        let tasks = match self.add_tasks(batch).await {
            Ok(tasks) => tasks,
            Err(outcome) => {
                let message = outcome.error.map(|e| e.message).unwrap_or_default();
                self.orchestra
                    .emit(EventKind::Warning {
                        message: format!(
                            "the reviewers could not start ({message}); the tests decide"
                        ),
                    })
                    .await;
                return Some(Vec::new());
            }
        };
        let votes = Arc::new(Mutex::new(Vec::new()));
        let jobs = tasks
            .iter()
            .enumerate()
            .map(|(index, task)| {
                let id = self.orchestra.next_agent_id();
                Job {
                    index: Some(index),
                    task: task.clone(),
                    prompt: format!("{prompt}\n\n(You are reviewer {} of {count}.)", index + 1),
                    extras: AgentExtras {
                        tools: vec![Arc::new(VoteTool {
                            reviewer: id.clone(),
                            survivors: survivors.to_vec(),
                            votes: votes.clone(),
                        })],
                        prompt: Some(REVIEWER_SECTION.into()),
                        id: Some(id),
                        ..AgentExtras::default()
                    },
                }
            })
            .collect();
        for (index, run) in self.run_jobs(jobs, cancel).await {
            let Some(task) = index.and_then(|i| tasks.get(i)) else {
                continue;
            };
            match run.end {
                AgentEnd::Done => self.complete(&task.id, run.outcome).await,
                AgentEnd::Cancelled => {
                    self.fail(&task.id, TaskState::Cancelled, "cancelled".into())
                        .await;
                }
                AgentEnd::Failed { .. } | AgentEnd::TimedOut => {
                    self.fail(&task.id, TaskState::Failed, run.outcome.summary)
                        .await;
                }
            }
        }
        if cancel.is_cancelled() {
            return None;
        }
        let votes = votes.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Some(votes)
    }

    async fn complete(&self, id: &TaskId, outcome: AgentOutcome) {
        self.orchestra.graph().complete(id, outcome.clone());
        self.orchestra
            .emit(EventKind::TaskCompleted {
                task: id.clone(),
                outcome,
            })
            .await;
    }

    async fn fail(&self, id: &TaskId, state: TaskState, reason: String) {
        super::scheduler::fail(&self.orchestra, id, state, reason).await;
    }
}

struct Job {
    index: Option<usize>,
    task: TaskInfo,
    prompt: String,
    extras: AgentExtras,
}

fn cancelled_run() -> AgentRun {
    AgentRun {
        end: AgentEnd::Cancelled,
        outcome: AgentOutcome {
            summary: "cancelled".into(),
            usage: code_mesh_protocol::Usage::default(),
        },
    }
}

fn not_run(candidate: usize, reason: String) -> CandidateReport {
    CandidateReport {
        candidate,
        not_run: Some(reason),
        ..CandidateReport::default()
    }
}

fn agent_workspace(place: &SwarmPlace) -> AgentWorkspace {
    AgentWorkspace {
        workspace: place.workspace.clone(),
        cwd: place.cwd.clone(),
        sandbox: place.sandbox.clone(),
    }
}

fn task_number(id: &TaskId) -> usize {
    id.0.trim_start_matches("task_")
        .parse()
        .unwrap_or(usize::MAX)
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() > 80 {
        format!("{}…", line.chars().take(80).collect::<String>())
    } else {
        line.to_owned()
    }
}
