//! Choosing the winner of a swarm: pure, deterministic logic over what the candidates' test
//! runs showed and what the Reviewer agents voted.
//!
//! [`choose`] first drops every candidate that cannot win: one whose tests did not run, one
//! that breaks a test that passed on the unchanged tree, one that changed nothing, and a
//! second report with a number already seen. Among the survivors the reviewers' votes decide;
//! a vote for a dropped or unknown candidate, or a second vote by the same reviewer, is
//! ignored and reported. Ties (including "no valid votes at all") are broken by test results:
//! more passing tests, then fewer failing ones, then the smaller diff, then the lowest
//! candidate number. When nobody survives, the [`Decision`] has no winner and says why, per
//! candidate. Nothing here is random, and nothing assumes success.
//!
//! The reports come from the evaluation in `code-mesh-tools` (`swarm::evaluate_candidate`),
//! which runs the project's tests in each candidate's worktree against a baseline run.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// What one candidate's evaluation showed, as far as choosing needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateReport {
    /// The candidate's number in the swarm (unique among the reports).
    pub candidate: usize,
    /// Why the tests did not run or gave no result (no test runner found, timed out, no test
    /// summary in the output); `None` when they ran.
    pub not_run: Option<String>,
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests skipped or ignored.
    pub ignored: u64,
    /// The test command's exit code (`None` when it was killed or did not run).
    pub exit_code: Option<i32>,
    /// How long the test run took, in milliseconds.
    pub duration_ms: u64,
    /// Tests that passed on the unchanged tree and fail with this candidate's change.
    pub breaks: Vec<String>,
    /// Tests that failed on the unchanged tree and pass with this candidate's change.
    pub newly_passing: Vec<String>,
    /// Size of the candidate's diff against the start state, in bytes (0: no change).
    pub diff_bytes: u64,
}

impl CandidateReport {
    /// Whether the candidate changed nothing.
    pub fn is_empty_diff(&self) -> bool {
        self.diff_bytes == 0
    }
}

/// One Reviewer's vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewerVote {
    /// Who voted (the reviewer agent's name or id); one vote per reviewer counts.
    pub reviewer: String,
    /// The candidate voted for.
    pub candidate: usize,
    /// Why, in the reviewer's words.
    pub reason: String,
}

/// Why a candidate cannot win.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DropReason {
    /// The tests did not run or gave no result.
    TestsDidNotRun { reason: String },
    /// Tests that passed on the unchanged tree fail with the candidate's change.
    BreaksTests { tests: Vec<String> },
    /// The candidate changed nothing.
    NoChanges,
    /// Another report already used this candidate number.
    DuplicateNumber,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::TestsDidNotRun { reason } => write!(f, "its tests did not run: {reason}"),
            DropReason::BreaksTests { tests } => {
                const SHOWN: usize = 5;
                let shown: Vec<&str> = tests.iter().take(SHOWN).map(String::as_str).collect();
                write!(
                    f,
                    "it breaks {} test{} that passed before: {}",
                    tests.len(),
                    if tests.len() == 1 { "" } else { "s" },
                    shown.join(", ")
                )?;
                if tests.len() > SHOWN {
                    write!(f, ", …")?;
                }
                Ok(())
            }
            DropReason::NoChanges => write!(f, "it changed nothing"),
            DropReason::DuplicateNumber => {
                write!(f, "another report already has this candidate number")
            }
        }
    }
}

/// A candidate that cannot win, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub candidate: usize,
    pub reason: DropReason,
}

/// A vote that did not count, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredVote {
    pub vote: ReviewerVote,
    pub reason: String,
}

/// A surviving candidate's place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub candidate: usize,
    /// Valid votes it received.
    pub votes: usize,
}

/// What decided between the best two survivors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// Only one candidate survived.
    OnlySurvivor,
    /// It had the most votes.
    Votes,
    /// Tied on votes; it passed more tests.
    MorePassing,
    /// Tied on votes and passing tests; it failed fewer tests.
    FewerFailing,
    /// Tied on votes and test results; its diff is smaller.
    SmallerDiff,
    /// Tied on everything; it has the lowest number.
    LowestNumber,
}

/// The outcome of [`choose`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The winning candidate, `None` when none qualified.
    pub winner: Option<usize>,
    /// What separated the winner from the runner-up (`None` without a winner).
    pub decided_by: Option<DecidedBy>,
    /// The survivors, best first.
    pub standings: Vec<Standing>,
    /// The candidates that could not win, in report order.
    pub dropped: Vec<Dropped>,
    /// The votes that did not count, in vote order.
    pub ignored_votes: Vec<IgnoredVote>,
    /// One readable sentence (or a few) saying what was decided and why.
    pub summary: String,
}

/// Picks the winner among `candidates` by `votes`; see the module documentation.
pub fn choose(candidates: &[CandidateReport], votes: &[ReviewerVote]) -> Decision {
    let mut seen = BTreeSet::new();
    let mut dropped = Vec::new();
    let mut survivors: BTreeMap<usize, &CandidateReport> = BTreeMap::new();
    for report in candidates {
        if !seen.insert(report.candidate) {
            dropped.push(Dropped {
                candidate: report.candidate,
                reason: DropReason::DuplicateNumber,
            });
            continue;
        }
        let reason = if let Some(reason) = &report.not_run {
            Some(DropReason::TestsDidNotRun {
                reason: reason.clone(),
            })
        } else if !report.breaks.is_empty() {
            Some(DropReason::BreaksTests {
                tests: report.breaks.clone(),
            })
        } else if report.is_empty_diff() {
            Some(DropReason::NoChanges)
        } else {
            None
        };
        match reason {
            Some(reason) => dropped.push(Dropped {
                candidate: report.candidate,
                reason,
            }),
            None => {
                survivors.insert(report.candidate, report);
            }
        }
    }

    let mut tally: BTreeMap<usize, usize> = survivors.keys().map(|&c| (c, 0)).collect();
    let mut ignored_votes = Vec::new();
    let mut voted = BTreeSet::new();
    for vote in votes {
        let reason = if voted.contains(&vote.reviewer) {
            Some(format!(
                "`{}` already voted; only a reviewer's first vote counts",
                vote.reviewer
            ))
        } else if survivors.contains_key(&vote.candidate) {
            None
        } else if let Some(drop) = dropped.iter().find(|d| d.candidate == vote.candidate) {
            Some(format!(
                "candidate {} was dropped because {}",
                vote.candidate, drop.reason
            ))
        } else {
            Some(format!("there is no candidate {}", vote.candidate))
        };
        match reason {
            Some(reason) => ignored_votes.push(IgnoredVote {
                vote: vote.clone(),
                reason,
            }),
            None => {
                voted.insert(vote.reviewer.clone());
                *tally.entry(vote.candidate).or_default() += 1;
            }
        }
    }

    let mut ranked: Vec<(&CandidateReport, usize)> = survivors
        .values()
        .map(|report| (*report, tally.get(&report.candidate).copied().unwrap_or(0)))
        .collect();
    ranked.sort_by(|a, b| compare(a, b).0);
    let standings: Vec<Standing> = ranked
        .iter()
        .map(|(report, votes)| Standing {
            candidate: report.candidate,
            votes: *votes,
        })
        .collect();

    let (winner, decided_by) = match ranked.as_slice() {
        [] => (None, None),
        [only] => (Some(only.0.candidate), Some(DecidedBy::OnlySurvivor)),
        [first, second, ..] => (Some(first.0.candidate), Some(compare(first, second).1)),
    };
    let summary = summarize(
        winner,
        decided_by,
        &standings,
        &dropped,
        candidates.len(),
        votes.len() - ignored_votes.len(),
    );
    Decision {
        winner,
        decided_by,
        standings,
        dropped,
        ignored_votes,
        summary,
    }
}

/// Orders two survivors best first, and names the first criterion that separates them.
fn compare(a: &(&CandidateReport, usize), b: &(&CandidateReport, usize)) -> (Ordering, DecidedBy) {
    let criteria = [
        (b.1.cmp(&a.1), DecidedBy::Votes),
        (b.0.passed.cmp(&a.0.passed), DecidedBy::MorePassing),
        (a.0.failed.cmp(&b.0.failed), DecidedBy::FewerFailing),
        (a.0.diff_bytes.cmp(&b.0.diff_bytes), DecidedBy::SmallerDiff),
        (a.0.candidate.cmp(&b.0.candidate), DecidedBy::LowestNumber),
    ];
    criteria
        .into_iter()
        .find(|(ordering, _)| ordering.is_ne())
        .unwrap_or((Ordering::Equal, DecidedBy::LowestNumber))
}

fn summarize(
    winner: Option<usize>,
    decided_by: Option<DecidedBy>,
    standings: &[Standing],
    dropped: &[Dropped],
    total: usize,
    valid_votes: usize,
) -> String {
    let Some(winner) = winner else {
        if total == 0 {
            return "No candidate qualified: there were no candidates.".to_string();
        }
        let reasons: Vec<String> = dropped
            .iter()
            .map(|d| format!("candidate {}: {}", d.candidate, d.reason))
            .collect();
        return format!("No candidate qualified; {}.", reasons.join("; "));
    };
    let votes = standings.first().map_or(0, |s| s.votes);
    let why = match decided_by {
        Some(DecidedBy::OnlySurvivor) => "it is the only candidate that qualified".to_string(),
        Some(DecidedBy::Votes) => {
            format!("it has the most votes ({votes} of {valid_votes})")
        }
        Some(DecidedBy::MorePassing) => "tied on votes, it passes the most tests".to_string(),
        Some(DecidedBy::FewerFailing) => {
            "tied on votes and passing tests, it fails the fewest tests".to_string()
        }
        Some(DecidedBy::SmallerDiff) => {
            "tied on votes and test results, its diff is the smallest".to_string()
        }
        Some(DecidedBy::LowestNumber) | None => {
            "tied on votes, test results and diff size, it has the lowest number".to_string()
        }
    };
    let mut summary = format!(
        "Candidate {winner} wins: {why}; {} of {total} candidates qualified.",
        standings.len()
    );
    for d in dropped {
        summary.push_str(&format!(
            " Candidate {} was dropped: {}.",
            d.candidate, d.reason
        ));
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(candidate: usize) -> CandidateReport {
        CandidateReport {
            candidate,
            passed: 5,
            failed: 1,
            exit_code: Some(1),
            diff_bytes: 100,
            ..CandidateReport::default()
        }
    }

    fn vote(reviewer: &str, candidate: usize) -> ReviewerVote {
        ReviewerVote {
            reviewer: reviewer.into(),
            candidate,
            reason: format!("{reviewer} likes {candidate}"),
        }
    }

    #[test]
    fn votes_decide_among_survivors() {
        let decision = choose(
            &[report(0), report(1), report(2)],
            &[vote("r1", 1), vote("r2", 1), vote("r3", 2)],
        );
        assert_eq!(decision.winner, Some(1));
        assert_eq!(decision.decided_by, Some(DecidedBy::Votes));
        assert_eq!(
            decision.standings,
            [
                Standing {
                    candidate: 1,
                    votes: 2
                },
                Standing {
                    candidate: 2,
                    votes: 1
                },
                Standing {
                    candidate: 0,
                    votes: 0
                },
            ]
        );
        assert!(decision.dropped.is_empty());
        assert!(decision.ignored_votes.is_empty());
        assert!(
            decision.summary.contains("most votes (2 of 3)"),
            "{}",
            decision.summary
        );
    }

    #[test]
    fn candidates_that_break_tests_do_not_run_or_change_nothing_are_dropped() {
        let breaker = CandidateReport {
            breaks: vec!["tests::adds".into()],
            passed: 50,
            ..report(0)
        };
        let not_run = CandidateReport {
            not_run: Some("no test summary in the output".into()),
            ..report(1)
        };
        let empty = CandidateReport {
            diff_bytes: 0,
            ..report(2)
        };
        let good = report(3);
        let decision = choose(
            &[breaker, not_run, empty, good],
            &[vote("r1", 0), vote("r2", 0)],
        );
        assert_eq!(decision.winner, Some(3));
        assert_eq!(decision.decided_by, Some(DecidedBy::OnlySurvivor));
        assert_eq!(
            decision.dropped,
            [
                Dropped {
                    candidate: 0,
                    reason: DropReason::BreaksTests {
                        tests: vec!["tests::adds".into()]
                    }
                },
                Dropped {
                    candidate: 1,
                    reason: DropReason::TestsDidNotRun {
                        reason: "no test summary in the output".into()
                    }
                },
                Dropped {
                    candidate: 2,
                    reason: DropReason::NoChanges
                },
            ]
        );
        assert_eq!(decision.ignored_votes.len(), 2);
        assert!(
            decision.ignored_votes[0]
                .reason
                .contains("candidate 0 was dropped because it breaks 1 test that passed before")
        );
    }

    #[test]
    fn no_survivor_means_no_winner_with_a_reason_per_candidate() {
        let decision = choose(
            &[
                CandidateReport {
                    breaks: vec!["a".into(), "b".into()],
                    ..report(0)
                },
                CandidateReport {
                    not_run: Some("timed out after 600 s".into()),
                    ..report(1)
                },
            ],
            &[vote("r1", 1)],
        );
        assert_eq!(decision.winner, None);
        assert_eq!(decision.decided_by, None);
        assert!(decision.standings.is_empty());
        assert_eq!(
            decision.summary,
            "No candidate qualified; candidate 0: it breaks 2 tests that passed before: a, b; \
             candidate 1: its tests did not run: timed out after 600 s."
        );
    }

    #[test]
    fn no_candidates_at_all_has_no_winner() {
        let decision = choose(&[], &[vote("r1", 0)]);
        assert_eq!(decision.winner, None);
        assert_eq!(decision.ignored_votes[0].reason, "there is no candidate 0");
        assert_eq!(
            decision.summary,
            "No candidate qualified: there were no candidates."
        );
    }

    #[test]
    fn invalid_votes_are_ignored_and_reported() {
        let decision = choose(
            &[
                report(0),
                report(1),
                CandidateReport {
                    breaks: vec!["x".into()],
                    ..report(2)
                },
            ],
            &[
                vote("r1", 7),
                vote("r2", 2),
                vote("r3", 0),
                vote("r3", 1),
                vote("r4", 1),
            ],
        );
        let reasons: Vec<&str> = decision
            .ignored_votes
            .iter()
            .map(|v| v.reason.as_str())
            .collect();
        assert_eq!(
            reasons,
            [
                "there is no candidate 7",
                "candidate 2 was dropped because it breaks 1 test that passed before: x",
                "`r3` already voted; only a reviewer's first vote counts",
            ]
        );
        // r3's first vote (for 0) and r4's vote (for 1) count: a tie broken by tests, then
        // by the lowest number since their results are equal.
        assert_eq!(decision.winner, Some(0));
        assert_eq!(decision.decided_by, Some(DecidedBy::LowestNumber));
    }

    #[test]
    fn ties_are_broken_by_passing_then_failing_then_diff_size_then_number() {
        let more_passing = CandidateReport {
            passed: 6,
            ..report(4)
        };
        let decision = choose(&[report(0), more_passing.clone()], &[]);
        assert_eq!(
            (decision.winner, decision.decided_by),
            (Some(4), Some(DecidedBy::MorePassing))
        );

        let fewer_failing = CandidateReport {
            failed: 0,
            ..report(3)
        };
        let decision = choose(&[report(0), fewer_failing], &[vote("r", 0), vote("s", 3)]);
        assert_eq!(
            (decision.winner, decision.decided_by),
            (Some(3), Some(DecidedBy::FewerFailing))
        );

        let smaller = CandidateReport {
            diff_bytes: 10,
            ..report(2)
        };
        let decision = choose(&[report(0), smaller], &[]);
        assert_eq!(
            (decision.winner, decision.decided_by),
            (Some(2), Some(DecidedBy::SmallerDiff))
        );

        let decision = choose(&[report(5), report(1)], &[]);
        assert_eq!(
            (decision.winner, decision.decided_by),
            (Some(1), Some(DecidedBy::LowestNumber))
        );
        assert!(
            decision.summary.contains("lowest number"),
            "{}",
            decision.summary
        );
    }

    #[test]
    fn votes_outrank_test_results() {
        let strong = CandidateReport {
            passed: 100,
            failed: 0,
            ..report(0)
        };
        let decision = choose(&[strong, report(1)], &[vote("r", 1)]);
        assert_eq!(decision.winner, Some(1));
        assert_eq!(decision.decided_by, Some(DecidedBy::Votes));
    }

    #[test]
    fn duplicate_candidate_numbers_keep_the_first_report() {
        let decision = choose(
            &[
                report(0),
                CandidateReport {
                    passed: 99,
                    ..report(0)
                },
            ],
            &[vote("r", 0)],
        );
        assert_eq!(decision.winner, Some(0));
        assert!(decision.ignored_votes.is_empty());
        assert_eq!(
            decision.standings,
            [Standing {
                candidate: 0,
                votes: 1
            }]
        );
        assert_eq!(
            decision.dropped,
            [Dropped {
                candidate: 0,
                reason: DropReason::DuplicateNumber
            }]
        );
    }

    #[test]
    fn the_same_input_gives_the_same_decision() {
        let candidates = [report(2), report(0), report(1)];
        let votes = [vote("a", 1), vote("b", 2)];
        let first = choose(&candidates, &votes);
        assert_eq!(first, choose(&candidates, &votes));
        // Report order does not matter either.
        let reordered = [report(0), report(1), report(2)];
        assert_eq!(first.winner, choose(&reordered, &votes).winner);
        assert_eq!(first.winner, Some(1));
    }
}
