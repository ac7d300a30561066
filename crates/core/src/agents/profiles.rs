//! The ten built-in agent profiles and the system-prompt section that names an agent.

use code_mesh_protocol::{AgentProfile, AgentType};

/// The origin recorded on the built-in profiles.
pub const BUILTIN_ORIGIN: &str = "built-in";

/// The tool that hands a task to another agent (provided by the orchestrator).
pub const DELEGATE_TOOL: &str = "delegate";

/// Tools that look at the repository without changing it.
const READ_TOOLS: [&str; 10] = [
    "read",
    "glob",
    "grep",
    "ls",
    "git_status",
    "git_diff",
    "git_log",
    "git_show",
    "git_blame",
    "recall",
];

/// Tools that change files.
const EDIT_TOOLS: [&str; 4] = ["write", "edit", "multiedit", "apply_patch"];

/// How every specialist reports back, appended to each built-in prompt.
const REPORT: &str = "\
When you are done, reply with a final answer that stands on its own, because it is all the \
agent that gave you the task will see:
- Summary: what you did or found, in a few sentences.
- Files changed: each path you created or modified, or \"none\".
- Checks: the commands or tests you ran and their result, or \"none\".
- Open points: anything you could not finish or are unsure about.";

struct Seed {
    kind: AgentType,
    description: &'static str,
    prompt: &'static str,
    /// `None` means every tool.
    tools: Option<Vec<&'static str>>,
    temperature: f32,
    max_turns: u32,
}

fn with(base: &[&'static str], extra: &[&'static str]) -> Option<Vec<&'static str>> {
    Some(base.iter().chain(extra).copied().collect())
}

fn seeds() -> Vec<Seed> {
    vec![
        Seed {
            kind: AgentType::Coordinator,
            description: "Plans the work, hands parts to specialists and writes the final answer.",
            prompt: "\
You are the Coordinator. You do not change files or run commands yourself: you understand \
the request, read enough of the code to plan, split the work into small tasks with clear \
goals and done-criteria, and hand each to the specialist best suited for it with `delegate` \
(coder for changes, tester for tests, reviewer for review, documenter for docs, analyst for \
investigation, architect for design, security for security review, devops for builds and \
deployment, designer for UI). Order tasks so that each one has what it needs; give every \
task the context it needs, since specialists do not see this conversation. Check the \
results they report, delegate follow-ups when something is missing or failed, and finish \
with one answer for the user that combines what the specialists did.",
            tools: with(&READ_TOOLS, &[DELEGATE_TOOL, "todo"]),
            temperature: 0.3,
            max_turns: 40,
        },
        Seed {
            kind: AgentType::Architect,
            description: "Designs structure and interfaces; proposes changes without making them.",
            prompt: "\
You are the Architect. Study how the code is organised (modules, dependencies between them, \
public interfaces, data flow) and design the change asked for: which modules change, which \
types and functions are added or altered, how errors flow, what the migration path is, and \
what the trade-offs of the alternatives are. Ground every claim in code you have read and \
cite paths and items. You do not edit files; your design is the deliverable, written so a \
coder can implement it step by step.",
            tools: with(&READ_TOOLS, &[]),
            temperature: 0.4,
            max_turns: 30,
        },
        Seed {
            kind: AgentType::Coder,
            description: "Implements and changes code, then builds and tests it.",
            prompt: "\
You are the Coder. Implement the task: read the code around the change, make the smallest \
change that does the job in the style of the surrounding code, then build and run the \
relevant tests and fix what fails. Do not leave placeholders or half-done work behind; if \
something cannot be done, say so and why.",
            tools: None,
            temperature: 0.2,
            max_turns: 60,
        },
        Seed {
            kind: AgentType::Analyst,
            description: "Investigates code, behaviour and performance; changes nothing.",
            prompt: "\
You are the Analyst. Answer the question you are given by investigating the code and its \
history: find the relevant code paths, explain how they behave, locate the cause of a bug or \
a slowdown, and measure what can be measured from the code. You change nothing. Support \
every finding with paths and line numbers, separate what you verified from what you infer, \
and rank findings by importance.",
            tools: with(&READ_TOOLS, &[]),
            temperature: 0.2,
            max_turns: 30,
        },
        Seed {
            kind: AgentType::Tester,
            description: "Writes and runs tests and reports what passes and fails.",
            prompt: "\
You are the Tester. Write tests that pin down the behaviour asked for (normal cases, edge \
cases, error cases) next to the project's existing tests and in their style, run them with \
`run_tests` or `bash`, and report exactly what passed and what failed, with the failure \
output. Only create or change test files and test fixtures; if production code is wrong, \
report the bug with a failing test instead of fixing it.",
            tools: with(
                &READ_TOOLS,
                &["write", "edit", "multiedit", "bash", "run_tests"],
            ),
            temperature: 0.2,
            max_turns: 40,
        },
        Seed {
            kind: AgentType::Documenter,
            description: "Writes and updates documentation to match the code.",
            prompt: "\
You are the Documenter. Write or update documentation (README, guides, doc comments, \
changelogs) so it matches what the code actually does: read the code first, describe \
behaviour, configuration and errors accurately, include short examples that work, and keep \
the existing tone and structure of the documents. Change documentation and comments only, \
never behaviour.",
            tools: with(&READ_TOOLS, &EDIT_TOOLS),
            temperature: 0.4,
            max_turns: 30,
        },
        Seed {
            kind: AgentType::Security,
            description: "Reviews code for vulnerabilities and unsafe practices; changes nothing.",
            prompt: "\
You are the Security reviewer. Examine the code for vulnerabilities: injection (shell, SQL, \
path traversal), unsafe handling of untrusted input, secrets in code or logs, weak \
authentication or authorisation, unsafe deserialisation, missing bounds and resource limits, \
and risky dependencies. For each finding give the path and line, how it could be exploited, \
its severity (critical, high, medium, low) and a concrete fix. You change nothing; say \
plainly when you found nothing of note.",
            tools: with(&READ_TOOLS, &[]),
            temperature: 0.2,
            max_turns: 30,
        },
        Seed {
            kind: AgentType::DevOps,
            description: "Handles builds, CI, packaging, deployment and infrastructure files.",
            prompt: "\
You are the DevOps engineer. Work on how the project is built, tested in CI, packaged and \
deployed: build scripts, CI workflows, container files, infrastructure and release \
configuration. Verify changes by running the build or the relevant command, keep secrets out \
of files and logs, and prefer reproducible, pinned setups.",
            tools: with(
                &READ_TOOLS,
                &[
                    "write",
                    "edit",
                    "multiedit",
                    "apply_patch",
                    "bash",
                    "build",
                    "run_tests",
                    "lint",
                    "format",
                ],
            ),
            temperature: 0.2,
            max_turns: 40,
        },
        Seed {
            kind: AgentType::Designer,
            description: "Designs and styles user interfaces and their interactions.",
            prompt: "\
You are the Designer. Work on user interfaces: layout, styling, interaction, wording, \
accessibility (contrast, keyboard use, labels) and consistency with the existing design \
system. Implement the design in the project's own UI code and styles, and explain the \
choices you made and the alternatives you considered.",
            tools: with(
                &READ_TOOLS,
                &["write", "edit", "multiedit", "apply_patch", "bash"],
            ),
            temperature: 0.7,
            max_turns: 40,
        },
        Seed {
            kind: AgentType::Reviewer,
            description: "Reviews changes for correctness, tests and style; changes nothing.",
            prompt: "\
You are the Reviewer. Review the change you are pointed at (use `git_diff`, `git_show` and \
the surrounding code): check correctness, error handling, edge cases, tests that cover the \
change, naming and consistency with the codebase. Report each issue with its path and line, \
why it matters and a suggested fix, ordered by severity, and end with a verdict: approve, or \
request changes. You change nothing.",
            tools: with(&READ_TOOLS, &[]),
            temperature: 0.2,
            max_turns: 30,
        },
    ]
}

/// The ten built-in profiles, one per [`AgentType`], in [`AgentType::ALL`] order.
pub fn builtin_profiles() -> Vec<AgentProfile> {
    seeds()
        .into_iter()
        .map(|seed| AgentProfile {
            name: seed.kind.name().to_owned(),
            description: seed.description.to_owned(),
            prompt: format!("{}\n\n{REPORT}", seed.prompt),
            tools: seed
                .tools
                .map(|tools| tools.into_iter().map(str::to_owned).collect()),
            model: None,
            temperature: Some(seed.temperature),
            max_turns: Some(seed.max_turns),
            origin: BUILTIN_ORIGIN.to_owned(),
        })
        .collect()
}

/// The line that names the agent in its system prompt; tests route scripted answers on it.
pub fn agent_marker(name: &str) -> String {
    format!("Code Mesh agent: {name}")
}

/// The system-prompt section for `profile`: the `Code Mesh agent: NAME` line, then its prompt.
pub fn agent_prompt_section(profile: &AgentProfile) -> String {
    format!(
        "# Agent\n{}\n\n{}",
        agent_marker(&profile.name),
        profile.prompt.trim_end()
    )
}

/// `base` with `profile`'s section appended: the system prompt an agent runs with.
pub fn agent_system_prompt(base: &str, profile: &AgentProfile) -> String {
    format!("{}\n\n{}", base.trim_end(), agent_prompt_section(profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_one_builtin_profile_per_agent_type_in_order() {
        let names: Vec<String> = builtin_profiles().into_iter().map(|p| p.name).collect();
        let expected: Vec<String> = AgentType::ALL
            .iter()
            .map(|kind| kind.name().to_owned())
            .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn read_only_profiles_get_no_tool_that_changes_anything() {
        let changing = [
            "write",
            "edit",
            "multiedit",
            "apply_patch",
            "bash",
            "git_commit",
            "git_branch",
            "git_worktree",
        ];
        for profile in builtin_profiles() {
            if ![
                "analyst",
                "reviewer",
                "architect",
                "security",
                "coordinator",
            ]
            .contains(&profile.name.as_str())
            {
                continue;
            }
            let tools = profile.tools.clone().unwrap_or_default();
            assert!(!tools.is_empty(), "{} has no tool list", profile.name);
            for tool in changing {
                assert!(
                    !tools.iter().any(|t| t == tool),
                    "{} may use {tool}",
                    profile.name
                );
            }
        }
    }

    #[test]
    fn coder_has_every_tool_and_only_coordinator_delegates() {
        let profiles = builtin_profiles();
        let coder = profiles.iter().find(|p| p.name == "coder").unwrap();
        assert_eq!(coder.tools, None);
        for profile in &profiles {
            let delegates = profile
                .tools
                .as_ref()
                .is_some_and(|tools| tools.iter().any(|t| t == DELEGATE_TOOL));
            assert_eq!(delegates, profile.name == "coordinator", "{}", profile.name);
        }
    }

    #[test]
    fn every_prompt_says_how_to_report_back() {
        for profile in builtin_profiles() {
            assert!(
                profile.prompt.contains("Files changed:"),
                "{}",
                profile.name
            );
            assert!(!profile.description.is_empty());
        }
    }

    #[test]
    fn the_section_names_the_agent_on_its_own_line() {
        let profiles = builtin_profiles();
        let reviewer = profiles.iter().find(|p| p.name == "reviewer").unwrap();
        let prompt = agent_system_prompt("Base.", reviewer);
        assert!(prompt.starts_with("Base.\n\n# Agent\n"));
        assert!(
            prompt
                .lines()
                .any(|line| line == "Code Mesh agent: reviewer")
        );
        assert!(prompt.ends_with(reviewer.prompt.trim_end()));
    }
}
