//! The system prompt: who the agent is, how it works, its environment and the project's own
//! instructions.

use std::fmt::Write;
use std::path::Path;

use code_mesh_protocol::{MemoryEntry, MemoryKind, MemoryQuery, MemoryScope};

use crate::{InstructionFile, MemoryBank, StoreError};

/// The built-in instructions of a Code Mesh coding agent.
pub fn base_system_prompt() -> &'static str {
    BASE_PROMPT
}

const BASE_PROMPT: &str = "\
You are Code Mesh, a coding agent working in the user's repository through tools.

How to work:
- Understand before changing: read the relevant files and search the code (grep, glob, ls) \
instead of guessing. Prefer several independent reads in one step; they run in parallel.
- Make the smallest change that does the job, in the style of the surrounding code. Use \
`edit` for changes to existing files (exact text to replace, with enough context to be \
unique) and `write` only for new files or complete rewrites.
- Verify: build and run the project's tests or the command that shows the change works, \
with `bash`, and fix what fails.
- Paths are relative to the working directory unless absolute; stay inside the workspace.
- When a tool fails, read its message: it says what went wrong and what to do instead. \
Do not repeat a call that failed without changing it.
- Do not invent results. If something cannot be done, say so and why.
- Finish with a short answer: what you changed, how you checked it, and anything left open.";

/// Builds the full system prompt.
pub fn system_prompt(
    base: &str,
    workspace: &Path,
    cwd: &Path,
    instructions: &[InstructionFile],
) -> String {
    let mut prompt = String::with_capacity(base.len() + 512);
    prompt.push_str(base);
    prompt.push_str("\n\n# Environment\n");
    let _ = writeln!(prompt, "Working directory: {}", cwd.display());
    let _ = writeln!(prompt, "Workspace root: {}", workspace.display());
    let _ = writeln!(prompt, "Platform: {}", std::env::consts::OS);
    for file in instructions {
        let _ = write!(
            prompt,
            "\n# Project instructions from {}\n{}\n",
            file.path.display(),
            file.content.trim_end()
        );
        if file.truncated {
            prompt.push_str("(the file was cut here: it is too long to include whole)\n");
        }
    }
    prompt
}

/// Bytes the memory section of the system prompt may take in all, its heading included.
pub const MAX_MEMORY_SECTION_BYTES: usize = 2_000;
/// Bytes of one memory entry shown in the system prompt; longer ones are cut.
pub const MAX_MEMORY_ENTRY_BYTES: usize = 300;
/// Entries fetched per group for the memory section (the byte budget keeps fewer).
const MEMORY_ENTRIES_PER_GROUP: usize = 20;

const MEMORY_HEADING: &str = "\n# Memory from earlier sessions\n\
Notes saved in earlier sessions (by agents with `remember`, by the user, and by Code Mesh from \
the outcome of earlier tasks here). They may be outdated: when one disagrees with the files or \
the user, trust those.\n";

/// The long-lived memory a session starts with, each list newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PromptMemory {
    /// The user's global entries (preferences and facts), for every project.
    pub global: Vec<MemoryEntry>,
    /// Facts and preferences recorded for this repository.
    pub project: Vec<MemoryEntry>,
    /// This agent type's notes for this repository.
    pub agent: Vec<MemoryEntry>,
    /// The learning engine's lessons from earlier tasks in this repository.
    pub lessons: Vec<MemoryEntry>,
}

impl PromptMemory {
    /// Fetches what a session of `agent` in `workspace` starts with, newest first.
    pub async fn recall(
        bank: &dyn MemoryBank,
        workspace: &str,
        agent: &str,
    ) -> Result<PromptMemory, StoreError> {
        let query = |scope: MemoryScope, kinds: Vec<MemoryKind>| MemoryQuery {
            scopes: vec![scope],
            kinds,
            project: Some(workspace.to_owned()),
            agent: Some(agent.to_owned()),
            limit: MEMORY_ENTRIES_PER_GROUP,
            ..MemoryQuery::default()
        };
        let entries = |hits: Vec<code_mesh_protocol::MemoryHit>| {
            hits.into_iter().map(|hit| hit.entry).collect::<Vec<_>>()
        };
        let notes = vec![MemoryKind::Fact, MemoryKind::Preference];
        Ok(PromptMemory {
            global: entries(bank.recall(&query(MemoryScope::Global, Vec::new())).await?),
            project: entries(bank.recall(&query(MemoryScope::Project, notes)).await?),
            agent: entries(bank.recall(&query(MemoryScope::Agent, Vec::new())).await?),
            lessons: entries(
                bank.recall(&query(MemoryScope::Project, vec![MemoryKind::Lesson]))
                    .await?,
            ),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.global.is_empty()
            && self.project.is_empty()
            && self.agent.is_empty()
            && self.lessons.is_empty()
    }
}

/// The memory section of the system prompt: at most [`MAX_MEMORY_SECTION_BYTES`], each entry
/// cut to [`MAX_MEMORY_ENTRY_BYTES`], entries taken from the groups in turn (newest first in
/// each) so no group crowds out the others. Empty when there is no memory.
pub fn memory_section(memory: &PromptMemory, agent: &str, now: u64) -> String {
    let groups: [(String, &[MemoryEntry]); 4] = [
        ("## The user's preferences".into(), &memory.global),
        (
            "## Lessons from earlier tasks in this repository".into(),
            &memory.lessons,
        ),
        ("## Facts about this repository".into(), &memory.project),
        (format!("## Notes of the {agent} agent"), &memory.agent),
    ];
    let mut chosen: [Vec<String>; 4] = Default::default();
    let mut next = [0usize; 4];
    let mut open = [true; 4];
    let mut used = MEMORY_HEADING.len();
    while open.iter().any(|&o| o) {
        for (index, (heading, entries)) in groups.iter().enumerate() {
            if !open[index] {
                continue;
            }
            let Some(entry) = entries.get(next[index]) else {
                open[index] = false;
                continue;
            };
            next[index] += 1;
            let line = format!(
                "- {} ({})\n",
                clip_bytes(&one_line(&entry.memory.content), MAX_MEMORY_ENTRY_BYTES),
                describe_age(now, entry.created_at)
            );
            let heading_cost = if chosen[index].is_empty() {
                heading.len() + 1
            } else {
                0
            };
            if used + heading_cost + line.len() <= MAX_MEMORY_SECTION_BYTES {
                used += heading_cost + line.len();
                chosen[index].push(line);
            }
        }
    }
    if chosen.iter().all(Vec::is_empty) {
        return String::new();
    }
    let mut section = String::with_capacity(used);
    section.push_str(MEMORY_HEADING);
    for ((heading, _), lines) in groups.iter().zip(&chosen) {
        if lines.is_empty() {
            continue;
        }
        section.push_str(heading);
        section.push('\n');
        for line in lines {
            section.push_str(line);
        }
    }
    section
}

/// "just now", "5 minutes ago", "1 hour ago", "3 days ago", "2 months ago", "1 year ago".
pub fn describe_age(now: u64, then: u64) -> String {
    let minutes = now.saturating_sub(then) / 60_000;
    let (count, unit) = match minutes {
        0 => return "just now".into(),
        m if m < 60 => (m, "minute"),
        m if m < 60 * 24 => (m / 60, "hour"),
        m if m < 60 * 24 * 60 => (m / (60 * 24), "day"),
        m if m < 60 * 24 * 365 => (m / (60 * 24 * 30), "month"),
        m => (m / (60 * 24 * 365), "year"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` bytes of `text` (on a character boundary), ending in "…" when cut.
fn clip_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::NewMemory;

    use super::*;

    const DAY: u64 = 86_400_000;

    fn entry(id: u64, scope: MemoryScope, kind: MemoryKind, content: &str, at: u64) -> MemoryEntry {
        MemoryEntry {
            id,
            memory: NewMemory {
                scope,
                kind,
                project: None,
                agent: None,
                content: content.into(),
                key: None,
                source_session: None,
                expires_at: None,
            },
            created_at: at,
        }
    }

    #[test]
    fn no_memory_adds_nothing() {
        assert_eq!(memory_section(&PromptMemory::default(), "coder", 0), "");
    }

    #[test]
    fn groups_are_labelled_and_dated() {
        let now = 10 * DAY;
        let memory = PromptMemory {
            global: vec![entry(
                1,
                MemoryScope::Global,
                MemoryKind::Preference,
                "Use tabs.",
                now,
            )],
            project: vec![entry(
                2,
                MemoryScope::Project,
                MemoryKind::Fact,
                "API in\nserver/",
                now - 3 * DAY,
            )],
            agent: vec![entry(
                3,
                MemoryScope::Agent,
                MemoryKind::Fact,
                "Fixtures in tests/data.",
                now - 2 * 60_000,
            )],
            lessons: vec![entry(
                4,
                MemoryScope::Project,
                MemoryKind::Lesson,
                "Run the tests with `./test.sh`.",
                now - DAY,
            )],
        };
        assert_eq!(
            memory_section(&memory, "tester", now),
            format!(
                "{MEMORY_HEADING}## The user's preferences\n- Use tabs. (just now)\n\
                 ## Lessons from earlier tasks in this repository\n\
                 - Run the tests with `./test.sh`. (1 day ago)\n\
                 ## Facts about this repository\n- API in server/ (3 days ago)\n\
                 ## Notes of the tester agent\n- Fixtures in tests/data. (2 minutes ago)\n"
            )
        );
    }

    #[test]
    fn the_section_stays_within_its_budget_and_every_group_gets_a_share() {
        let long = "x".repeat(5_000);
        let many = |scope, kind| -> Vec<MemoryEntry> {
            (0..50)
                .map(|n| entry(n, scope, kind, &format!("{n} {long}"), 0))
                .collect()
        };
        let memory = PromptMemory {
            global: many(MemoryScope::Global, MemoryKind::Preference),
            project: many(MemoryScope::Project, MemoryKind::Fact),
            agent: many(MemoryScope::Agent, MemoryKind::Fact),
            lessons: vec![entry(
                9,
                MemoryScope::Project,
                MemoryKind::Lesson,
                "short lesson",
                0,
            )],
        };
        let section = memory_section(&memory, "coder", 0);
        assert!(
            section.len() <= MAX_MEMORY_SECTION_BYTES,
            "{}",
            section.len()
        );
        assert!(section.contains("- short lesson (just now)"));
        assert!(section.contains("## Notes of the coder agent"));
        for line in section.lines().filter(|l| l.starts_with("- ")) {
            assert!(
                line.len() <= MAX_MEMORY_ENTRY_BYTES + " (just now)".len() + 2,
                "{line}"
            );
        }
        assert!(
            section.contains("- 0 xxx"),
            "the newest of each group comes first"
        );
        assert!(
            section.contains("xxx… (just now)"),
            "long entries are cut and marked"
        );
    }

    #[test]
    fn ages_read_naturally() {
        let minute = 60_000;
        assert_eq!(describe_age(30_000, 0), "just now");
        assert_eq!(describe_age(minute, 0), "1 minute ago");
        assert_eq!(describe_age(59 * minute, 0), "59 minutes ago");
        assert_eq!(describe_age(2 * 60 * minute, 0), "2 hours ago");
        assert_eq!(describe_age(45 * DAY, 0), "45 days ago");
        assert_eq!(describe_age(90 * DAY, 0), "3 months ago");
        assert_eq!(describe_age(800 * DAY, 0), "2 years ago");
        assert_eq!(describe_age(0, 5), "just now", "a clock that stepped back");
    }
}
