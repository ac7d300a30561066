//! `git_blame`: who last changed each line of a file, parsed from `git blame --line-porcelain`.

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PARSED_OUTPUT_BYTES, bounded, git_failure, pathspec, run_git};
use crate::args;
use crate::output::clip_line;
use crate::paths::PathPolicy;

/// Characters of a line's content shown.
const MAX_LINE_CHARS: usize = 200;

const DESCRIPTION: &str = "\
Shows who last changed each line of a file and in which commit: one line per source line, \
`hash date author line-number| content`.

Usage:
- `path`: the file, relative to the working directory.
- `start_line` / `end_line` (1-based, inclusive): only these lines; use them on large files.
- Lines changed but not committed yet show `uncommitted`.
- Use `git_show` with the hash to see the whole commit.";

/// `git_blame`: `{path, start_line?, end_line?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitBlameTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlameArgs {
    path: String,
    #[serde(default)]
    start_line: Option<u64>,
    #[serde(default)]
    end_line: Option<u64>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "The file to blame, relative to the working directory."
            },
            "start_line": {
                "type": "integer",
                "minimum": 1,
                "description": "The first line to show (1-based). Default: the first line."
            },
            "end_line": {
                "type": "integer",
                "minimum": 1,
                "description": "The last line to show (1-based, inclusive). Default: the last line."
            }
        },
        "required": ["path"],
        "additionalProperties": false
    })
}

/// One blamed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlameLine {
    pub(crate) hash: String,
    pub(crate) author: String,
    pub(crate) date: String,
    pub(crate) line: u64,
    pub(crate) content: String,
}

/// Parses `git blame --line-porcelain` output.
pub(crate) fn parse_blame(text: &str) -> Vec<BlameLine> {
    let mut lines = Vec::new();
    let mut current: Option<BlameLine> = None;
    let mut time: i64 = 0;
    let mut zone = String::new();
    for row in text.lines() {
        if let Some(content) = row.strip_prefix('\t') {
            if let Some(mut line) = current.take() {
                line.date = date_of(time, &zone);
                line.content = content.to_string();
                lines.push(line);
            }
            continue;
        }
        if current.is_none() {
            // "<40-hex hash> <original line> <final line> [<group size>]"
            let mut fields = row.split(' ');
            let hash = fields.next().unwrap_or_default();
            let line = fields.nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
            if hash.len() >= 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                let uncommitted = hash.bytes().all(|b| b == b'0');
                current = Some(BlameLine {
                    hash: if uncommitted {
                        "uncommitted".to_string()
                    } else {
                        hash[..8].to_string()
                    },
                    author: String::new(),
                    date: String::new(),
                    line,
                    content: String::new(),
                });
            }
            continue;
        }
        if let (Some(line), Some((key, value))) = (current.as_mut(), row.split_once(' ')) {
            match key {
                "author" => line.author = value.to_string(),
                "author-time" => time = value.parse().unwrap_or(0),
                "author-tz" => zone = value.to_string(),
                _ => {}
            }
        }
    }
    lines
}

/// `YYYY-MM-DD` of a Unix time in the zone `±hhmm`.
fn date_of(seconds: i64, zone: &str) -> String {
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: i64 = zone.trim_start_matches(['+', '-']).parse().unwrap_or(0);
    let offset = sign * ((digits / 100) * 3600 + (digits % 100) * 60);
    let (year, month, day) = civil_from_days((seconds + offset).div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[async_trait]
impl Tool for GitBlameTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_blame".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        match args::str_field(arguments, "path") {
            Some(path) => format!("blame {path}"),
            None => "blame a file".into(),
        }
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        match args::str_field(arguments, "path") {
            Some(path) => PermissionTarget::Paths(vec![path.to_string()]),
            None => PermissionTarget::None,
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: BlameArgs = args::parse("git_blame", arguments, &schema)?;
        let policy = PathPolicy::new(context);
        let (resolved, metadata) = policy.resolve_existing(&arguments.path)?;
        if metadata.is_dir() {
            return Err(ToolError::new(format!(
                "`{}` is a directory; `git_blame` takes a file",
                arguments.path
            )));
        }
        let mut git_args = vec!["blame".to_string(), "--line-porcelain".to_string()];
        match (arguments.start_line, arguments.end_line) {
            (Some(0), _) | (_, Some(0)) => {
                return Err(args::invalid(
                    "git_blame",
                    "line numbers start at 1",
                    &schema,
                ));
            }
            (Some(start), Some(end)) if end < start => {
                return Err(args::invalid(
                    "git_blame",
                    format!("`end_line` ({end}) is before `start_line` ({start})"),
                    &schema,
                ));
            }
            (Some(start), Some(end)) => git_args.push(format!("-L{start},{end}")),
            (Some(start), None) => git_args.push(format!("-L{start},")),
            (None, Some(end)) => git_args.push(format!("-L1,{end}")),
            (None, None) => {}
        }
        git_args.push("--".into());
        git_args.push(pathspec(&policy, context, &arguments.path)?);
        let output = run_git(context, &context.cwd, &git_args, PARSED_OUTPUT_BYTES).await?;
        if !output.success() {
            if output.stderr.contains("no such path") {
                return Err(ToolError::new(format!(
                    "`{}` is not tracked by git (it has no committed history to blame); \
                     commit it first or use `read`",
                    policy.display(&resolved)
                )));
            }
            if output.stderr.contains("has only") {
                return Err(ToolError::new(format!(
                    "{}; lower `start_line`/`end_line`",
                    output.stderr.trim().trim_start_matches("fatal: ")
                )));
            }
            return Err(git_failure("git blame", &output, &context.cwd));
        }
        let lines = parse_blame(&output.stdout);
        let author_width = lines
            .iter()
            .map(|line| line.author.chars().count())
            .max()
            .unwrap_or(0)
            .min(20);
        let number_width = lines.last().map_or(1, |line| line.line.to_string().len());
        let mut text = String::new();
        for line in &lines {
            let author: String = line.author.chars().take(author_width).collect();
            text.push_str(&format!(
                "{:<11} {} {author:<author_width$} {:>number_width$}| {}\n",
                line.hash,
                line.date,
                line.line,
                clip_line(&line.content, MAX_LINE_CHARS)
            ));
        }
        if text.is_empty() {
            text.push_str("(the file is empty)\n");
        }
        Ok(ToolOutput::from(bounded(
            text,
            context,
            "pass `start_line` and `end_line` to blame fewer lines",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_follow_the_author_zone() {
        assert_eq!(date_of(0, "+0000"), "1970-01-01");
        // 2024-03-01 00:30 UTC is still February 29 in New York.
        assert_eq!(date_of(1_709_253_000, "-0500"), "2024-02-29");
        assert_eq!(date_of(1_709_253_000, "+0100"), "2024-03-01");
    }

    #[test]
    fn line_porcelain_is_parsed() {
        let hash = "a".repeat(40);
        let zero = "0".repeat(40);
        let text = format!(
            "{hash} 1 1 1\nauthor Ada\nauthor-mail <a@b>\nauthor-time 0\nauthor-tz +0000\n\
             summary first\nfilename f\n\tfn main() {{\n\
             {zero} 2 2 1\nauthor Not Committed Yet\nauthor-time 86400\nauthor-tz +0000\n\
             filename f\n\t}}\n"
        );
        let lines = parse_blame(&text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].hash, "aaaaaaaa");
        assert_eq!(lines[0].content, "fn main() {");
        assert_eq!(lines[1].hash, "uncommitted");
        assert_eq!(lines[1].date, "1970-01-02");
        assert_eq!(lines[1].line, 2);
    }
}
