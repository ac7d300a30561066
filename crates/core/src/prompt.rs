//! The system prompt: who the agent is, how it works, its environment and the project's own
//! instructions.

use std::fmt::Write;
use std::path::Path;

use crate::InstructionFile;

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
