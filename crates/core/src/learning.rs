//! The learning engine: what a finished task (one user turn) teaches about the project.
//!
//! [`task_outcome`] reads the turn's messages: the commands run through `bash` and the project
//! tools (`run_tests`, `build`, `lint`, `format`) with their results, the files written or
//! edited, and the failures that a later run of the same command no longer showed once files
//! had changed. [`lessons`] turns that into keyed [`Lesson`]s ("test-command",
//! "build-command", "fix:<command>"); the engine reports both in a `task_outcome_recorded`
//! event, and the stores keep the lessons as project memory, a newer lesson replacing the
//! older one of the same key. The next session in the repository finds them in its system
//! prompt, so it runs the tests it knows instead of searching for how.
//!
//! Everything here is pure: no clock, no file system, no process.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use code_mesh_protocol::{
    ErrorFix, Lesson, Message, Part, Role, TaskOutcome, ToolCall, TurnEndReason,
};
use serde_json::Value;

/// Commands listed in one lesson at most.
const MAX_COMMANDS_PER_LESSON: usize = 3;
/// Characters kept of a command in a lesson.
const MAX_COMMAND_CHARS: usize = 200;
/// Characters kept of an error line.
const MAX_ERROR_CHARS: usize = 200;
/// Files named in a fix.
const MAX_FIX_FILES: usize = 5;

/// What a shell command does, as far as the learning engine can tell from its words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandKind {
    /// Runs the project's tests (`pytest`, `cargo test`, `npm test`, `./test.sh`, …).
    Test,
    /// Builds, type-checks, lints or formats the project (`cargo build`, `tsc`, `ruff`, …).
    Build,
    Other,
}

/// The outcome of the turn whose messages are `messages` (from its user message on), ended
/// for `reason`. Paths are made relative to `workspace`, resolving relative ones from `cwd`.
pub fn task_outcome(
    messages: &[Message],
    reason: TurnEndReason,
    workspace: &Path,
    cwd: &Path,
) -> TaskOutcome {
    let task = messages
        .iter()
        .find(|message| message.role == Role::User)
        .and_then(|message| {
            message.parts.iter().find_map(|part| match part {
                Part::Text { text } => Some(crate::title_from_prompt(text)),
                _ => None,
            })
        })
        .unwrap_or_default();
    let mut outcome = TaskOutcome {
        task,
        ..TaskOutcome::default()
    };
    let mut calls: HashMap<&str, &ToolCall> = HashMap::new();
    // Failed commands awaiting a passing run: the error seen and the files changed since.
    let mut failures: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut last_check: Option<bool> = None;
    let mut any_failed_call = false;
    for message in messages {
        for part in &message.parts {
            match part {
                Part::ToolCall(call) => {
                    calls.insert(call.call_id.as_str(), call);
                }
                Part::ToolResult(result) => {
                    any_failed_call |= result.is_error;
                    let Some(call) = calls.get(result.call_id.as_str()) else {
                        continue;
                    };
                    let arguments: Value =
                        serde_json::from_str(&call.arguments).unwrap_or(Value::Null);
                    if !result.is_error {
                        let changed = changed_files(&call.name, &arguments, workspace, cwd);
                        for file in changed {
                            for (_, _, files) in &mut failures {
                                push_unique(files, file.clone());
                            }
                            push_unique(&mut outcome.files, file);
                        }
                    }
                    let Some(run) = command_run(&call.name, &arguments, &result.output, workspace)
                    else {
                        continue;
                    };
                    any_failed_call |= !run.passed;
                    if run.kind != CommandKind::Other {
                        last_check = Some(run.passed);
                    }
                    if run.passed {
                        match run.kind {
                            CommandKind::Test => {
                                push_unique(&mut outcome.test_commands, run.command.clone());
                            }
                            CommandKind::Build => {
                                push_unique(&mut outcome.build_commands, run.command.clone());
                            }
                            CommandKind::Other => {}
                        }
                        if let Some(index) = failures.iter().position(|f| f.0 == run.command) {
                            let (command, error, files) = failures.remove(index);
                            if !files.is_empty() {
                                outcome.fixes.retain(|fix| fix.command != command);
                                outcome.fixes.push(ErrorFix {
                                    command,
                                    error,
                                    fix: describe_edits(&files),
                                });
                            }
                        }
                    } else if !failures.iter().any(|f| f.0 == run.command) {
                        let error = telling_error_line(&result.output);
                        failures.push((run.command, error, Vec::new()));
                    }
                }
                _ => {}
            }
        }
    }
    outcome.succeeded = reason == TurnEndReason::Completed
        && match last_check {
            Some(passed) => passed,
            None => !any_failed_call,
        };
    outcome
}

/// The lessons of an outcome, dated `now_ms` (milliseconds since the Unix epoch). Empty when
/// the task taught nothing worth keeping.
pub fn lessons(outcome: &TaskOutcome, now_ms: u64) -> Vec<Lesson> {
    let date = utc_date(now_ms);
    let mut lessons = Vec::new();
    if !outcome.test_commands.is_empty() {
        lessons.push(Lesson {
            key: "test-command".into(),
            content: format!(
                "Run the tests with {} (passed on {date}).",
                command_list(&outcome.test_commands)
            ),
        });
    }
    if !outcome.build_commands.is_empty() {
        lessons.push(Lesson {
            key: "build-command".into(),
            content: format!(
                "Build and check the project with {} (passed on {date}).",
                command_list(&outcome.build_commands)
            ),
        });
    }
    for fix in &outcome.fixes {
        let command = clip_chars(&fix.command, MAX_COMMAND_CHARS);
        let error = if fix.error.is_empty() {
            String::new()
        } else {
            format!(" with \"{}\"", fix.error)
        };
        lessons.push(Lesson {
            key: format!("fix:{command}"),
            content: format!(
                "`{command}` failed{error}; it passed after {} (on {date}).",
                fix.fix
            ),
        });
    }
    lessons
}

/// The outcome and lessons of a finished turn, or `None` when it taught nothing.
pub fn learn(
    messages: &[Message],
    reason: TurnEndReason,
    workspace: &Path,
    cwd: &Path,
    now_ms: u64,
) -> Option<(TaskOutcome, Vec<Lesson>)> {
    let outcome = task_outcome(messages, reason, workspace, cwd);
    let lessons = lessons(&outcome, now_ms);
    (!lessons.is_empty()).then_some((outcome, lessons))
}

/// One command run seen in a tool result.
struct CommandRun {
    command: String,
    kind: CommandKind,
    passed: bool,
}

/// The command a `bash` or project-tool call ran and whether it passed; `None` when the call
/// ran no command (refused, malformed, cancelled before it started).
fn command_run(
    name: &str,
    arguments: &Value,
    output: &str,
    workspace: &Path,
) -> Option<CommandRun> {
    match name {
        "bash" => {
            let line = arguments.get("command")?.as_str()?.trim();
            if line.is_empty() {
                return None;
            }
            let ending = output.lines().rev().find(|l| !l.trim().is_empty())?.trim();
            let passed = ending == "exit code: 0";
            let ran = ending.starts_with("exit code: ")
                || ending.starts_with("killed by signal")
                || output.contains("command timed out after");
            if !ran {
                return None;
            }
            let command = match arguments.get("workdir").and_then(Value::as_str) {
                Some(dir) => {
                    let dir = relative_path(dir, workspace, workspace);
                    if dir.is_empty() || dir == "." {
                        line.to_owned()
                    } else {
                        format!("cd {dir} && {line}")
                    }
                }
                None => line.to_owned(),
            };
            Some(CommandRun {
                kind: classify_command(&command),
                command,
                passed,
            })
        }
        "run_tests" | "build" | "lint" | "format" => {
            // "$ cargo test   (in ., rust)" then "tests: succeeded (exit code 0)".
            let mut lines = output.lines();
            let command = lines.next()?.strip_prefix("$ ")?;
            let command = command
                .split_once("   (in ")
                .map_or(command, |(command, _)| command)
                .trim()
                .to_owned();
            let verdict = lines.next()?;
            let (_, verdict) = verdict.split_once(": ")?;
            let kind = if name == "run_tests" {
                CommandKind::Test
            } else {
                CommandKind::Build
            };
            Some(CommandRun {
                command,
                kind,
                passed: verdict.starts_with("succeeded"),
            })
        }
        _ => None,
    }
}

/// Files a successful call of a file-changing tool wrote, relative to the workspace.
fn changed_files(name: &str, arguments: &Value, workspace: &Path, cwd: &Path) -> Vec<String> {
    match name {
        "write" | "edit" | "multiedit" => arguments
            .get("path")
            .and_then(Value::as_str)
            .map(|path| vec![relative_path(path, workspace, cwd)])
            .unwrap_or_default(),
        "apply_patch" => {
            let patch = arguments.get("patch").and_then(Value::as_str).unwrap_or("");
            let mut files = Vec::new();
            for line in patch.lines() {
                let path = [
                    "*** Add File: ",
                    "*** Update File: ",
                    "*** Delete File: ",
                    "*** Move to: ",
                ]
                .iter()
                .find_map(|prefix| line.strip_prefix(prefix));
                if let Some(path) = path.map(str::trim).filter(|p| !p.is_empty()) {
                    push_unique(&mut files, relative_path(path, workspace, cwd));
                }
            }
            files
        }
        _ => Vec::new(),
    }
}

/// `path` (relative to `cwd` unless absolute) relative to `workspace` with `/` separators, or
/// absolute when it lies outside.
fn relative_path(path: &str, workspace: &Path, cwd: &Path) -> String {
    let raw = Path::new(path);
    let absolute = if raw.is_absolute() {
        raw.to_path_buf()
    } else {
        cwd.join(raw)
    };
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other.as_os_str()),
        }
    }
    match normal.strip_prefix(workspace) {
        Ok(inside) if inside.as_os_str().is_empty() => ".".into(),
        Ok(inside) => inside
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => normal.display().to_string(),
    }
}

/// What kind of command `line` is: a test run when any of its simple commands runs tests,
/// else a build when any builds, lints or formats.
pub fn classify_command(line: &str) -> CommandKind {
    let mut kind = CommandKind::Other;
    for simple in line.split(['\n', ';', '|', '&']) {
        let words: Vec<&str> = simple.split_whitespace().collect();
        match classify_simple(&words) {
            CommandKind::Test => return CommandKind::Test,
            CommandKind::Build => kind = CommandKind::Build,
            CommandKind::Other => {}
        }
    }
    kind
}

fn classify_simple(words: &[&str]) -> CommandKind {
    let mut words = words;
    // Variable assignments and wrappers that run the rest.
    loop {
        match words.first() {
            Some(word) if is_assignment(word) => words = &words[1..],
            Some(&("sudo" | "time" | "env" | "nice" | "exec" | "command" | "nohup")) => {
                words = &words[1..];
            }
            Some(&"timeout") => words = words.get(2..).unwrap_or(&[]),
            Some(&("npx" | "pnpx" | "bunx")) => words = &words[1..],
            Some(&("uv" | "poetry" | "pdm" | "pipenv" | "hatch" | "rye"))
                if words.get(1) == Some(&"run") =>
            {
                words = &words[2..];
            }
            Some(&"bundle") if words.get(1) == Some(&"exec") => words = &words[2..],
            Some(word) if is_python(word) && words.get(1) == Some(&"-m") => words = &words[2..],
            _ => break,
        }
    }
    let Some(first) = words.first() else {
        return CommandKind::Other;
    };
    let program = first.rsplit('/').next().unwrap_or(first);
    let rest: Vec<&str> = words[1..]
        .iter()
        .copied()
        .filter(|word| !word.starts_with('-'))
        .collect();
    let sub = rest.first().copied().unwrap_or("");
    let test = CommandKind::Test;
    let build = CommandKind::Build;
    match program {
        "pytest" | "py.test" | "tox" | "nox" | "jest" | "vitest" | "mocha" | "ava" | "ctest"
        | "phpunit" | "rspec" | "nose2" | "unittest" | "bats" | "nextest" => test,
        "tsc" | "eslint" | "prettier" | "ruff" | "black" | "flake8" | "mypy" | "pylint"
        | "isort" | "gofmt" | "golangci-lint" | "rustfmt" | "clang-format" | "shellcheck"
        | "biome" | "ninja" => build,
        "cargo" => match sub {
            "test" | "t" | "nextest" => test,
            "build" | "b" | "check" | "c" | "clippy" | "fmt" => build,
            _ => CommandKind::Other,
        },
        "npm" | "pnpm" | "yarn" | "bun" => {
            let script = if matches!(sub, "run" | "run-script") {
                rest.get(1).copied().unwrap_or("")
            } else {
                sub
            };
            if script == "t" || script.starts_with("test") {
                test
            } else if [
                "build",
                "lint",
                "typecheck",
                "type-check",
                "format",
                "fmt",
                "check",
            ]
            .iter()
            .any(|name| script.starts_with(name))
            {
                build
            } else {
                CommandKind::Other
            }
        }
        "go" | "deno" | "dotnet" | "swift" | "mix" => match sub {
            "test" => test,
            "build" | "vet" | "check" | "fmt" | "lint" | "compile" => build,
            _ => CommandKind::Other,
        },
        "make" | "gmake" | "just" | "task" => {
            let targets: Vec<&str> = rest.iter().copied().filter(|w| !w.contains('=')).collect();
            if targets
                .iter()
                .any(|t| t.starts_with("test") || t.starts_with("check"))
            {
                test
            } else if program == "make"
                || program == "gmake"
                || targets
                    .iter()
                    .any(|t| ["build", "all", "lint", "fmt", "format"].contains(t))
            {
                build
            } else {
                CommandKind::Other
            }
        }
        "mvn" | "mvnw" => {
            if rest.iter().any(|goal| matches!(*goal, "test" | "verify")) {
                test
            } else if rest
                .iter()
                .any(|goal| matches!(*goal, "compile" | "package" | "install"))
            {
                build
            } else {
                CommandKind::Other
            }
        }
        "gradle" | "gradlew" => {
            if rest
                .iter()
                .any(|task| task.starts_with("test") || *task == "check")
            {
                test
            } else if rest
                .iter()
                .any(|task| matches!(*task, "build" | "assemble"))
            {
                build
            } else {
                CommandKind::Other
            }
        }
        "rake" => match sub {
            "test" | "spec" => test,
            _ => CommandKind::Other,
        },
        "cmake" if words.contains(&"--build") => build,
        "meson" if sub == "test" => test,
        "meson" if sub == "compile" => build,
        "zig" if sub == "build" => {
            if rest.get(1) == Some(&"test") {
                test
            } else {
                build
            }
        }
        "bash" | "sh" | "zsh" | "dash" | "node" => match rest.first() {
            Some(script) => script_kind(script),
            None => CommandKind::Other,
        },
        _ if is_python(program) => rest.first().map_or(CommandKind::Other, |s| script_kind(s)),
        // A script run by its path: `./test.sh`, `scripts/run_tests`, `ci/build.sh`. A bare
        // `test` is the shell's own test command.
        _ if first.contains('/') || program.contains('.') => script_kind(first),
        _ => CommandKind::Other,
    }
}

/// A script's kind from its file name.
fn script_kind(path: &str) -> CommandKind {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name).to_ascii_lowercase();
    let stem = stem.replace('-', "_");
    if stem.starts_with("test") || stem.ends_with("test") || stem.ends_with("tests") {
        CommandKind::Test
    } else if ["build", "lint", "check", "fmt", "format", "compile"]
        .iter()
        .any(|name| stem == *name)
    {
        CommandKind::Build
    } else {
        CommandKind::Other
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn is_python(word: &str) -> bool {
    let program = word.rsplit('/').next().unwrap_or(word);
    program == "py" || program.starts_with("python")
}

/// The first line of a failure's output that says what went wrong: an error, a failed
/// assertion or test, a panic; else the last line before the exit status.
fn telling_error_line(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .filter(|line| !is_report_line(line))
        .collect();
    let telling = lines.iter().find(|line| {
        let lower = line.to_ascii_lowercase();
        lower.contains("error")
            || lower.contains("panicked")
            || lower.contains("assert")
            || line.contains("FAIL")
            || lower.contains("not found")
    });
    let line = telling.or(lines.last()).copied().unwrap_or("");
    clip_chars(line, MAX_ERROR_CHARS)
}

/// Lines the tools add around a command's own output.
fn is_report_line(line: &str) -> bool {
    line.starts_with("$ ")
        || line.starts_with("exit code: ")
        || line.starts_with("killed by signal")
        || line.starts_with("diagnostics: ")
        || ["tests: ", "build: ", "linter: ", "formatter: "]
            .iter()
            .any(|prefix| line.starts_with(prefix))
        || line.starts_with("[…")
}

/// "editing a.py", "editing a.py and b.py", "editing a.py, b.py and 3 more files".
fn describe_edits(files: &[String]) -> String {
    let shown: Vec<&str> = files
        .iter()
        .take(MAX_FIX_FILES)
        .map(String::as_str)
        .collect();
    let more = files.len().saturating_sub(MAX_FIX_FILES);
    let list = match (shown.as_slice(), more) {
        ([only], 0) => (*only).to_owned(),
        (names, 0) => {
            let (last, init) = names.split_last().map_or(("", &[][..]), |(l, i)| (*l, i));
            format!("{} and {last}", init.join(", "))
        }
        (names, more) => format!("{} and {more} more files", names.join(", ")),
    };
    format!("editing {list}")
}

/// "`a`", "`a` and `b`", "`a`, `b` and `c`" — the first few commands.
fn command_list(commands: &[String]) -> String {
    let quoted: Vec<String> = commands
        .iter()
        .take(MAX_COMMANDS_PER_LESSON)
        .map(|command| format!("`{}`", clip_chars(command, MAX_COMMAND_CHARS)))
        .collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} and {last}", init.join(", ")),
        None => String::new(),
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The first `max` characters of `text`, ending in "…" when cut.
fn clip_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The UTC date of an instant, `YYYY-MM-DD`.
pub fn utc_date(ms: u64) -> String {
    // Days since 1970-01-01 to a civil date, after Howard Hinnant's algorithm.
    let days = (ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests;
