//! Reading test, build and lint output into a summary: counts of passed, failed and ignored
//! tests, and the first failures and diagnostics with their file and line.
//!
//! One line-based parser recognises every supported format at once, because a `make test` or
//! an `npm test` script may run any of them:
//!
//! - libtest (`cargo test`): `test result:` lines, `test x ... FAILED`, the `---- x stdout ----`
//!   blocks with `panicked at path:line:col:` and the panic message;
//! - rustc and clippy diagnostics: `error[E0308]: msg` / `warning: msg` then ` --> path:line:col`;
//! - pytest: the `1 failed, 2 passed in 0.1s` summary, `____ test ____` sections with
//!   `path:line: Error` and `E   ` lines, and `FAILED path::test - msg`;
//! - TAP (node's test runner when not on a terminal): `# pass N`, `not ok N - name` with its
//!   YAML block (`location`, `error`, `stack`);
//! - jest (`Tests: 1 failed, 2 passed, 3 total`, `● name`, `at … (path:line:col)`) and vitest
//!   (`Tests  1 failed | 2 passed (3)`, `FAIL  file > name`, `❯ path:line:col`);
//! - go test: `--- FAIL: Name`, `--- PASS:`, `--- SKIP:` and `file.go:line: message`;
//! - compiler and linter lines `path:line:col: message` (go build, eslint's unix format, ruff,
//!   gcc), tsc's `path(line,col): error TS…`, eslint's stylish format, and Python's
//!   `File "path", line N` + `SomeError: message`.
//!
//! Input arrives in chunks of any size; lines are cut at [`MAX_LINE`] bytes, so memory stays
//! bounded whatever the command prints.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use super::names::TestNames;

/// Bytes of one line looked at; the rest of a longer line is ignored.
const MAX_LINE: usize = 4096;
/// Failures and errors kept with their details.
pub(crate) const MAX_PROBLEMS: usize = 10;
/// Lines of a failure message kept.
const MAX_MESSAGE_LINES: usize = 6;
/// Characters of a failure message kept.
const MAX_MESSAGE_CHARS: usize = 600;

/// Passed, failed and ignored tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TestCounts {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    /// Skipped, ignored, todo and expected failures.
    pub(crate) ignored: u64,
}

/// Where a problem is: `path:line[:column]` as the tool printed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) file: String,
    pub(crate) line: u64,
    pub(crate) column: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    /// A failed test.
    Failure,
    Error,
    Warning,
}

/// A failed test or a diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) severity: Severity,
    /// The test's name, for failures.
    pub(crate) name: Option<String>,
    pub(crate) location: Option<Location>,
    pub(crate) message: String,
}

impl Problem {
    fn new(severity: Severity, name: Option<String>) -> Self {
        Problem {
            severity,
            name,
            location: None,
            message: String::new(),
        }
    }

    fn add_message_line(&mut self, line: &str) {
        let lines = self.message.lines().count();
        if lines >= MAX_MESSAGE_LINES || self.message.chars().count() >= MAX_MESSAGE_CHARS {
            return;
        }
        if line.trim().is_empty() && self.message.is_empty() {
            return;
        }
        if !self.message.is_empty() {
            self.message.push('\n');
        }
        let room = MAX_MESSAGE_CHARS.saturating_sub(self.message.chars().count());
        self.message.extend(line.trim_end().chars().take(room));
    }
}

/// What the output said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Test counts, when the output had a test summary.
    pub(crate) tests: Option<TestCounts>,
    pub(crate) errors: u64,
    pub(crate) warnings: u64,
    /// Failed tests and errors first, then warnings; at most [`MAX_PROBLEMS`] of each group.
    pub(crate) problems: Vec<Problem>,
    /// The tests the output named as passed and failed.
    pub(crate) names: TestNames,
}

impl Summary {
    fn count_tests(&mut self, passed: u64, failed: u64, ignored: u64) {
        let counts = self.tests.get_or_insert_with(TestCounts::default);
        counts.passed += passed;
        counts.failed += failed;
        counts.ignored += ignored;
    }
}

/// What the line being read belongs to.
#[derive(Clone, Debug, Default)]
enum State {
    #[default]
    Idle,
    /// Inside libtest's `---- name stdout ----` block.
    LibtestBlock { name: String },
    /// Reading a panic message into problem `index`.
    PanicMessage { index: usize },
    /// After `error: msg`, waiting for ` --> path:line:col`.
    RustDiagnostic { index: usize, lines: u8 },
    /// Inside pytest's `____ name ____` section.
    PytestSection { index: usize },
    /// Inside the YAML block of a TAP `not ok`.
    TapBlock {
        index: usize,
        indent: usize,
        field: TapField,
    },
    /// After go's `--- FAIL: name`.
    GoFailure { index: usize },
    /// After jest's `● name` or vitest's `FAIL file > name`.
    JsFailure { index: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TapField {
    Other,
    Error,
    Stack,
}

/// Parses output as it arrives.
#[derive(Debug, Default)]
pub(crate) struct OutputParser {
    partial: Vec<u8>,
    summary: Summary,
    /// What the line being read belongs to.
    state: State,
    /// Per-test counts seen in go's `--- PASS` lines (go prints no total).
    go_counts: TestCounts,
    /// The file eslint's stylish format is listing.
    stylish_file: Option<String>,
    /// The last `File "x", line N` of a Python traceback.
    python_frame: Option<Location>,
    /// The go test running (`=== RUN`) and what it logged so far: with `-v`, a test's log
    /// comes before its `--- FAIL` line.
    go_running: Option<Problem>,
    kept_failures: usize,
    kept_warnings: usize,
}

/// `pattern` compiled; the patterns are constants, each exercised by the tests below.
#[expect(
    clippy::expect_used,
    reason = "constant patterns, all covered by the tests"
)]
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid constant pattern")
}

macro_rules! pattern {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| regex($pattern));
    };
}

pattern!(
    LIBTEST_RESULT,
    r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored;"
);
pattern!(LIBTEST_FAILED, r"^test (.+) \.\.\. FAILED$");
pattern!(LIBTEST_BLOCK, r"^---- (.+) stdout ----$");
pattern!(
    PANIC,
    r"^thread '([^']*)'(?: \(\d+\))? panicked at (?:'(.*)', )?(.+?):(\d+):(\d+):?$"
);
pattern!(
    RUST_DIAGNOSTIC,
    r"^(error|warning)(\[[A-Za-z]*\d+\])?: (.+)$"
);
pattern!(RUST_ARROW, r"^\s*--> (.+?):(\d+):(\d+)$");
pattern!(
    PYTEST_SUMMARY,
    r"^=*\s*((?:\d+ (?:passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?|rerun)(?:, )?)+) in [\d.]+s(?: \([^)]*\))?\s*=*$"
);
pattern!(PYTEST_SECTION, r"^_{3,} (.+?) _{3,}$");
pattern!(PYTEST_LOCATION, r"^(\S+\.py):(\d+): (.*)$");
pattern!(PYTEST_SHORT, r"^(FAILED|ERROR) (\S+?)(?: - (.*))?$");
pattern!(
    TAP_COUNT,
    r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$"
);
pattern!(
    TAP_NOT_OK,
    r"^(\s*)not ok \d+ - (.*?)(?: # (?:SKIP|TODO).*)?$"
);
pattern!(TAP_LOCATION, r"^\s*location: '(.+):(\d+):(\d+)'$");
pattern!(FRAME, r"\(?((?:file://)?[^\s()]+?):(\d+):(\d+)\)?$");
pattern!(JEST_TESTS, r"^Tests:\s+(.*\d+ total)$");
pattern!(JEST_FAILURE, r"^\s*● (.+)$");
pattern!(VITEST_TESTS, r"^\s*Tests\s+(.*)\((\d+)\)$");
pattern!(
    VITEST_FAIL,
    r"^\s*(?:FAIL|×)\s+(\S+\.\w+) > (.+?)(?: \d+ms)?$"
);
pattern!(VITEST_LOCATION, r"^\s*❯ (\S+?):(\d+):(\d+)$");
pattern!(GO_RESULT, r"^(\s*)--- (FAIL|PASS|SKIP): (\S+)");
pattern!(GO_RUN, r"^=== (?:RUN|CONT)\s+(\S+)$");
pattern!(GO_LOCATION, r"^\s+(\S+\.go):(\d+): (.*)$");
pattern!(
    COMPILER,
    r"^([^\s:()]+\.[A-Za-z0-9]+):(\d+)(?::(\d+))?:?\s+(.+)$"
);
pattern!(
    TSC,
    r"^([^\s()]+\.[A-Za-z0-9]+)\((\d+),(\d+)\): (error|warning) (.+)$"
);
pattern!(STYLISH_FILE, r"^(/\S+|\S+/\S+)\.[A-Za-z0-9]+$");
pattern!(
    STYLISH_PROBLEM,
    r"^\s+(\d+):(\d+)\s+(error|warning)\s+(.+?)(?:\s{2,}\S+)?$"
);
pattern!(PYTHON_FRAME, r#"^\s*File "(.+)", line (\d+)"#);
pattern!(PYTHON_ERROR, r"^(\w*(?:Error|Exception)): (.*)$");
pattern!(ANSI, r"\x1b\[[0-9;?]*[A-Za-z]");

/// Summary lines that are not diagnostics of their own.
fn is_rust_trailer(message: &str) -> bool {
    message.starts_with("could not compile")
        || message.starts_with("aborting due to")
        || message.starts_with("test failed, to rerun")
        || message.ends_with("target failed:")
        || message.ends_with("targets failed:")
        || message.contains(" generated ")
        || (message.ends_with(" emitted") && message.contains("warning"))
        || message.starts_with("build failed")
}

fn number(text: &str) -> u64 {
    text.parse().unwrap_or(0)
}

impl OutputParser {
    pub(crate) fn new() -> Self {
        OutputParser::default()
    }

    /// Reads a chunk of output.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(newline) = memchr::memchr(b'\n', bytes) {
            let room = MAX_LINE.saturating_sub(self.partial.len());
            self.partial.extend_from_slice(&bytes[..newline.min(room)]);
            let line = std::mem::take(&mut self.partial);
            self.line_bytes(&line);
            bytes = &bytes[newline + 1..];
        }
        let room = MAX_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The summary of everything read.
    pub(crate) fn finish(mut self) -> Summary {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line_bytes(&line);
        }
        if self.summary.tests.is_none() && self.go_counts != TestCounts::default() {
            self.summary.tests = Some(self.go_counts);
        }
        let mut summary = self.summary;
        for problem in &mut summary.problems {
            let end = problem.message.trim_end().len();
            problem.message.truncate(end);
        }
        // Failures and errors before warnings, each group in the order seen.
        summary
            .problems
            .sort_by_key(|problem| problem.severity == Severity::Warning);
        summary
    }

    fn line_bytes(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if text.contains('\x1b') {
            let clean = ANSI.replace_all(text, "").into_owned();
            self.summary.names.observe(&clean);
            self.line(&clean);
        } else {
            self.summary.names.observe(text);
            self.line(text);
        }
    }

    /// Adds a problem unless its group is full; returns its index when kept.
    fn push(&mut self, problem: Problem) -> Option<usize> {
        let kept = if problem.severity == Severity::Warning {
            &mut self.kept_warnings
        } else {
            &mut self.kept_failures
        };
        if *kept >= MAX_PROBLEMS {
            return None;
        }
        *kept += 1;
        self.summary.problems.push(problem);
        Some(self.summary.problems.len() - 1)
    }

    fn failure_named(&mut self, name: &str) -> Option<usize> {
        if let Some(index) = self.summary.problems.iter().position(|problem| {
            problem.severity == Severity::Failure && problem.name.as_deref() == Some(name)
        }) {
            return Some(index);
        }
        self.push(Problem::new(Severity::Failure, Some(name.to_string())))
    }

    fn line(&mut self, line: &str) {
        match std::mem::take(&mut self.state) {
            State::Idle => self.idle_line(line),
            State::LibtestBlock { name } => self.libtest_block_line(line, name),
            State::PanicMessage { index } => {
                let ends = line.is_empty()
                    || line.starts_with("stack backtrace:")
                    || line.starts_with("note: ")
                    || line.starts_with("---- ")
                    || line == "failures:";
                if ends {
                    self.idle_line(line);
                } else {
                    self.summary.problems[index].add_message_line(line);
                    self.state = State::PanicMessage { index };
                }
            }
            State::RustDiagnostic { index, lines } => {
                if let Some(captures) = RUST_ARROW.captures(line) {
                    self.summary.problems[index].location = Some(Location {
                        file: captures[1].to_string(),
                        line: number(&captures[2]),
                        column: Some(number(&captures[3])),
                    });
                } else if !line.is_empty() && lines < 3 {
                    self.state = State::RustDiagnostic {
                        index,
                        lines: lines + 1,
                    };
                } else {
                    self.idle_line(line);
                }
            }
            State::PytestSection { index } => self.pytest_section_line(line, index),
            State::TapBlock {
                index,
                indent,
                field,
            } => self.tap_block_line(line, index, indent, field),
            State::GoFailure { index } => {
                if let Some(captures) = GO_LOCATION.captures(line) {
                    let problem = &mut self.summary.problems[index];
                    if problem.location.is_none() {
                        problem.location = Some(Location {
                            file: captures[1].to_string(),
                            line: number(&captures[2]),
                            column: None,
                        });
                    }
                    problem.add_message_line(&captures[3]);
                    self.state = State::GoFailure { index };
                } else if line.starts_with("        ") && !line.trim().is_empty() {
                    self.summary.problems[index].add_message_line(line.trim());
                    self.state = State::GoFailure { index };
                } else {
                    self.idle_line(line);
                }
            }
            State::JsFailure { index } => self.js_failure_line(line, index),
        }
    }

    fn idle_line(&mut self, line: &str) {
        if let Some(captures) = LIBTEST_RESULT.captures(line) {
            self.summary.count_tests(
                number(&captures[1]),
                number(&captures[2]),
                number(&captures[3]),
            );
        } else if let Some(captures) = LIBTEST_FAILED.captures(line) {
            self.failure_named(&captures[1]);
        } else if let Some(captures) = LIBTEST_BLOCK.captures(line) {
            self.state = State::LibtestBlock {
                name: captures[1].to_string(),
            };
        } else if let Some(captures) = PANIC.captures(line) {
            // A panic outside a test block, e.g. a binary crashing during a build script.
            let name = captures[1].to_string();
            self.panic(&name, &captures);
        } else if let Some(captures) = RUST_DIAGNOSTIC.captures(line) {
            let message = &captures[3];
            if is_rust_trailer(message) {
                return;
            }
            let severity = if &captures[1] == "error" {
                self.summary.errors += 1;
                Severity::Error
            } else {
                self.summary.warnings += 1;
                Severity::Warning
            };
            let code = captures.get(2).map_or("", |code| code.as_str());
            let mut problem = Problem::new(severity, None);
            problem.message = format!("{}{code}: {message}", &captures[1]);
            if let Some(index) = self.push(problem) {
                self.state = State::RustDiagnostic { index, lines: 0 };
            }
        } else if let Some(captures) = PYTEST_SUMMARY.captures(line) {
            let mut counts = TestCounts::default();
            for part in captures[1].split(", ") {
                let Some((count, word)) = part.split_once(' ') else {
                    continue;
                };
                let count = number(count);
                match word {
                    "passed" | "xpassed" => counts.passed += count,
                    "failed" | "error" | "errors" => counts.failed += count,
                    "skipped" | "xfailed" => counts.ignored += count,
                    _ => {}
                }
            }
            self.summary
                .count_tests(counts.passed, counts.failed, counts.ignored);
        } else if let Some(captures) = PYTEST_SECTION.captures(line) {
            let name = captures[1].to_string();
            if name.contains("coverage") || name.contains("summary") {
                return;
            }
            if let Some(index) = self.failure_named(&name) {
                self.state = State::PytestSection { index };
            }
        } else if let Some(captures) = PYTEST_SHORT.captures(line) {
            self.pytest_short(&captures);
        } else if let Some(captures) = TAP_COUNT.captures(line) {
            let count = number(&captures[2]);
            match &captures[1] {
                "pass" => self.summary.count_tests(count, 0, 0),
                "fail" | "cancelled" => self.summary.count_tests(0, count, 0),
                "skipped" | "todo" => self.summary.count_tests(0, 0, count),
                _ => {
                    self.summary.tests.get_or_insert_with(TestCounts::default);
                }
            }
        } else if let Some(captures) = TAP_NOT_OK.captures(line) {
            let indent = captures[1].len();
            let name = captures[2].to_string();
            if let Some(index) = self.failure_named(&name) {
                self.state = State::TapBlock {
                    index,
                    indent,
                    field: TapField::Other,
                };
            }
        } else if let Some(captures) = JEST_TESTS.captures(line) {
            let mut counts = TestCounts::default();
            for part in captures[1].split(", ") {
                let Some((count, word)) = part.trim().split_once(' ') else {
                    continue;
                };
                let count = number(count);
                match word {
                    "passed" => counts.passed += count,
                    "failed" => counts.failed += count,
                    "skipped" | "todo" | "pending" => counts.ignored += count,
                    _ => {}
                }
            }
            self.summary
                .count_tests(counts.passed, counts.failed, counts.ignored);
        } else if let Some(captures) = VITEST_TESTS.captures(line) {
            let mut counts = TestCounts::default();
            for part in captures[1].split('|') {
                let Some((count, word)) = part.trim().split_once(' ') else {
                    continue;
                };
                let count = number(count);
                match word.trim() {
                    "passed" => counts.passed += count,
                    "failed" => counts.failed += count,
                    "skipped" | "todo" => counts.ignored += count,
                    _ => {}
                }
            }
            self.summary
                .count_tests(counts.passed, counts.failed, counts.ignored);
        } else if let Some(captures) = JEST_FAILURE.captures(line) {
            if let Some(index) = self.failure_named(captures[1].trim()) {
                self.state = State::JsFailure { index };
            }
        } else if let Some(captures) = VITEST_FAIL.captures(line) {
            let name = format!("{} > {}", &captures[1], &captures[2]);
            if let Some(index) = self.failure_named(&name) {
                self.state = State::JsFailure { index };
            }
        } else if let Some(captures) = GO_RUN.captures(line) {
            self.go_running = Some(Problem::new(
                Severity::Failure,
                Some(captures[1].to_string()),
            ));
        } else if let Some(captures) = GO_RESULT.captures(line) {
            let logged = self
                .go_running
                .take()
                .filter(|running| running.name.as_deref() == Some(&captures[3]));
            match &captures[2] {
                "PASS" => self.go_counts.passed += 1,
                "SKIP" => self.go_counts.ignored += 1,
                _ => {
                    self.go_counts.failed += 1;
                    if let Some(index) = self.failure_named(&captures[3]) {
                        if let Some(logged) = logged {
                            let problem = &mut self.summary.problems[index];
                            problem.location = logged.location;
                            problem.message = logged.message;
                        }
                        self.state = State::GoFailure { index };
                    }
                }
            }
        } else if let Some(running) = self.go_running.as_mut()
            && let Some(captures) = GO_LOCATION.captures(line)
        {
            if running.location.is_none() {
                running.location = Some(Location {
                    file: captures[1].to_string(),
                    line: number(&captures[2]),
                    column: None,
                });
            }
            running.add_message_line(&captures[3]);
        } else if let Some(captures) = TSC.captures(line) {
            self.diagnostic(
                &captures[4],
                Location {
                    file: captures[1].to_string(),
                    line: number(&captures[2]),
                    column: Some(number(&captures[3])),
                },
                format!("{} {}", &captures[4], &captures[5]),
            );
        } else if let Some(captures) = COMPILER.captures(line) {
            let message = captures[4].trim_start_matches("- ").to_string();
            let severity = if message.to_ascii_lowercase().starts_with("warning") {
                "warning"
            } else {
                "error"
            };
            let location = Location {
                file: captures[1].to_string(),
                line: number(&captures[2]),
                column: captures.get(3).map(|column| number(column.as_str())),
            };
            self.diagnostic(severity, location, message);
        } else if let Some(captures) = STYLISH_FILE.captures(line) {
            self.stylish_file = Some(captures[0].to_string());
        } else if let Some(captures) = STYLISH_PROBLEM.captures(line) {
            if let Some(file) = self.stylish_file.clone() {
                self.diagnostic(
                    &captures[3],
                    Location {
                        file,
                        line: number(&captures[1]),
                        column: Some(number(&captures[2])),
                    },
                    captures[4].to_string(),
                );
            }
        } else if let Some(captures) = PYTHON_FRAME.captures(line) {
            self.python_frame = Some(Location {
                file: captures[1].to_string(),
                line: number(&captures[2]),
                column: None,
            });
        } else if let Some(captures) = PYTHON_ERROR.captures(line)
            && let Some(location) = self.python_frame.take()
        {
            self.diagnostic(
                "error",
                location,
                format!("{}: {}", &captures[1], &captures[2]),
            );
        }
    }

    fn diagnostic(&mut self, severity: &str, location: Location, message: String) {
        let severity = if severity == "warning" {
            self.summary.warnings += 1;
            Severity::Warning
        } else {
            self.summary.errors += 1;
            Severity::Error
        };
        let mut problem = Problem::new(severity, None);
        problem.location = Some(location);
        problem.message = message;
        self.push(problem);
    }

    fn panic(&mut self, name: &str, captures: &regex::Captures<'_>) {
        let Some(index) = self.failure_named(name) else {
            return;
        };
        let problem = &mut self.summary.problems[index];
        problem.location = Some(Location {
            file: captures[3].to_string(),
            line: number(&captures[4]),
            column: Some(number(&captures[5])),
        });
        match captures.get(2) {
            // The old format: `panicked at 'message', path:line:col`.
            Some(message) => problem.add_message_line(message.as_str()),
            None => self.state = State::PanicMessage { index },
        }
    }

    fn libtest_block_line(&mut self, line: &str, name: String) {
        if let Some(captures) = PANIC.captures(line) {
            self.panic(&name, &captures);
        } else if LIBTEST_BLOCK.is_match(line) || line == "failures:" {
            self.idle_line(line);
        } else {
            self.state = State::LibtestBlock { name };
        }
    }

    fn pytest_section_line(&mut self, line: &str, index: usize) {
        if PYTEST_SECTION.is_match(line) || line.starts_with("=====") {
            return self.idle_line(line);
        }
        self.state = State::PytestSection { index };
        let problem = &mut self.summary.problems[index];
        if let Some(rest) = line.strip_prefix("E ") {
            problem.add_message_line(rest.trim());
        } else if let Some(captures) = PYTEST_LOCATION.captures(line)
            && problem.location.is_none()
        {
            problem.location = Some(Location {
                file: captures[1].to_string(),
                line: number(&captures[2]),
                column: None,
            });
        }
    }

    fn pytest_short(&mut self, captures: &regex::Captures<'_>) {
        let node = &captures[2];
        let test = node.split_once("::").map_or(node, |(_, test)| test);
        // The section header names `Class.test` for the node `file::Class::test`.
        let section_name = test.replace("::", ".");
        let existing = self.summary.problems.iter().position(|problem| {
            problem.severity == Severity::Failure
                && problem
                    .name
                    .as_deref()
                    .is_some_and(|name| name == section_name || name.ends_with(&section_name))
        });
        let index = match existing {
            Some(index) => index,
            None => match self.push(Problem::new(Severity::Failure, None)) {
                Some(index) => index,
                None => return,
            },
        };
        let problem = &mut self.summary.problems[index];
        problem.name = Some(node.to_string());
        if problem.message.is_empty()
            && let Some(message) = captures.get(3)
        {
            problem.add_message_line(message.as_str());
        }
    }

    fn tap_block_line(&mut self, line: &str, index: usize, indent: usize, field: TapField) {
        let trimmed = line.trim_start();
        let depth = line.len() - trimmed.len();
        if trimmed == "..." && depth <= indent + 2 {
            return;
        }
        if depth <= indent && !line.trim().is_empty() {
            // The YAML block ended without its `...`.
            return self.idle_line(line);
        }
        let mut field = field;
        let is_key = depth == indent + 2 && trimmed.contains(':');
        if is_key {
            field = TapField::Other;
            if let Some(captures) = TAP_LOCATION.captures(line) {
                let problem = &mut self.summary.problems[index];
                if problem.location.is_none() {
                    problem.location = Some(Location {
                        file: captures[1].to_string(),
                        line: number(&captures[2]),
                        column: Some(number(&captures[3])),
                    });
                }
            } else if let Some(value) = trimmed.strip_prefix("error:") {
                let value = value.trim();
                if value.starts_with('|') || value.starts_with('>') {
                    field = TapField::Error;
                } else {
                    let value = value.trim_matches('\'');
                    self.summary.problems[index].add_message_line(value);
                }
            } else if trimmed.starts_with("stack:") {
                field = TapField::Stack;
            } else if trimmed == "failureType: 'subtestsFailed'" {
                // A suite failing because a test in it failed: that test is reported itself.
                self.summary.problems.remove(index);
                self.kept_failures -= 1;
                return;
            }
        } else {
            match field {
                TapField::Error => self.summary.problems[index].add_message_line(trimmed),
                TapField::Stack => {
                    if let Some(location) = frame_location(trimmed) {
                        // The first frame in the project is the failing line, more precise
                        // than the test's own `location`.
                        self.summary.problems[index].location = Some(location);
                        field = TapField::Other;
                    }
                }
                TapField::Other => {}
            }
        }
        self.state = State::TapBlock {
            index,
            indent,
            field,
        };
    }

    fn js_failure_line(&mut self, line: &str, index: usize) {
        let trimmed = line.trim();
        if JEST_FAILURE.is_match(line)
            || VITEST_FAIL.is_match(line)
            || JEST_TESTS.is_match(line)
            || VITEST_TESTS.is_match(line)
            || trimmed.starts_with("Test Suites:")
            || trimmed.starts_with("Test Files")
            || trimmed.starts_with("⎯⎯")
        {
            return self.idle_line(line);
        }
        self.state = State::JsFailure { index };
        let problem = &mut self.summary.problems[index];
        if let Some(captures) = VITEST_LOCATION.captures(line) {
            if problem.location.is_none() {
                problem.location = Some(Location {
                    file: captures[1].to_string(),
                    line: number(&captures[2]),
                    column: Some(number(&captures[3])),
                });
            }
        } else if let Some(rest) = trimmed.strip_prefix("at ") {
            if problem.location.is_none()
                && let Some(location) = frame_location(rest)
            {
                problem.location = Some(location);
            }
        } else if !trimmed.starts_with('>')
            && !trimmed.starts_with('|')
            && !trimmed.chars().next().is_some_and(|c| c.is_ascii_digit())
        {
            problem.add_message_line(trimmed);
        }
    }
}

/// The file, line and column of a stack frame such as `Foo (/p/test.js:9:10)` or
/// `at file:///p/test.mjs:3:7`, unless it is inside node itself or `node_modules`.
fn frame_location(frame: &str) -> Option<Location> {
    let captures = FRAME.captures(frame)?;
    let file = captures[1].trim_start_matches("file://");
    if file.starts_with("node:") || file.contains("node_modules") || file.starts_with("internal/") {
        return None;
    }
    Some(Location {
        file: file.to_string(),
        line: number(&captures[2]),
        column: Some(number(&captures[3])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn parse(output: &str) -> Summary {
        let mut parser = OutputParser::new();
        parser.feed(output.as_bytes());
        parser.finish()
    }

    fn location(file: &str, line: u64, column: Option<u64>) -> Option<Location> {
        Some(Location {
            file: file.into(),
            line,
            column,
        })
    }

    fn counts(passed: u64, failed: u64, ignored: u64) -> Option<TestCounts> {
        Some(TestCounts {
            passed,
            failed,
            ignored,
        })
    }

    #[test]
    fn cargo_test_output_captured_from_a_real_run() {
        let summary = parse(include_str!("fixtures/cargo_test.txt"));
        assert_eq!(summary.tests, counts(1, 1, 1));
        assert_eq!(
            summary.problems,
            [Problem {
                severity: Severity::Failure,
                name: Some("tests::fails".into()),
                location: location("src/lib.rs", 16, Some(9)),
                message: "assertion `left == right` failed: one and one\n  left: 2\n right: 3"
                    .into(),
            }]
        );
    }

    #[test]
    fn libtest_panics_in_the_old_format_are_read() {
        let output = "test t ... FAILED\n\nfailures:\n\n---- t stdout ----\nthread 't' panicked at 'boom', src/a.rs:3:5\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n";
        let summary = parse(output);
        assert_eq!(summary.tests, counts(0, 1, 0));
        assert_eq!(
            summary.problems[0].location,
            location("src/a.rs", 3, Some(5))
        );
        assert_eq!(summary.problems[0].message, "boom");
    }

    #[test]
    fn cargo_build_errors_captured_from_a_real_run() {
        let summary = parse(include_str!("fixtures/cargo_build.txt"));
        assert_eq!(summary.errors, 1);
        assert_eq!(summary.warnings, 0);
        assert_eq!(summary.tests, None);
        assert_eq!(
            summary.problems,
            [Problem {
                severity: Severity::Error,
                name: None,
                location: location("src/main.rs", 2, Some(18)),
                message: "error[E0308]: mismatched types".into(),
            }]
        );
    }

    #[test]
    fn clippy_warnings_captured_from_a_real_run() {
        let summary = parse(include_str!("fixtures/cargo_clippy.txt"));
        assert_eq!((summary.errors, summary.warnings), (0, 3));
        let found: Vec<(String, String)> = summary
            .problems
            .iter()
            .map(|p| (p.location.as_ref().unwrap().to_string(), p.message.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "src/main.rs:2:9".into(),
                    "warning: unused variable: `unused`".into()
                ),
                (
                    "src/main.rs:4:8".into(),
                    "warning: length comparison to zero".into()
                ),
                (
                    "src/main.rs:3:13".into(),
                    "warning: useless use of `vec!`".into()
                ),
            ]
        );
    }

    #[test]
    fn pytest_output_captured_from_a_real_run() {
        let summary = parse(include_str!("fixtures/pytest.txt"));
        assert_eq!(summary.tests, counts(1, 1, 1));
        assert_eq!(
            summary.problems,
            [Problem {
                severity: Severity::Failure,
                name: Some("tests/test_calc.py::test_fails".into()),
                location: location("tests/test_calc.py", 13, None),
                message: "assert 2 == 3\n+  where 2 = add(1, 1)".into(),
            }]
        );
    }

    #[test]
    fn pytest_class_tests_match_their_short_summary() {
        let output = "\
=================================== FAILURES ===================================
____________________________ TestMath.test_div _____________________________

self = <t.TestMath object>

>       assert 1 / 1 == 2
E       assert 1.0 == 2

t/test_m.py:4: AssertionError
=========================== short test summary info ============================
FAILED t/test_m.py::TestMath::test_div - assert 1.0 == 2
========================= 1 failed, 3 passed in 0.10s ==========================
";
        let summary = parse(output);
        assert_eq!(summary.tests, counts(3, 1, 0));
        assert_eq!(summary.problems.len(), 1);
        assert_eq!(
            summary.problems[0].name.as_deref(),
            Some("t/test_m.py::TestMath::test_div")
        );
        assert_eq!(
            summary.problems[0].location,
            location("t/test_m.py", 4, None)
        );
    }

    #[test]
    fn node_tap_output_captured_from_a_real_run() {
        let summary = parse(include_str!("fixtures/node_tap.txt"));
        assert_eq!(summary.tests, counts(1, 1, 1));
        assert_eq!(
            summary.problems,
            [Problem {
                severity: Severity::Failure,
                name: Some("fails".into()),
                location: location("/tmp/cap/n/test/calc.test.js", 9, Some(10)),
                message: "Expected values to be strictly equal:\n\n2 !== 3".into(),
            }]
        );
    }

    #[test]
    fn tap_suites_failing_through_their_tests_are_not_counted_twice() {
        let output = "\
# Subtest: suite
    # Subtest: inner
    not ok 1 - inner
      ---
      location: '/p/t.test.js:3:3'
      error: 'boom'
      ...
    1..1
not ok 1 - suite
  ---
  location: '/p/t.test.js:1:1'
  failureType: 'subtestsFailed'
  error: '1 subtest failed'
  ...
# tests 1
# pass 0
# fail 1
";
        let summary = parse(output);
        assert_eq!(summary.tests, counts(0, 1, 0));
        assert_eq!(summary.problems.len(), 1);
        assert_eq!(summary.problems[0].name.as_deref(), Some("inner"));
        assert_eq!(summary.problems[0].message, "boom");
        assert_eq!(
            summary.problems[0].location,
            location("/p/t.test.js", 3, Some(3))
        );
    }

    // jest, vitest, go, tsc and eslint are not installed on the machine that wrote these
    // tests; the samples follow the formats their documentation and issue trackers show.

    #[test]
    fn jest_summary_and_failures() {
        let output = "\
FAIL src/sum.test.js
  ● math › adds

    expect(received).toBe(expected) // Object.is equality

    Expected: 4
    Received: 3

      3 | test('adds', () => {
    > 4 |   expect(1 + 2).toBe(4);
        |                 ^
      5 | });

      at Object.toBe (src/sum.test.js:4:17)

Test Suites: 1 failed, 1 total
Tests:       1 failed, 1 skipped, 2 passed, 4 total
";
        let summary = parse(output);
        assert_eq!(summary.tests, counts(2, 1, 1));
        assert_eq!(summary.problems.len(), 1);
        let problem = &summary.problems[0];
        assert_eq!(problem.name.as_deref(), Some("math › adds"));
        assert_eq!(problem.location, location("src/sum.test.js", 4, Some(17)));
        assert!(
            problem
                .message
                .starts_with("expect(received).toBe(expected)")
        );
        assert!(problem.message.contains("Received: 3"));
    }

    #[test]
    fn vitest_summary_and_failures() {
        let output = "\
 FAIL  test/sum.test.ts > math > adds
AssertionError: expected 3 to be 4 // Object.is equality
 ❯ test/sum.test.ts:5:17

 Test Files  1 failed (1)
      Tests  1 failed | 2 passed (3)
";
        let summary = parse(output);
        assert_eq!(summary.tests, counts(2, 1, 0));
        let problem = &summary.problems[0];
        assert_eq!(
            problem.name.as_deref(),
            Some("test/sum.test.ts > math > adds")
        );
        assert_eq!(problem.location, location("test/sum.test.ts", 5, Some(17)));
        assert_eq!(
            problem.message,
            "AssertionError: expected 3 to be 4 // Object.is equality"
        );
    }

    #[test]
    fn go_test_verbose_output() {
        let output = "\
=== RUN   TestAdd
--- PASS: TestAdd (0.00s)
=== RUN   TestSub
    calc_test.go:12: Sub(3, 1) = 1; want 2
--- FAIL: TestSub (0.00s)
=== RUN   TestSkip
    calc_test.go:16: later
--- SKIP: TestSkip (0.00s)
FAIL
FAIL\texample.com/calc\t0.002s
";
        let summary = parse(output);
        assert_eq!(summary.tests, counts(1, 1, 1));
        assert_eq!(summary.problems.len(), 1);
        assert_eq!(summary.problems[0].name.as_deref(), Some("TestSub"));
        assert_eq!(
            summary.problems[0].location,
            location("calc_test.go", 12, None)
        );
        assert_eq!(summary.problems[0].message, "Sub(3, 1) = 1; want 2");
    }

    #[test]
    fn go_failures_read_the_lines_after_the_fail_line() {
        let output =
            "--- FAIL: TestSub (0.00s)\n    calc_test.go:12: Sub(3, 1) = 1; want 2\nFAIL\n";
        let summary = parse(output);
        let problem = &summary.problems[0];
        assert_eq!(problem.location, location("calc_test.go", 12, None));
        assert_eq!(problem.message, "Sub(3, 1) = 1; want 2");
    }

    #[test]
    fn compiler_style_diagnostics() {
        let output = "\
./main.go:5:2: undefined: y
src/app.ts(3,5): error TS2322: Type 'string' is not assignable to type 'number'.
src/b.ts:7:1 - error TS1005: ';' expected.
pkg/mod.py:1:8: F401 [*] `os` imported but unused
/p/src/index.js
  2:7  error    'x' is assigned a value but never used  no-unused-vars
  5:1  warning  Unexpected console statement            no-console
";
        let summary = parse(output);
        assert_eq!((summary.errors, summary.warnings), (5, 1));
        let found: Vec<String> = summary
            .problems
            .iter()
            .map(|p| format!("{} {}", p.location.as_ref().unwrap(), p.message))
            .collect();
        assert_eq!(
            found,
            [
                "./main.go:5:2 undefined: y",
                "src/app.ts:3:5 error TS2322: Type 'string' is not assignable to type 'number'.",
                "src/b.ts:7:1 error TS1005: ';' expected.",
                "pkg/mod.py:1:8 F401 [*] `os` imported but unused",
                "/p/src/index.js:2:7 'x' is assigned a value but never used",
                "/p/src/index.js:5:1 Unexpected console statement",
            ]
        );
    }

    #[test]
    fn python_syntax_errors() {
        let output = "*** Error compiling './bad.py'...\n  File \"./bad.py\", line 2\n    def f(:\n          ^\nSyntaxError: invalid syntax\n";
        let summary = parse(output);
        assert_eq!(summary.errors, 1);
        assert_eq!(summary.problems[0].location, location("./bad.py", 2, None));
        assert_eq!(summary.problems[0].message, "SyntaxError: invalid syntax");
    }

    #[test]
    fn chunks_split_anywhere_give_the_same_summary() {
        let output = include_str!("fixtures/cargo_test.txt");
        let whole = parse(output);
        for size in [1, 7, 64] {
            let mut parser = OutputParser::new();
            for chunk in output.as_bytes().chunks(size) {
                parser.feed(chunk);
            }
            assert_eq!(parser.finish(), whole, "chunks of {size}");
        }
    }

    #[test]
    fn problems_are_capped_but_still_counted() {
        let mut output = String::new();
        for index in 0..25 {
            output.push_str(&format!("error: bad {index}\n --> src/a.rs:{index}:1\n\n"));
        }
        let summary = parse(&output);
        assert_eq!(summary.errors, 25);
        assert_eq!(summary.problems.len(), MAX_PROBLEMS);
    }

    #[test]
    fn colours_are_ignored() {
        let summary =
            parse("\x1b[31mFAILED\x1b[0m t.py::test_a - boom\n\x1b[31m1 failed\x1b[0m in 0.01s\n");
        assert_eq!(summary.tests, counts(0, 1, 0));
        assert_eq!(summary.problems[0].name.as_deref(), Some("t.py::test_a"));
    }
}
