//! `grep`: lines matching a regex across a tree, with ripgrep's own crates.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use code_mesh_core::{CancellationToken, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{
    BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkContextKind, SinkMatch,
};
use ignore::WalkState;
use ignore::overrides::OverrideBuilder;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking::{self, CANCELLED};
use crate::output::{clip_line, human_size, plural, truncate_end};
use crate::paths::PathPolicy;
use crate::walk;

const DEFAULT_MAX_RESULTS: u64 = 200;
const MAX_MAX_RESULTS: u64 = 2000;
const MAX_CONTEXT: u64 = 10;
/// Characters of a matching line shown.
const MAX_LINE_CHARS: usize = 400;

const DESCRIPTION: &str = "\
Searches file contents with a regular expression and returns the matching lines as \
`path:line: text`, grouped by file. Built on ripgrep's engine: fast on large trees.

Usage:
- `pattern` is a regular expression in Rust regex syntax (like ripgrep/PCRE without \
look-around or backreferences). Escape special characters to match them literally: \
`fn main\\(`, `\\{\\{`, `a\\.b`. `\\b`, `\\s`, `\\w`, `\\d`, `(?i)` and `|` work. Each line is \
matched on its own, so a pattern cannot span lines.
- `path` is the directory or file to search; default: the working directory.
- `include` keeps only files whose name or path matches a glob: `*.rs`, `*.{ts,tsx}`, \
`src/**/*.py`.
- `case_insensitive` ignores case; `context` shows that many lines before and after each match \
(context lines look like `path-line- text`); `max_results` caps the matching lines returned \
(default 200, at most 2000).
- Files ignored by .gitignore/.ignore, hidden files and binary files are skipped.
- Use this tool rather than running grep or rg through bash. To find files by name, use \
`glob`. Run several independent searches in parallel when you can.";

/// Searches file contents: `{pattern, path?, include?, case_insensitive?, context?,
/// max_results?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrepTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrepArgs {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    include: Option<String>,
    #[serde(default)]
    case_insensitive: Option<bool>,
    #[serde(default)]
    context: Option<u64>,
    #[serde(default)]
    max_results: Option<u64>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "pattern": {
                "type": "string",
                "description": "The regular expression to search for (Rust regex syntax)."
            },
            "path": {
                "type": "string",
                "description": "The directory or file to search. Default: the working directory."
            },
            "include": {
                "type": "string",
                "description": "Only search files matching this glob, e.g. `*.rs` or `*.{ts,tsx}`."
            },
            "case_insensitive": {
                "type": "boolean",
                "description": "Match regardless of case. Default: false."
            },
            "context": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_CONTEXT,
                "description": "Lines of context to show before and after each match. Default: 0."
            },
            "max_results": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_MAX_RESULTS,
                "description": "The most matching lines to return. Default: 200."
            }
        },
        "required": ["pattern"],
        "additionalProperties": false
    })
}

#[async_trait]
impl Tool for GrepTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "grep".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        let pattern = args::str_field(arguments, "pattern").unwrap_or_default();
        let mut summary = format!("search for {}", args::quoted_excerpt(pattern, 60));
        if let Some(path) = args::str_field(arguments, "path") {
            summary.push_str(&format!(" in {path}"));
        }
        if let Some(include) = args::str_field(arguments, "include") {
            summary.push_str(&format!(" ({include})"));
        }
        summary
    }

    fn permission_target(&self, arguments: &Value) -> code_mesh_core::PermissionTarget {
        // The directory searched; the working directory when none is given.
        args::path_target(arguments, Some("."))
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: GrepArgs = args::parse("grep", arguments, &schema)?;
        if arguments.pattern.is_empty() {
            return Err(args::invalid(
                "grep",
                "`pattern` is empty; give a regular expression to search for",
                &schema,
            ));
        }
        let lines_around = arguments.context.unwrap_or(0);
        if lines_around > MAX_CONTEXT {
            return Err(args::invalid(
                "grep",
                format!("`context` is {lines_around}, but at most {MAX_CONTEXT} lines are shown"),
                &schema,
            ));
        }
        let max_results = arguments.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
        if !(1..=MAX_MAX_RESULTS).contains(&max_results) {
            return Err(args::invalid(
                "grep",
                format!("`max_results` is {max_results}; use a number from 1 to {MAX_MAX_RESULTS}"),
                &schema,
            ));
        }
        let matcher = RegexMatcherBuilder::new()
            .case_insensitive(arguments.case_insensitive.unwrap_or(false))
            .line_terminator(Some(b'\n'))
            .build(&arguments.pattern)
            .map_err(|error| {
                ToolError::new(format!(
                    "invalid regex {}: {error}\ngrep takes a regular expression (Rust regex \
                     syntax); to match special characters such as `(`, `[`, `{{`, `.`, `*`, \
                     `+`, `?`, `|` or `\\` literally, escape them with a backslash, e.g. \
                     `fn main\\(`",
                    args::quoted_excerpt(&arguments.pattern, 200)
                ))
            })?;
        let search = Search {
            matcher,
            context: lines_around as usize,
            max_results: max_results as usize,
        };
        let owned = context.clone();
        let max_output = context.limits.max_output_bytes;
        blocking::cancellable(context, move |cancel| {
            grep(&owned, &arguments, &search, cancel)
        })
        .await
        .map(|mut text| {
            truncate_end(&mut text, max_output, |dropped| {
                format!(
                    "[output limit reached: {} of matches not shown; narrow the pattern, path \
                     or include, or lower max_results]",
                    human_size(dropped)
                )
            });
            ToolOutput::from(text)
        })
    }
}

struct Search {
    matcher: RegexMatcher,
    context: usize,
    max_results: usize,
}

/// What the search threads share.
struct Shared {
    matches: AtomicUsize,
    capped: AtomicBool,
    max_results: usize,
}

/// One thread's searcher and results.
struct Worker {
    searcher: Searcher,
    matcher: RegexMatcher,
    files: Vec<FileMatches>,
    unreadable: usize,
}

struct FileMatches {
    display: String,
    text: String,
    matches: usize,
}

fn grep(
    context: &ToolContext,
    arguments: &GrepArgs,
    search: &Search,
    cancel: &CancellationToken,
) -> Result<String, ToolError> {
    let policy = PathPolicy::new(context);
    let (root, _) = policy.resolve_existing(arguments.path.as_deref().unwrap_or("."))?;
    let root_display = policy.display(&root);
    let mut builder = walk::builder(
        &root,
        arguments.include.as_deref().is_some_and(walk::names_hidden),
    );
    if let Some(include) = &arguments.include {
        let mut overrides = OverrideBuilder::new(&root);
        let built = overrides
            .add(include)
            .and_then(|overrides| overrides.build())
            .map_err(|error| {
                ToolError::new(format!(
                    "invalid `include` glob `{include}`: {error}; use a glob such as `*.rs` or \
                     `*.{{ts,tsx}}`"
                ))
            })?;
        builder.overrides(built);
    }
    let shared = Shared {
        matches: AtomicUsize::new(0),
        capped: AtomicBool::new(false),
        max_results: search.max_results,
    };
    let mut searcher = SearcherBuilder::new();
    searcher
        .binary_detection(BinaryDetection::quit(b'\0'))
        .line_number(true)
        .before_context(search.context)
        .after_context(search.context);
    let start = || Worker {
        searcher: searcher.build(),
        matcher: search.matcher.clone(),
        files: Vec::new(),
        unreadable: 0,
    };
    let workers = walk::parallel(builder.build_parallel(), start, |worker, entry| {
        if cancel.is_cancelled() || shared.capped.load(Ordering::Relaxed) {
            return WalkState::Quit;
        }
        let entry = match entry {
            Ok(entry) => entry,
            Err(_) => {
                worker.unreadable += 1;
                return WalkState::Continue;
            }
        };
        if !entry.file_type().is_some_and(|kind| kind.is_file()) {
            return WalkState::Continue;
        }
        let mut sink = FileSink {
            path: entry.path(),
            policy: &policy,
            shared: &shared,
            prefix: None,
            text: String::new(),
            matches: 0,
        };
        let Worker {
            searcher, matcher, ..
        } = worker;
        if searcher
            .search_path(&*matcher, entry.path(), &mut sink)
            .is_err()
        {
            worker.unreadable += 1;
        }
        if sink.matches > 0 {
            let FileSink {
                prefix,
                text,
                matches,
                ..
            } = sink;
            worker.files.push(FileMatches {
                display: prefix.unwrap_or_default(),
                text,
                matches,
            });
        }
        WalkState::Continue
    });
    if cancel.is_cancelled() {
        return Err(ToolError::new(CANCELLED));
    }
    let unreadable: usize = workers.iter().map(|worker| worker.unreadable).sum();
    let mut files: Vec<FileMatches> = workers
        .into_iter()
        .flat_map(|worker| worker.files)
        .collect();
    files.sort_by(|a, b| a.display.cmp(&b.display));
    let total: usize = files.iter().map(|file| file.matches).sum();
    let capped = shared.capped.load(Ordering::Relaxed);
    if files.is_empty() {
        let mut message = format!(
            "no matches for {} in `{root_display}`",
            args::quoted_excerpt(&arguments.pattern, 200)
        );
        if let Some(include) = &arguments.include {
            message.push_str(&format!(" (files matching `{include}`)"));
        }
        message.push_str(
            ". Files ignored by .gitignore/.ignore, hidden files and binary files are skipped",
        );
        if !arguments.case_insensitive.unwrap_or(false)
            && arguments.pattern.chars().any(char::is_uppercase)
        {
            message.push_str(
                "; the search was case-sensitive (set case_insensitive=true to ignore case)",
            );
        }
        message.push('.');
        return Ok(message);
    }
    let mut out = format!(
        "{} in {}{}\n",
        plural(total as u64, "match", "matches"),
        plural(files.len() as u64, "file", "files"),
        if capped {
            " (stopped at max_results)"
        } else {
            ""
        }
    );
    let separator = if search.context > 0 { "--\n" } else { "" };
    for (index, file) in files.iter().enumerate() {
        if index > 0 {
            out.push_str(separator);
        }
        out.push_str(&file.text);
    }
    if capped {
        out.push_str(&format!(
            "\n[stopped after {} matching lines (max_results); there are more: narrow the \
             pattern, path or include, or raise max_results (at most {MAX_MAX_RESULTS})]\n",
            search.max_results
        ));
    }
    if unreadable > 0 {
        out.push_str(&format!(
            "\n[{} could not be read and {} skipped]\n",
            plural(unreadable as u64, "path", "paths"),
            if unreadable == 1 { "was" } else { "were" }
        ));
    }
    Ok(out)
}

/// Collects one file's matching and context lines.
struct FileSink<'a> {
    path: &'a Path,
    policy: &'a PathPolicy,
    shared: &'a Shared,
    /// The file's path as shown, made on the first line.
    prefix: Option<String>,
    text: String,
    matches: usize,
}

impl FileSink<'_> {
    fn push(&mut self, separator: char, number: Option<u64>, line: &[u8]) {
        let prefix = self
            .prefix
            .get_or_insert_with(|| self.policy.display(self.path));
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = String::from_utf8_lossy(line);
        self.text.push_str(&format!(
            "{prefix}{separator}{}{separator} {}\n",
            number.unwrap_or(0),
            clip_line(&line, MAX_LINE_CHARS)
        ));
    }
}

impl Sink for FileSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _searcher: &Searcher, found: &SinkMatch<'_>) -> Result<bool, io::Error> {
        let first = found.line_number();
        for (offset, line) in found.lines().enumerate() {
            let previous = self.shared.matches.fetch_add(1, Ordering::Relaxed);
            if previous >= self.shared.max_results {
                self.shared.capped.store(true, Ordering::Relaxed);
                return Ok(false);
            }
            self.push(':', first.map(|first| first + offset as u64), line);
            self.matches += 1;
        }
        Ok(true)
    }

    fn context(
        &mut self,
        _searcher: &Searcher,
        context: &SinkContext<'_>,
    ) -> Result<bool, io::Error> {
        if matches!(
            context.kind(),
            SinkContextKind::Before | SinkContextKind::After
        ) {
            self.push('-', context.line_number(), context.bytes());
        }
        Ok(true)
    }

    fn context_break(&mut self, _searcher: &Searcher) -> Result<bool, io::Error> {
        if !self.text.is_empty() {
            self.text.push_str("--\n");
        }
        Ok(true)
    }
}
