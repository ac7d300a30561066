//! Applying an update section's hunks to a file's lines: each hunk is found by its context
//! and removed lines, exactly or else ignoring trailing whitespace or else ignoring all
//! surrounding whitespace, after the previous hunk (and after its `@@` header line when it
//! has one). A hunk that fits several places without a header to tell them apart is refused.

use super::parse::{Hunk, HunkLine};
use crate::edit::Reindent;

/// A file as lines, each with its own line ending (`""` for a last line without one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lines {
    pub lines: Vec<(String, &'static str)>,
    /// The ending new lines get.
    pub ending: &'static str,
}

impl Lines {
    pub(crate) fn split(text: &str) -> Lines {
        let mut lines = Vec::new();
        let (mut crlf, mut lf) = (0usize, 0usize);
        for piece in text.split_inclusive('\n') {
            let (content, ending) = if let Some(content) = piece.strip_suffix("\r\n") {
                crlf += 1;
                (content, "\r\n")
            } else if let Some(content) = piece.strip_suffix('\n') {
                lf += 1;
                (content, "\n")
            } else {
                (piece, "")
            };
            lines.push((content.to_string(), ending));
        }
        Lines {
            lines,
            ending: if crlf > lf { "\r\n" } else { "\n" },
        }
    }

    pub(crate) fn join(&self) -> String {
        let mut text = String::new();
        for (content, ending) in &self.lines {
            text.push_str(content);
            text.push_str(ending);
        }
        text
    }
}

/// How loosely a hunk had to be matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Looseness {
    Exact,
    TrailingWhitespace,
    Whitespace,
}

/// What applying a file's hunks did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Applied {
    pub added: usize,
    pub removed: usize,
    /// Hunks (1-based) matched loosely, and how.
    pub loose: Vec<(usize, Looseness)>,
}

/// Applies `hunks` to `file` in place; an error says which hunk failed and why.
pub(crate) fn apply(file: &mut Lines, hunks: &[Hunk], display: &str) -> Result<Applied, String> {
    let mut cursor = 0;
    let mut applied = Applied {
        added: 0,
        removed: 0,
        loose: Vec::new(),
    };
    let count = hunks.len();
    for (index, hunk) in hunks.iter().enumerate() {
        let name = if count == 1 {
            format!("the hunk for `{display}` (patch line {})", hunk.line)
        } else {
            format!(
                "hunk {} of {count} for `{display}` (patch line {})",
                index + 1,
                hunk.line
            )
        };
        let mut start = cursor;
        let mut header_at = None;
        if let Some(header) = &hunk.header {
            let wanted = header.trim();
            let found: Vec<usize> = (cursor..file.lines.len())
                .filter(|&at| file.lines[at].0.trim() == wanted)
                .collect();
            match found.as_slice() {
                [] => {
                    return Err(format!(
                        "{name}: its header line `@@ {header}` is not in the file{}; the header \
                         must copy a line that comes before the change (or use a bare `@@`)",
                        after_line(cursor)
                    ));
                }
                // The context may repeat the header line or start after it.
                [at] => {
                    start = *at;
                    header_at = Some(*at);
                }
                several => {
                    return Err(format!(
                        "{name}: its header line `@@ {header}` occurs {} times{} (lines {}); use \
                         a more distinctive header or more context lines",
                        several.len(),
                        after_line(cursor),
                        numbered(several)
                    ));
                }
            }
        }
        let old = hunk.old_lines();
        let (position, looseness) = if old.is_empty() {
            // Only additions: after the header, else at the end of the file.
            let at = header_at.map_or(file.lines.len(), |at| at + 1);
            (at, Looseness::Exact)
        } else {
            find(file, &old, start, hunk.end_of_file, hunk.header.is_some())
                .map_err(|problem| problem.message(&name, cursor))?
        };
        if looseness != Looseness::Exact {
            applied.loose.push((index + 1, looseness));
        }
        // Added lines follow the file's indentation when the match ignored it.
        let reindent = if looseness == Looseness::Whitespace {
            Reindent::new(
                old.iter().copied(),
                file.lines[position..].iter().map(|(line, _)| line.as_str()),
            )
        } else {
            Reindent::default()
        };
        let mut replacement: Vec<(String, &'static str)> = Vec::new();
        let mut matched = position;
        for line in &hunk.lines {
            match line {
                HunkLine::Context(_) => {
                    replacement.push(file.lines[matched].clone());
                    matched += 1;
                }
                HunkLine::Remove(_) => {
                    matched += 1;
                    applied.removed += 1;
                }
                HunkLine::Add(text) => {
                    replacement.push((reindent.line(text), file.ending));
                    applied.added += 1;
                }
            }
        }
        let inserted = replacement.len();
        file.lines
            .splice(position..position + old.len(), replacement);
        cursor = position + inserted;
    }
    // Every line but the last ends with a line break, whatever was appended after it.
    let last = file.lines.len().saturating_sub(1);
    let ending = file.ending;
    for (_, line_ending) in file.lines.iter_mut().take(last) {
        if line_ending.is_empty() {
            *line_ending = ending;
        }
    }
    Ok(applied)
}

fn after_line(cursor: usize) -> String {
    if cursor == 0 {
        String::new()
    } else {
        format!(" after line {cursor} (where the previous hunk ended)")
    }
}

fn numbered(indexes: &[usize]) -> String {
    let mut shown: Vec<String> = indexes
        .iter()
        .take(10)
        .map(|at| (at + 1).to_string())
        .collect();
    if indexes.len() > 10 {
        shown.push("…".into());
    }
    shown.join(", ")
}

enum Miss {
    NotFound,
    Several(Vec<usize>, Looseness),
}

impl Miss {
    fn message(&self, name: &str, cursor: usize) -> String {
        match self {
            Miss::NotFound => format!(
                "{name}: its context and removed lines were not found in the file{}, not even \
                 ignoring whitespace; read the file again and copy those lines exactly",
                after_line(cursor)
            ),
            Miss::Several(starts, looseness) => format!(
                "{name}: its context and removed lines match {} places{}{} (starting on lines \
                 {}); add context lines or an `@@` header line to say which",
                starts.len(),
                after_line(cursor),
                match looseness {
                    Looseness::Exact => "",
                    _ => " when whitespace is ignored",
                },
                numbered(starts)
            ),
        }
    }
}

/// Where `old` starts in `file` at or after `from`, at the strictest level that finds it.
fn find(
    file: &Lines,
    old: &[&str],
    from: usize,
    end_of_file: bool,
    has_header: bool,
) -> Result<(usize, Looseness), Miss> {
    let total = file.lines.len();
    if old.len() > total {
        return Err(Miss::NotFound);
    }
    for looseness in [
        Looseness::Exact,
        Looseness::TrailingWhitespace,
        Looseness::Whitespace,
    ] {
        let same = |a: &str, b: &str| match looseness {
            Looseness::Exact => a == b,
            Looseness::TrailingWhitespace => a.trim_end() == b.trim_end(),
            Looseness::Whitespace => a.trim() == b.trim(),
        };
        let mut starts: Vec<usize> = (from..=total - old.len())
            .filter(|&start| {
                old.iter()
                    .enumerate()
                    .all(|(offset, line)| same(&file.lines[start + offset].0, line))
            })
            .collect();
        if end_of_file {
            starts.retain(|&start| start + old.len() == total);
        }
        match starts.as_slice() {
            [] => continue,
            [start] => return Ok((*start, looseness)),
            // The header says where the hunk belongs: the first place after it.
            [start, ..] if has_header => return Ok((*start, looseness)),
            _ => return Err(Miss::Several(starts, looseness)),
        }
    }
    Err(Miss::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply_patch::parse::{Operation, parse};
    use pretty_assertions::assert_eq;

    fn hunks(body: &str) -> Vec<Hunk> {
        let patch = parse(&format!(
            "*** Begin Patch\n*** Update File: f\n{body}*** End Patch\n"
        ))
        .unwrap();
        match patch.operations.into_iter().next() {
            Some(Operation::Update { hunks, .. }) => hunks,
            other => panic!("{other:?}"),
        }
    }

    fn run(text: &str, body: &str) -> Result<(String, Applied), String> {
        let mut lines = Lines::split(text);
        let applied = apply(&mut lines, &hunks(body), "f")?;
        Ok((lines.join(), applied))
    }

    #[test]
    fn hunks_apply_in_order_and_count_lines() {
        let (text, applied) = run("a\nb\nc\nd\ne\n", "@@\n a\n-b\n+B\n@@\n d\n+d2\n").unwrap();
        assert_eq!(text, "a\nB\nc\nd\nd2\ne\n");
        assert_eq!((applied.added, applied.removed), (2, 1));
        assert!(applied.loose.is_empty());
    }

    #[test]
    fn crlf_files_keep_crlf_and_new_lines_get_it() {
        let (text, _) = run("a\r\nb\r\n", "@@\n a\n+x\n").unwrap();
        assert_eq!(text, "a\r\nx\r\nb\r\n");
    }

    #[test]
    fn ambiguous_context_is_refused_unless_a_header_tells() {
        let text = "fn a() {\n    x += 1;\n}\nfn b() {\n    x += 1;\n}\n";
        let error = run(text, "@@\n-    x += 1;\n+    x += 2;\n").unwrap_err();
        assert!(error.contains("match 2 places"), "{error}");
        assert!(error.contains("lines 2, 5"), "{error}");
        let (patched, _) = run(text, "@@ fn b() {\n-    x += 1;\n+    x += 2;\n").unwrap();
        assert_eq!(
            patched,
            "fn a() {\n    x += 1;\n}\nfn b() {\n    x += 2;\n}\n"
        );
    }

    #[test]
    fn indentation_is_ignored_as_a_last_resort_and_kept_from_the_file() {
        let text = "impl A {\n        fn f() {\n            old();\n        }\n}\n";
        let (patched, applied) = run(
            text,
            "@@\n fn f() {\n-    old();\n+    new();\n+    more();\n",
        )
        .unwrap();
        assert_eq!(
            patched,
            "impl A {\n        fn f() {\n            new();\n            more();\n        }\n}\n"
        );
        assert_eq!(applied.loose, vec![(1, Looseness::Whitespace)]);
    }

    #[test]
    fn end_of_file_hunks_match_only_at_the_end() {
        let text = "x\ny\nx\n";
        let (patched, _) = run(text, "@@\n x\n+z\n*** End of File\n").unwrap();
        assert_eq!(patched, "x\ny\nx\nz\n");
    }

    #[test]
    fn additions_without_context_go_to_the_end() {
        let (patched, _) = run("a\nb", "@@\n+c\n").unwrap();
        assert_eq!(patched, "a\nb\nc\n");
    }

    #[test]
    fn missing_context_and_headers_are_explained() {
        let error = run("a\nb\n", "@@\n-zzz\n+y\n").unwrap_err();
        assert!(error.contains("not found in the file"), "{error}");
        assert!(error.contains("patch line 3"), "{error}");
        let error = run("a\nb\n", "@@ fn nowhere()\n-a\n+y\n").unwrap_err();
        assert!(
            error.contains("`@@ fn nowhere()` is not in the file"),
            "{error}"
        );
    }
}
