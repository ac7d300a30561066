//! What the swarm's agents are told: the candidates' approaches and sections, the Tester's
//! brief, and the reviewers' view of the surviving candidates.

use std::fmt::Write as _;

use super::Candidate;

/// Approaches candidates are nudged towards, in turn, so they do not all write the same
/// change.
pub(super) const APPROACHES: [&str; 4] = [
    "Make the smallest change that solves the task; prefer editing existing code to adding new code.",
    "Start from the tests and the code they exercise; let them guide the change, and run them.",
    "Think about the edge cases first and make the change handle them explicitly.",
    "Prefer the most straightforward, readable solution, even if it is a little longer.",
];

/// Bytes of one candidate's diff shown to the reviewers.
const MAX_DIFF_SHOWN: usize = 24 * 1024;

/// How a swarm is set up.
pub(super) fn candidate_section(number: usize, count: usize, approach: &str) -> String {
    format!(
        "# Swarm\nYou are candidate {number} of {count} (numbered from 0) attempting the same task independently; the best change, judged by the project's tests and by reviewers, is applied to the user's working tree. Work only in your workspace, which is a checkout of your own: do not touch other folders, do not commit, and leave your change in the working tree. Approach: {approach} Finish with a short summary of what you changed and why."
    )
}

pub(super) fn tester_section(count: usize) -> String {
    format!(
        "# Swarm\nYou are the Tester of a swarm: {count} candidates attempt the task below in parallel while you write reproduction tests for it. Write test files only (their paths must contain `test` or `spec`), in the project's usual test layout, that fail on the current code and pass once the task is done; do not implement the change. Every candidate's change is run with your tests and the project's own. Work only in your workspace, a checkout of your own, and do not commit. Finish with a short summary of the tests you wrote."
    )
}

pub(super) fn tester_prompt(prompt: &str) -> String {
    format!("Write reproduction tests for this task:\n\n{prompt}")
}

pub(super) const REVIEWER_SECTION: &str = "# Swarm review\nSeveral candidates attempted the same task; those below passed the tests. Compare their changes for correctness, completeness and clarity, then call the `vote` tool exactly once with the number of the best candidate and a one-sentence reason. Finish with a short summary of your choice.";

pub(super) fn review_prompt(
    prompt: &str,
    candidates: &[Candidate],
    survivors: &[usize],
    run_model: &str,
    baseline: &str,
    tester_note: &str,
) -> String {
    let mut text = format!(
        "# The task\n{prompt}\n\n# How they were tested\nBaseline (unchanged tree): {baseline}.\n"
    );
    if !tester_note.is_empty() {
        let _ = writeln!(text, "{tester_note}");
    }
    let _ = writeln!(
        text,
        "\n# The candidates that qualified: {}",
        survivors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    for &number in survivors {
        let Some(candidate) = candidates.get(number) else {
            continue;
        };
        let _ = writeln!(
            text,
            "\n## Candidate {number}\n{}",
            candidate.label(run_model)
        );
        if let Some(evaluation) = &candidate.evaluation {
            let _ = writeln!(text, "Tests: {}", evaluation.tests);
            let mut diff = evaluation.diff.as_str();
            let mut cut = false;
            if diff.len() > MAX_DIFF_SHOWN {
                let mut end = MAX_DIFF_SHOWN;
                while !diff.is_char_boundary(end) {
                    end -= 1;
                }
                diff = &diff[..end];
                cut = true;
            }
            let _ = writeln!(
                text,
                "```diff\n{}{}\n```",
                diff.trim_end(),
                if cut {
                    "\n[… the rest of the diff is left out …]"
                } else {
                    ""
                }
            );
        }
        if let Some(run) = &candidate.run {
            let _ = writeln!(text, "Its summary: {}", run.outcome.summary.trim());
        }
    }
    text
}
