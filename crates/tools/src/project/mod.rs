//! `run_tests`, `build`, `lint` and `format`: the project's own commands, found by looking at
//! its files (see [`detect`]), run through the shared process runner (sandbox, secret-free
//! environment, streamed output, process-group kill), and answered with a parsed summary
//! first — passed, failed and ignored counts, the first failures and diagnostics with file
//! and line (see [`parse`]) — then the end of the raw output.

pub(crate) mod detect;
mod names;
pub(crate) mod parse;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

pub use detect::ProjectSettings;
use detect::{Action, Plan, Request};
use parse::{OutputParser, Severity, Summary};

use crate::args;
use crate::blocking::CANCELLED;
use crate::output::human_size;
use crate::paths::PathPolicy;
use crate::process::{self, Ending, Run, RunOptions};

/// Default timeout: builds and test suites take longer than a typical shell command.
const DEFAULT_TIMEOUT_MS: u64 = 600_000;
/// The longest timeout a call may ask for: thirty minutes.
const MAX_TIMEOUT_MS: u64 = 1_800_000;
/// Share of the output budget the summary may take; the raw output gets the rest.
const SUMMARY_SHARE: usize = 3;

/// One of the project tools: `run_tests`, `build`, `lint` or `format`.
#[derive(Clone, Debug)]
pub struct ProjectTool {
    action: Action,
    settings: Arc<ProjectSettings>,
    /// The directory commands are planned from when a permission prompt needs the command
    /// before the call runs (the session's working directory).
    cwd: Option<PathBuf>,
}

impl ProjectTool {
    fn new(action: Action, settings: Arc<ProjectSettings>, cwd: Option<PathBuf>) -> Self {
        ProjectTool {
            action,
            settings,
            cwd,
        }
    }

    /// `run_tests {filter?, path?, timeout_ms?}`.
    pub fn run_tests(settings: Arc<ProjectSettings>, cwd: Option<PathBuf>) -> Self {
        ProjectTool::new(Action::Test, settings, cwd)
    }

    /// `build {path?, timeout_ms?}`.
    pub fn build(settings: Arc<ProjectSettings>, cwd: Option<PathBuf>) -> Self {
        ProjectTool::new(Action::Build, settings, cwd)
    }

    /// `lint {path?, timeout_ms?}`.
    pub fn lint(settings: Arc<ProjectSettings>, cwd: Option<PathBuf>) -> Self {
        ProjectTool::new(Action::Lint, settings, cwd)
    }

    /// `format {path?, timeout_ms?}`.
    pub fn format(settings: Arc<ProjectSettings>, cwd: Option<PathBuf>) -> Self {
        ProjectTool::new(Action::Format, settings, cwd)
    }

    fn name(&self) -> &'static str {
        match self.action {
            Action::Test => "run_tests",
            Action::Build => "build",
            Action::Lint => "lint",
            Action::Format => "format",
        }
    }

    fn schema(&self) -> Value {
        let mut properties = serde_json::Map::new();
        if self.action == Action::Test {
            properties.insert(
                "filter".into(),
                json!({
                    "type": "string",
                    "description": "Run only the tests whose name matches: passed to the runner \
                        as its name filter (`cargo test <filter>`, `pytest -k`, `go test -run`, \
                        `jest -t`, `node --test --test-name-pattern`)."
                }),
            );
        }
        let path_description = match self.action {
            Action::Test => {
                "A test file or directory to run (relative to the working directory); the \
                 project is the nearest one containing it. Default: the project around the \
                 working directory."
            }
            _ => {
                "A directory or file inside the project to work on (relative to the working \
                 directory); the project is the nearest one containing it. Default: the project \
                 around the working directory."
            }
        };
        properties.insert(
            "path".into(),
            json!({"type": "string", "description": path_description}),
        );
        properties.insert(
            "timeout_ms".into(),
            json!({
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_TIMEOUT_MS,
                "description": "Milliseconds before the command is killed. Default 600000 (10 \
                    minutes); at most 1800000."
            }),
        );
        json!({
            "type": "object",
            "properties": properties,
            "required": [],
            "additionalProperties": false
        })
    }

    fn description(&self) -> String {
        let what = match self.action {
            Action::Test => {
                "Runs the project's tests with its own test runner and returns a parsed \
                 summary: passed, failed and ignored counts, then the first failures with the \
                 test name, file and line and the message, then the end of the raw output."
            }
            Action::Build => {
                "Builds the project with its own build command and returns a parsed summary: \
                 the error and warning counts and the first errors with file, line and \
                 message, then the end of the raw output."
            }
            Action::Lint => {
                "Runs the project's linter and returns a parsed summary: the error and warning \
                 counts and the first problems with file, line and message, then the end of \
                 the raw output."
            }
            Action::Format => {
                "Formats the project's code with its own formatter (this changes files) and \
                 returns what the formatter printed."
            }
        };
        format!(
            "{what}\n\nThe project and its command are found from its files: Cargo.toml \
             (cargo), go.mod (go), package.json (its scripts, run with npm, pnpm, yarn or bun \
             as the lock file says), pyproject.toml, setup.cfg, setup.py or requirements*.txt \
             (pytest, ruff or flake8, black, run through uv, poetry, pdm or plain python3), or \
             a Makefile; the nearest project around `path` (or the working directory) wins. \
             The config's `[tools]` test_runner, linter, formatter and package_manager \
             override the detection. The command line run is shown first. Prefer this tool \
             to `bash` for tests and builds: its summary points straight at the failures. \
             Output is streamed to the user while the command runs; it is killed with every \
             process it started on timeout or cancel."
        )
    }

    /// The plan for `arguments` from the configured directory, for prompts.
    fn preview(&self, arguments: &Value) -> Option<Plan> {
        let cwd = self.cwd.clone().or_else(|| std::env::current_dir().ok())?;
        let path = args::str_field(arguments, "path").map(|path| cwd.join(path));
        let request = Request {
            filter: args::str_field(arguments, "filter"),
            path: path.as_deref(),
        };
        let start = path.as_deref().unwrap_or(&cwd);
        let root = cwd.ancestors().last().unwrap_or(&cwd).to_path_buf();
        detect::plan(self.action, start, &root, &self.settings, request).ok()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectArgs {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

#[async_trait]
impl Tool for ProjectTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name().into(),
            description: self.description(),
            parameters: self.schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Execute
    }

    fn summarize(&self, arguments: &Value) -> String {
        let what = match self.action {
            Action::Test => "run the tests",
            Action::Build => "build the project",
            Action::Lint => "lint the project",
            Action::Format => "format the project's code",
        };
        match self.preview(arguments) {
            Some(plan) => format!("{what}: {}", args::quoted_excerpt(&plan.command, 100)),
            None => what.to_string(),
        }
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        match self.preview(arguments) {
            Some(plan) => PermissionTarget::Command(plan.command),
            // Unknown until the call runs: rules on the tool itself still apply.
            None => PermissionTarget::Command(self.name().to_string()),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let name = self.name();
        let schema = self.schema();
        let arguments: ProjectArgs = args::parse(name, arguments, &schema)?;
        if arguments.filter.is_some() && self.action != Action::Test {
            return Err(args::invalid(
                name,
                "`filter` applies to `run_tests` only",
                &schema,
            ));
        }
        let timeout_ms = arguments.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
            return Err(args::invalid(
                name,
                format!(
                    "`timeout_ms` is {timeout_ms}; use a number of milliseconds from 1 to \
                     {MAX_TIMEOUT_MS} (30 minutes)"
                ),
                &schema,
            ));
        }
        let policy = PathPolicy::new(context);
        let target = match arguments.path.as_deref() {
            Some(raw) => Some(policy.resolve_existing(raw)?.0),
            None => None,
        };
        let workspace =
            std::fs::canonicalize(&context.workspace).unwrap_or_else(|_| context.workspace.clone());
        let cwd = std::fs::canonicalize(&context.cwd).unwrap_or_else(|_| context.cwd.clone());
        let start = target.clone().unwrap_or_else(|| cwd.clone());
        let request = Request {
            filter: arguments.filter.as_deref(),
            path: target.as_deref(),
        };
        let plan = detect::plan(self.action, &start, &workspace, &self.settings, request)
            .map_err(ToolError::new)?;
        if context.cancel.is_cancelled() {
            return Err(ToolError::new(CANCELLED));
        }
        let budget = context.limits.max_output_bytes.max(1024);
        let run = Run {
            command: plan.command.clone(),
            cwd: plan.dir.clone(),
            timeout: Duration::from_millis(timeout_ms),
            max_output: budget,
        };
        let options = RunOptions {
            tty: false,
            stream: context.output.clone(),
        };
        let mut parser = OutputParser::new();
        let outcome = process::run_with(run, options, context, &mut |bytes| parser.feed(bytes))
            .await
            .map_err(|error| {
                ToolError::new(format!(
                    "{error}; `{}` did not run. Check that the tool is installed, or run the \
                     command with `bash`",
                    plan.command
                ))
            })?;
        let summary = parser.finish();
        let output = outcome
            .output
            .finish(|dropped| format!("[… {} of output left out here …]", human_size(dropped)));
        let report = Report {
            action: self.action,
            plan: &plan,
            policy: &policy,
            summary: &summary,
        };
        let (header, timed_out) = match outcome.ending {
            Ending::Exited(status) => {
                let verdict = match (status.code(), status.success()) {
                    (_, true) => "succeeded (exit code 0)".to_string(),
                    (Some(code), false) => format!("FAILED (exit code {code})"),
                    (None, false) => "FAILED (killed by a signal)".to_string(),
                };
                (report.render(&verdict), false)
            }
            Ending::TimedOut => (
                report.render(&format!(
                    "TIMED OUT after {}s and was killed with every process it started; pass a \
                     larger `timeout_ms` (at most {MAX_TIMEOUT_MS}) or narrow the run with \
                     `filter` or `path`",
                    timeout_ms / 1000
                )),
                true,
            ),
            Ending::Cancelled => {
                return Err(ToolError::new(format!(
                    "cancelled by the user; `{}` and every process it started were killed",
                    plan.command
                )));
            }
        };
        let text = assemble(header, &output, budget);
        // A failing test run or build is a result to read, not a broken tool call; only a
        // command that timed out is reported as a failed call.
        if timed_out {
            Err(ToolError::new(text))
        } else {
            Ok(ToolOutput::from(text))
        }
    }
}

/// The summary of one run, rendered for the model.
struct Report<'a> {
    action: Action,
    plan: &'a Plan,
    policy: &'a PathPolicy,
    summary: &'a Summary,
}

impl Report<'_> {
    fn render(&self, verdict: &str) -> String {
        let mut text = String::new();
        let dir = self.policy.display(&self.plan.dir);
        let _ = writeln!(
            text,
            "$ {}   (in {dir}, {})",
            self.plan.command, self.plan.ecosystem
        );
        let _ = writeln!(text, "{}: {verdict}", self.action.noun());
        let summary = self.summary;
        if let Some(tests) = summary.tests {
            let _ = writeln!(
                text,
                "tests: {} passed, {} failed, {} ignored",
                tests.passed, tests.failed, tests.ignored
            );
        }
        if summary.errors > 0 || summary.warnings > 0 || summary.tests.is_none() {
            let _ = writeln!(
                text,
                "diagnostics: {} errors, {} warnings",
                summary.errors, summary.warnings
            );
        }
        let failures: Vec<_> = summary
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Failure)
            .collect();
        let diagnostics: Vec<_> = summary
            .problems
            .iter()
            .filter(|p| p.severity != Severity::Failure)
            .collect();
        if !failures.is_empty() {
            let total = summary.tests.map_or(failures.len() as u64, |t| t.failed);
            let _ = writeln!(
                text,
                "\nfailures (first {} of {total}):",
                failures.len().min(total.max(1) as usize)
            );
            for (index, problem) in failures.iter().enumerate() {
                self.write_problem(&mut text, index + 1, problem);
            }
        }
        if !diagnostics.is_empty() {
            let _ = writeln!(text, "\nerrors and warnings (first {}):", diagnostics.len());
            for (index, problem) in diagnostics.iter().enumerate() {
                self.write_problem(&mut text, index + 1, problem);
            }
        }
        if summary.tests.is_none() && summary.problems.is_empty() && self.action == Action::Test {
            text.push_str("no test summary was recognised in the output; read the output below\n");
        }
        text
    }

    fn write_problem(&self, text: &mut String, number: usize, problem: &parse::Problem) {
        let name = problem.name.as_deref().unwrap_or("");
        let location = problem
            .location
            .as_ref()
            .map(|location| {
                let mut location = location.clone();
                location.file = self.display_file(&location.file);
                location.to_string()
            })
            .unwrap_or_default();
        let head = match (name.is_empty(), location.is_empty()) {
            (false, false) => format!("{name} at {location}"),
            (false, true) => name.to_string(),
            (true, false) => location,
            (true, true) => "(no location)".to_string(),
        };
        let _ = writeln!(text, "{number}. {head}");
        for line in problem.message.lines() {
            let _ = writeln!(text, "   {line}");
        }
    }

    /// A file the tool printed, as a path the model can pass back: relative to the working
    /// directory when it is inside it.
    fn display_file(&self, file: &str) -> String {
        let path = Path::new(file);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            let in_project = self.plan.dir.join(path);
            if !in_project.exists() {
                return file.to_string();
            }
            in_project
        };
        match std::fs::canonicalize(&absolute) {
            Ok(canonical) if self.policy.is_reachable(&canonical) => {
                self.policy.display(&canonical)
            }
            _ => file.to_string(),
        }
    }
}

/// The header, then as much of the end of `output` as fits in `budget` bytes.
fn assemble(mut header: String, output: &str, budget: usize) -> String {
    let header_budget = budget / SUMMARY_SHARE * 2;
    if header.len() > header_budget {
        let mut cut = header_budget;
        while !header.is_char_boundary(cut) {
            cut -= 1;
        }
        header.truncate(cut);
        header.push_str("\n[… summary cut …]\n");
    }
    let room = budget.saturating_sub(header.len() + 64);
    let output = output.trim_end();
    header.push_str("\n--- output");
    if output.len() > room {
        let mut start = output.len() - room;
        while !output.is_char_boundary(start) {
            start += 1;
        }
        if let Some(newline) = output[start..].find('\n') {
            start += newline + 1;
        }
        header.push_str(&format!(
            " (last {} of {}) ---\n",
            human_size((output.len() - start) as u64),
            human_size(output.len() as u64)
        ));
        header.push_str(&output[start..]);
    } else if output.is_empty() {
        header.push_str(" ---\n(no output)");
    } else {
        header.push_str(" ---\n");
        header.push_str(output);
    }
    header.push('\n');
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_keeps_its_end_within_the_budget() {
        let output: String = (1..=2000).map(|n| format!("line {n}\n")).collect();
        let text = assemble("$ cmd\n".into(), &output, 1000);
        assert!(text.len() <= 1000, "{}", text.len());
        assert!(text.starts_with("$ cmd\n\n--- output (last "), "{text}");
        assert!(text.ends_with("line 2000\n"), "{text}");
        let short = assemble("$ cmd\n".into(), "ok\n", 1000);
        assert_eq!(short, "$ cmd\n\n--- output ---\nok\n");
    }
}
