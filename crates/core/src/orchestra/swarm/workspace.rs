//! The git side of a swarm, as `core` sees it: checkouts for the agents, test runs and
//! applying the winner. `code-mesh-tools` implements it over git worktrees (`GitSwarm`);
//! engine tests give an in-memory one.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::SandboxPolicy;
use crate::consensus::CandidateReport;

/// Where one swarm agent works: a checkout of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmPlace {
    /// The user's workspace's counterpart in the checkout.
    pub workspace: PathBuf,
    /// The user's working directory's counterpart.
    pub cwd: PathBuf,
    /// The sandbox the agent's commands run under (its checkout writable).
    pub sandbox: SandboxPolicy,
}

/// What the Tester left for the evaluation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReproductionFiles {
    /// Test files it added or changed, relative to the workspace: copied into every checkout
    /// before its tests run.
    pub tests: Vec<String>,
    /// Other files it changed, which are not used.
    pub ignored: Vec<String>,
}

/// One candidate's evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmEvaluation {
    pub report: CandidateReport,
    /// Its change against the start state, as text (shown to the reviewers).
    pub diff: String,
    /// One line on its test run (`sh test.sh: 3 passed, 0 failed`).
    pub tests: String,
}

/// Why a step of the git side failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SwarmStepError {
    #[error("the swarm was cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

/// The git side of a swarm, given by the front end.
#[async_trait]
pub trait SwarmWorkspace: Send + Sync {
    /// Makes `candidates` checkouts of the user's working tree (`user`) and one for the
    /// Tester, named after `run`. Fails (before any agent runs) when `user` is not in a
    /// repository.
    async fn prepare(
        &self,
        run: &str,
        candidates: usize,
        user: &SwarmPlace,
    ) -> Result<Box<dyn SwarmCheckouts>, SwarmStepError>;
}

/// One swarm turn's checkouts. Removed by [`SwarmCheckouts::remove`], and by dropping them.
#[async_trait]
pub trait SwarmCheckouts: Send + Sync {
    /// The candidates' places, by number (from 0).
    fn candidates(&self) -> Vec<SwarmPlace>;
    /// The Tester's place.
    fn tester(&self) -> SwarmPlace;
    /// Takes the files the Tester wrote; its test files join every later test run.
    async fn take_reproduction_tests(&mut self) -> Result<ReproductionFiles, SwarmStepError>;
    /// Runs the tests on the unchanged start state; one line on how that went.
    async fn run_baseline(&mut self, cancel: CancellationToken) -> Result<String, SwarmStepError>;
    /// Evaluates candidate `number` against the baseline; after [`Self::run_baseline`].
    async fn evaluate(
        &mut self,
        number: usize,
        cancel: CancellationToken,
    ) -> Result<SwarmEvaluation, SwarmStepError>;
    /// Applies candidate `number`'s change to the user's working tree; the files it changed.
    async fn apply(&mut self, number: usize) -> Result<Vec<String>, SwarmStepError>;
    /// Removes every checkout.
    async fn remove(self: Box<Self>) -> Result<(), SwarmStepError>;
}
