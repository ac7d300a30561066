//! `git_log`: recent commits, one line each.

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PARSED_OUTPUT_BYTES, bounded, git_failure, pathspec, run_git};
use crate::args;
use crate::paths::PathPolicy;

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 500;

const DESCRIPTION: &str = "\
Lists commits of the current branch, newest first, one line each: short hash, date, author \
and subject.

Usage:
- `limit`: how many commits (default 20, at most 500).
- `path`: only commits that touched this file or directory (relative to the working \
directory).
- `grep`: only commits whose message contains this text (case-insensitive).
- Use `git_show` with a hash to see one commit in full.";

/// `git_log`: `{path?, limit?, grep?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitLogTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    grep: Option<String>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "Only commits touching this file or directory, relative to the working directory."
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "description": "How many commits to list, newest first. Default 20, at most 500."
            },
            "grep": {
                "type": "string",
                "description": "Only commits whose message contains this text (case-insensitive)."
            }
        },
        "required": [],
        "additionalProperties": false
    })
}

/// One commit as `git_log` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogLine {
    pub(crate) hash: String,
    pub(crate) date: String,
    pub(crate) author: String,
    pub(crate) subject: String,
}

/// Parses records written with `--format=%h%x1f%ad%x1f%an%x1f%s%x1e`.
pub(crate) fn parse_log(text: &str) -> Vec<LogLine> {
    text.split('\u{1e}')
        .filter_map(|record| {
            let mut fields = record.trim_start_matches('\n').split('\u{1f}');
            Some(LogLine {
                hash: fields.next().filter(|hash| !hash.is_empty())?.to_string(),
                date: fields.next()?.to_string(),
                author: fields.next()?.to_string(),
                subject: fields.next()?.to_string(),
            })
        })
        .collect()
}

#[async_trait]
impl Tool for GitLogTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_log".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        match args::str_field(arguments, "path") {
            Some(path) => format!("list the commits touching {path}"),
            None => "list recent commits".into(),
        }
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        match args::str_field(arguments, "path") {
            Some(path) => PermissionTarget::Paths(vec![path.to_string()]),
            None => PermissionTarget::Command("git log".into()),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: LogArgs = args::parse("git_log", arguments, &schema)?;
        let limit = arguments.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(args::invalid(
                "git_log",
                format!("`limit` is {limit}; use a number from 1 to {MAX_LIMIT}"),
                &schema,
            ));
        }
        let mut git_args = vec![
            "log".to_string(),
            format!("--max-count={limit}"),
            "--date=short".to_string(),
            "--format=%h%x1f%ad%x1f%an%x1f%s%x1e".to_string(),
        ];
        if let Some(grep) = &arguments.grep {
            git_args.push(format!("--grep={grep}"));
            git_args.push("--regexp-ignore-case".into());
            git_args.push("--fixed-strings".into());
        }
        git_args.push("--".into());
        if let Some(path) = &arguments.path {
            git_args.push(pathspec(&PathPolicy::new(context), context, path)?);
        }
        let output = run_git(context, &context.cwd, &git_args, PARSED_OUTPUT_BYTES).await?;
        if !output.success() {
            if output.stderr.contains("does not have any commits yet") {
                return Ok(ToolOutput::from(
                    "The repository has no commits yet.".to_string(),
                ));
            }
            return Err(git_failure("git log", &output, &context.cwd));
        }
        let commits = parse_log(&output.stdout);
        if commits.is_empty() {
            return Ok(ToolOutput::from(
                "No commits match (check `path` and `grep`).".to_string(),
            ));
        }
        let mut text = String::new();
        for commit in &commits {
            text.push_str(&format!(
                "{} {} {}: {}\n",
                commit.hash, commit.date, commit.author, commit.subject
            ));
        }
        if commits.len() as u32 == limit {
            text.push_str(&format!(
                "(the {limit} most recent; raise `limit` to see older commits)\n"
            ));
        }
        Ok(ToolOutput::from(bounded(text, context, "lower `limit`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_split_on_separators() {
        let commits = parse_log(
            "abc1234\u{1f}2024-05-01\u{1f}Ada Lovelace\u{1f}Add: a subject\u{1e}\n\
             def5678\u{1f}2024-04-30\u{1f}Bob\u{1f}first\u{1e}\n",
        );
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].author, "Ada Lovelace");
        assert_eq!(commits[0].subject, "Add: a subject");
        assert_eq!(commits[1].hash, "def5678");
    }
}
