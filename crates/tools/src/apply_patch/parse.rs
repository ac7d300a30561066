//! The patch grammar OpenAI models are trained on (Codex's `apply_patch`):
//!
//! ```text
//! Patch      := "*** Begin Patch" NL { FileOp } "*** End Patch" [NL]
//! FileOp     := AddFile | DeleteFile | UpdateFile
//! AddFile    := "*** Add File: " path NL { "+" text NL }
//! DeleteFile := "*** Delete File: " path NL
//! UpdateFile := "*** Update File: " path NL [ "*** Move to: " path NL ] { Hunk }
//! Hunk       := ( "@@" | "@@ " header ) NL { (" " | "-" | "+") text NL } [ "*** End of File" NL ]
//! ```
//!
//! The first hunk of a file may leave out its `@@` line. One leniency, as in Codex: an empty
//! line inside a hunk is an empty context line (editors and models drop the lone space);
//! empty lines ending a hunk are dropped. Everything else off the grammar is an error naming
//! the patch line and what was expected there.

/// A parsed patch: file operations in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Patch {
    pub operations: Vec<Operation>,
}

/// One file section; `line` is the 1-based patch line of its `***` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Add {
        path: String,
        line: usize,
        lines: Vec<String>,
    },
    Delete {
        path: String,
        line: usize,
    },
    Update {
        path: String,
        line: usize,
        move_to: Option<String>,
        hunks: Vec<Hunk>,
    },
}

impl Operation {
    pub(crate) fn path(&self) -> &str {
        match self {
            Operation::Add { path, .. }
            | Operation::Delete { path, .. }
            | Operation::Update { path, .. } => path,
        }
    }
}

/// A change located by its context lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hunk {
    /// 1-based patch line of its `@@` (or first) line.
    pub line: usize,
    /// The text after `@@ `: a line the hunk comes after, to tell similar places apart.
    pub header: Option<String>,
    pub lines: Vec<HunkLine>,
    /// Marked `*** End of File`: the hunk's old lines end the file.
    pub end_of_file: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HunkLine {
    Context(String),
    Remove(String),
    Add(String),
}

impl Hunk {
    /// The lines the hunk expects in the file (context and removed), in order.
    pub(crate) fn old_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                HunkLine::Context(text) | HunkLine::Remove(text) => Some(text.as_str()),
                HunkLine::Add(_) => None,
            })
            .collect()
    }
}

/// Why a patch does not parse: the 1-based patch line and the problem there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File: ";
const DELETE: &str = "*** Delete File: ";
const UPDATE: &str = "*** Update File: ";
const MOVE: &str = "*** Move to: ";
const END_OF_FILE: &str = "*** End of File";

/// Parses `text` (line ends `\n` or `\r\n`).
pub(crate) fn parse(text: &str) -> Result<Patch, ParseError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    // Blank lines around the envelope are not part of it.
    let first = lines
        .iter()
        .position(|line| !line.trim().is_empty())
        .ok_or_else(|| ParseError {
            line: 1,
            message: format!("the patch is empty; it must start with `{BEGIN}`"),
        })?;
    let last = lines
        .iter()
        .rposition(|line| !line.trim().is_empty())
        .unwrap_or(first);
    if lines[first].trim() != BEGIN {
        return Err(ParseError {
            line: first + 1,
            message: format!(
                "expected `{BEGIN}` as the first line, found {}",
                shown(lines[first])
            ),
        });
    }
    if lines[last].trim() != END || last == first {
        return Err(ParseError {
            line: last + 1,
            message: format!(
                "expected `{END}` as the last line, found {}",
                shown(lines[last])
            ),
        });
    }
    let mut parser = Parser {
        lines: &lines,
        at: first + 1,
        end: last,
    };
    let mut operations = Vec::new();
    while parser.at < parser.end {
        operations.push(parser.operation()?);
    }
    if operations.is_empty() {
        return Err(ParseError {
            line: last + 1,
            message: format!(
                "the patch has no file sections; put `{ADD}`, `{UPDATE}` or `{DELETE}` \
                 sections between `{BEGIN}` and `{END}`"
            ),
        });
    }
    Ok(Patch { operations })
}

fn shown(line: &str) -> String {
    if line.trim().is_empty() {
        "an empty line".to_string()
    } else {
        let clipped: String = line.chars().take(80).collect();
        let more = if clipped.len() < line.len() {
            "…"
        } else {
            ""
        };
        format!("`{clipped}{more}`")
    }
}

struct Parser<'a> {
    lines: &'a [&'a str],
    /// The next line (0-based).
    at: usize,
    /// The `*** End Patch` line (0-based).
    end: usize,
}

impl Parser<'_> {
    fn error(&self, line: usize, message: String) -> ParseError {
        ParseError {
            line: line + 1,
            message,
        }
    }

    /// Whether line `index` starts another section (or ends the patch).
    fn is_section_start(&self, index: usize) -> bool {
        index >= self.end || self.lines[index].starts_with("*** ")
    }

    fn path_after(&self, index: usize, prefix: &str) -> Result<String, ParseError> {
        let path = self.lines[index][prefix.len()..].trim();
        if path.is_empty() {
            return Err(self.error(
                index,
                format!("`{}` has no path after it", prefix.trim_end()),
            ));
        }
        Ok(path.to_string())
    }

    fn operation(&mut self) -> Result<Operation, ParseError> {
        let index = self.at;
        let line = self.lines[index];
        self.at += 1;
        if line.starts_with(ADD) {
            let path = self.path_after(index, ADD)?;
            let mut content = Vec::new();
            while !self.is_section_start(self.at) {
                let text = self.lines[self.at];
                match text.strip_prefix('+') {
                    Some(rest) => content.push(rest.to_string()),
                    None => {
                        return Err(self.error(
                            self.at,
                            format!(
                                "in `{ADD}{path}` every line of the new file starts with `+` \
                                 (an empty line is a lone `+`), found {}",
                                shown(text)
                            ),
                        ));
                    }
                }
                self.at += 1;
            }
            Ok(Operation::Add {
                path,
                line: index + 1,
                lines: content,
            })
        } else if line.starts_with(DELETE) {
            let path = self.path_after(index, DELETE)?;
            if !self.is_section_start(self.at) && !self.lines[self.at].trim().is_empty() {
                return Err(self.error(
                    self.at,
                    format!(
                        "nothing may follow `{DELETE}{path}` but the next `*** ` section, found {}",
                        shown(self.lines[self.at])
                    ),
                ));
            }
            while !self.is_section_start(self.at) {
                self.at += 1;
            }
            Ok(Operation::Delete {
                path,
                line: index + 1,
            })
        } else if line.starts_with(UPDATE) {
            let path = self.path_after(index, UPDATE)?;
            let mut move_to = None;
            if self.at < self.end && self.lines[self.at].starts_with(MOVE) {
                move_to = Some(self.path_after(self.at, MOVE)?);
                self.at += 1;
            }
            let hunks = self.hunks(&path)?;
            if hunks.is_empty() && move_to.is_none() {
                return Err(self.error(
                    index,
                    format!(
                        "`{UPDATE}{path}` has no hunks; add `@@` hunks with ` `, `-` and `+` \
                         lines, or drop the section"
                    ),
                ));
            }
            Ok(Operation::Update {
                path,
                line: index + 1,
                move_to,
                hunks,
            })
        } else {
            Err(self.error(
                index,
                format!(
                    "expected `{ADD}<path>`, `{UPDATE}<path>`, `{DELETE}<path>` or `{END}`, \
                     found {}",
                    shown(line)
                ),
            ))
        }
    }

    fn hunks(&mut self, path: &str) -> Result<Vec<Hunk>, ParseError> {
        let mut hunks: Vec<Hunk> = Vec::new();
        let mut current: Option<Hunk> = None;
        let finish = |hunk: Option<Hunk>, hunks: &mut Vec<Hunk>, parser: &Parser<'_>| {
            let Some(mut hunk) = hunk else {
                return Ok(());
            };
            while hunk.lines.last() == Some(&HunkLine::Context(String::new())) {
                hunk.lines.pop();
            }
            if hunk.lines.is_empty() {
                return Err(parser.error(
                    hunk.line - 1,
                    format!(
                        "this hunk of `{path}` has no ` `, `-` or `+` lines; give the change or \
                         drop the `@@` line"
                    ),
                ));
            }
            hunks.push(hunk);
            Ok(())
        };
        while self.at < self.end {
            let index = self.at;
            let line = self.lines[index];
            if line == END_OF_FILE {
                let Some(mut hunk) = current.take() else {
                    return Err(self.error(
                        index,
                        format!("`{END_OF_FILE}` must end a hunk; it has no hunk before it"),
                    ));
                };
                hunk.end_of_file = true;
                finish(Some(hunk), &mut hunks, self)?;
                self.at += 1;
                continue;
            }
            if line.starts_with("*** ") {
                break;
            }
            if let Some(rest) = line.strip_prefix("@@") {
                finish(current.take(), &mut hunks, self)?;
                let header = rest.strip_prefix(' ').unwrap_or(rest);
                let header = header.trim_end();
                let header = if header.is_empty() || header == "@@" {
                    None
                } else {
                    Some(header.to_string())
                };
                current = Some(Hunk {
                    line: index + 1,
                    header,
                    lines: Vec::new(),
                    end_of_file: false,
                });
                self.at += 1;
                continue;
            }
            let parsed = if line.is_empty() {
                HunkLine::Context(String::new())
            } else if let Some(rest) = line.strip_prefix(' ') {
                HunkLine::Context(rest.to_string())
            } else if let Some(rest) = line.strip_prefix('-') {
                HunkLine::Remove(rest.to_string())
            } else if let Some(rest) = line.strip_prefix('+') {
                HunkLine::Add(rest.to_string())
            } else {
                return Err(self.error(
                    index,
                    format!(
                        "in `{UPDATE}{path}` expected a hunk line starting with ` ` (context), \
                         `-` (remove) or `+` (add), an `@@` line, or the next `*** ` section; \
                         found {}",
                        shown(line)
                    ),
                ));
            };
            match &mut current {
                Some(hunk) => hunk.lines.push(parsed),
                None if hunks.is_empty() => {
                    current = Some(Hunk {
                        line: index + 1,
                        header: None,
                        lines: vec![parsed],
                        end_of_file: false,
                    });
                }
                None => {
                    return Err(self.error(
                        index,
                        format!(
                            "a hunk after `{END_OF_FILE}` needs its own `@@` line, found {}",
                            shown(line)
                        ),
                    ));
                }
            }
            self.at += 1;
        }
        finish(current.take(), &mut hunks, self)?;
        Ok(hunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn every_section_kind_parses() {
        let patch = parse(
            "*** Begin Patch\n\
             *** Add File: hello.txt\n\
             +Hello\n\
             +\n\
             *** Update File: src/app.py\n\
             *** Move to: src/main.py\n\
             @@ def greet():\n\
             -print(\"Hi\")\n\
             +print(\"Hello\")\n\
             \n\
             @@\n\
             \x20tail\n\
             +end\n\
             *** End of File\n\
             *** Delete File: old.txt\n\
             *** End Patch\n",
        )
        .unwrap();
        assert_eq!(
            patch.operations,
            vec![
                Operation::Add {
                    path: "hello.txt".into(),
                    line: 2,
                    lines: vec!["Hello".into(), String::new()],
                },
                Operation::Update {
                    path: "src/app.py".into(),
                    line: 5,
                    move_to: Some("src/main.py".into()),
                    hunks: vec![
                        Hunk {
                            line: 7,
                            header: Some("def greet():".into()),
                            lines: vec![
                                HunkLine::Remove("print(\"Hi\")".into()),
                                HunkLine::Add("print(\"Hello\")".into()),
                            ],
                            end_of_file: false,
                        },
                        Hunk {
                            line: 11,
                            header: None,
                            lines: vec![
                                HunkLine::Context("tail".into()),
                                HunkLine::Add("end".into()),
                            ],
                            end_of_file: true,
                        },
                    ],
                },
                Operation::Delete {
                    path: "old.txt".into(),
                    line: 15,
                },
            ]
        );
    }

    #[test]
    fn the_first_hunk_may_leave_out_its_at_line() {
        let patch =
            parse("*** Begin Patch\r\n*** Update File: a\r\n x\r\n-y\r\n*** End Patch").unwrap();
        let Operation::Update { hunks, .. } = &patch.operations[0] else {
            panic!("not an update");
        };
        assert_eq!(hunks[0].old_lines(), ["x", "y"]);
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn grammar_errors_name_the_line_and_what_was_expected() {
        assert_eq!(
            error("--- a/x\n+++ b/x\n"),
            "line 1: expected `*** Begin Patch` as the first line, found `--- a/x`"
        );
        assert_eq!(
            error("*** Begin Patch\n*** Add File: a\n+x\n"),
            "line 3: expected `*** End Patch` as the last line, found `+x`"
        );
        assert_eq!(
            error("*** Begin Patch\n*** Add File: a\nx\n*** End Patch"),
            "line 3: in `*** Add File: a` every line of the new file starts with `+` (an empty \
             line is a lone `+`), found `x`"
        );
        assert!(
            error("*** Begin Patch\n*** Update File: a\n@@\n*x\n*** End Patch")
                .starts_with("line 4: in `*** Update File: a` expected a hunk line")
        );
        assert!(
            error("*** Begin Patch\n*** Modify File: a\n*** End Patch")
                .starts_with("line 2: expected `*** Add File: <path>`")
        );
        assert!(
            error("*** Begin Patch\n*** Update File: a\n*** End Patch")
                .starts_with("line 2: `*** Update File: a` has no hunks")
        );
        assert!(
            error("*** Begin Patch\n*** Update File: a\n@@ fn x\n@@\n-y\n*** End Patch")
                .starts_with("line 3: this hunk of `a` has no")
        );
        assert_eq!(
            error("*** Begin Patch\n*** Delete File:  \n*** End Patch"),
            "line 2: `*** Delete File:` has no path after it"
        );
        assert_eq!(
            error("*** Begin Patch\n*** End Patch"),
            "line 2: the patch has no file sections; put `*** Add File: `, `*** Update File: ` \
             or `*** Delete File: ` sections between `*** Begin Patch` and `*** End Patch`"
        );
        assert!(error("").starts_with("line 1: the patch is empty"));
    }
}
