//! Where old_string is when it is not in the file exactly: first ignoring indentation and
//! trailing whitespace line by line, then anchored on its first and last lines. A fallback is
//! used only when it finds exactly one place, so a loose match never edits the wrong code.

use super::closest::line_similarity;

/// Inner lines of an anchored match must be at least this similar to old_string's.
const MIN_ANCHORED_SIMILARITY: f64 = 0.85;
/// An anchored window may have at most this many times old_string's lines (plus two).
const ANCHORED_STRETCH: usize = 2;

/// How a fallback matched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fallback {
    /// Line by line, ignoring indentation and trailing whitespace; `reindented` when
    /// new_string was shifted to the file's indentation.
    Whitespace { reindented: bool },
    /// By the first and last lines; the lines between were this similar.
    Anchored { similarity: f64, reindented: bool },
}

impl Fallback {
    /// Says in a result how the text was found.
    pub(crate) fn describe(&self) -> String {
        let reindented = |yes: bool| {
            if yes {
                "; new_string was re-indented to the file's indentation"
            } else {
                ""
            }
        };
        match self {
            Fallback::Whitespace { reindented: yes } => format!(
                "old_string was not found exactly; it matched one place when ignoring \
                 indentation and trailing whitespace{}",
                reindented(*yes)
            ),
            Fallback::Anchored {
                similarity,
                reindented: yes,
            } => format!(
                "old_string was not found exactly; it matched one place by its first and last \
                 lines (the lines between were {:.0}% similar){}; check the diff",
                similarity * 100.0,
                reindented(*yes)
            ),
        }
    }
}

/// One place found by a fallback: the byte range replaced and its replacement.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Located {
    pub start: usize,
    pub end: usize,
    pub new: String,
    pub fallback: Fallback,
}

/// What the fallbacks found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Fuzzy {
    One(Located),
    /// Ignoring whitespace, old_string fits several places (0-based first lines).
    Several(Vec<usize>),
    None,
}

/// A line of the file: where it starts, where its content ends (before `\r\n` or `\n`) and
/// where the next line starts.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    content_end: usize,
    next: usize,
}

fn spans(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        let next = start + piece.len();
        let content = piece.strip_suffix('\n').unwrap_or(piece);
        let content = content.strip_suffix('\r').unwrap_or(content);
        spans.push(Span {
            start,
            content_end: start + content.len(),
            next,
        });
        start = next;
    }
    spans
}

/// Tries the fallbacks for `old` (with `\n` line ends) in `text`.
pub(crate) fn locate(text: &str, old: &str, new: &str) -> Fuzzy {
    let (body, whole_lines) = match old.strip_suffix('\n') {
        Some(body) => (body, true),
        None => (old, false),
    };
    let old_lines: Vec<&str> = body.split('\n').collect();
    if old_lines.iter().all(|line| line.trim().is_empty()) {
        return Fuzzy::None;
    }
    let spans = spans(text);
    let file_lines: Vec<&str> = spans
        .iter()
        .map(|span| &text[span.start..span.content_end])
        .collect();
    let height = old_lines.len();
    if height > file_lines.len() {
        return Fuzzy::None;
    }
    let starts: Vec<usize> = (0..=file_lines.len() - height)
        .filter(|&start| {
            old_lines
                .iter()
                .enumerate()
                .all(|(offset, line)| file_lines[start + offset].trim() == line.trim())
        })
        .collect();
    let region = |first: usize, last: usize| {
        let end = if whole_lines {
            spans[last].next
        } else {
            spans[last].content_end
        };
        (spans[first].start, end)
    };
    match starts.as_slice() {
        [] => {}
        [start] => {
            let reindent = Reindent::new(
                old_lines.iter().copied(),
                file_lines[*start..].iter().copied(),
            );
            let (start_byte, end_byte) = region(*start, start + height - 1);
            return Fuzzy::One(Located {
                start: start_byte,
                end: end_byte,
                new: reindent.text(new),
                fallback: Fallback::Whitespace {
                    reindented: !reindent.is_identity(),
                },
            });
        }
        _ => return Fuzzy::Several(starts),
    }
    if height < 3 {
        return Fuzzy::None;
    }
    let first = old_lines[0].trim();
    let last = old_lines[height - 1].trim();
    if first.is_empty() || last.is_empty() {
        return Fuzzy::None;
    }
    let old_inner: Vec<&str> = old_lines[1..height - 1].to_vec();
    let mut found: Vec<(usize, usize, f64)> = Vec::new();
    for start in 0..file_lines.len() {
        if file_lines[start].trim() != first {
            continue;
        }
        let longest = (height * ANCHORED_STRETCH + 2).min(file_lines.len() - start);
        let best = (3..=longest)
            .filter(|lines| file_lines[start + lines - 1].trim() == last)
            .map(|lines| {
                let inner = &file_lines[start + 1..start + lines - 1];
                (lines, inner_similarity(inner, &old_inner))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((lines, similarity)) = best
            && similarity >= MIN_ANCHORED_SIMILARITY
        {
            found.push((start, lines, similarity));
        }
    }
    match found.as_slice() {
        [(start, lines, similarity)] => {
            // Only the anchors are known to correspond.
            let reindent = Reindent::new(
                [old_lines[0], old_lines[height - 1]],
                [file_lines[*start], file_lines[start + lines - 1]],
            );
            let (start_byte, end_byte) = region(*start, start + lines - 1);
            Fuzzy::One(Located {
                start: start_byte,
                end: end_byte,
                new: reindent.text(new),
                fallback: Fallback::Anchored {
                    similarity: *similarity,
                    reindented: !reindent.is_identity(),
                },
            })
        }
        _ => Fuzzy::None,
    }
}

/// Mean line similarity when the counts agree, else how many whole lines differ.
fn inner_similarity(file: &[&str], old: &[&str]) -> f64 {
    if file.len() == old.len() {
        if old.is_empty() {
            return 1.0;
        }
        let total: f64 = file
            .iter()
            .zip(old)
            .map(|(a, b)| line_similarity(a, b))
            .sum();
        return total / old.len() as f64;
    }
    let file: Vec<&str> = file.iter().map(|line| line.trim()).collect();
    let old: Vec<&str> = old.iter().map(|line| line.trim()).collect();
    let distance = strsim::generic_levenshtein(&file, &old);
    1.0 - distance as f64 / file.len().max(old.len()) as f64
}

/// How to turn indentation written in old_string (or a hunk) into the file's: each
/// indentation seen on a matched line maps to the file's; other lines shift by the
/// difference on the first non-blank matched line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reindent {
    pairs: Vec<(String, String)>,
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

impl Reindent {
    /// From lines as written and the file lines they matched, pairwise.
    pub(crate) fn new<'a>(
        written: impl IntoIterator<Item = &'a str>,
        file: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (written, file) in written.into_iter().zip(file) {
            if written.trim().is_empty() {
                continue;
            }
            let (from, to) = (indent_of(written), indent_of(file));
            if !pairs.iter().any(|(seen, _)| seen == from) {
                pairs.push((from.to_string(), to.to_string()));
            }
        }
        Reindent { pairs }
    }

    /// Whether nothing changes.
    pub(crate) fn is_identity(&self) -> bool {
        self.pairs.iter().all(|(from, to)| from == to)
    }

    /// `text` re-indented line by line.
    pub(crate) fn text(&self, text: &str) -> String {
        if self.is_identity() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        for piece in text.split_inclusive('\n') {
            let (line, ending) = match piece.strip_suffix('\n') {
                Some(line) => (line, "\n"),
                None => (piece, ""),
            };
            out.push_str(&self.line(line));
            out.push_str(ending);
        }
        out
    }

    /// One line (without its line break) re-indented.
    pub(crate) fn line(&self, line: &str) -> String {
        if line.trim().is_empty() {
            return line.to_string();
        }
        let indent = indent_of(line);
        let rest = &line[indent.len()..];
        if let Some((_, to)) = self.pairs.iter().find(|(from, _)| from == indent) {
            return format!("{to}{rest}");
        }
        let Some((from, to)) = self.pairs.first() else {
            return line.to_string();
        };
        if let Some(tail) = indent.strip_prefix(from.as_str()) {
            return format!("{to}{tail}{rest}");
        }
        if let Some(extra) = to.strip_prefix(from.as_str()) {
            return format!("{extra}{line}");
        }
        if from.starts_with(to.as_str()) {
            let remove = (from.len() - to.len()).min(indent.len());
            return line[remove..].to_string();
        }
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
impl Parser {
    fn parse(&mut self) {
        let token = self.next();   
        self.push(token);
    }
}
";

    fn apply(text: &str, located: &Located) -> String {
        format!(
            "{}{}{}",
            &text[..located.start],
            located.new,
            &text[located.end..]
        )
    }

    #[test]
    fn indentation_and_trailing_spaces_are_ignored_and_new_text_is_reindented() {
        let old = "fn parse(&mut self) {\n    let token = self.next();\n    self.push(token);\n";
        let new = "fn parse(&mut self) {\n    let token = self.next()?;\n    self.push(token);\n";
        let Fuzzy::One(located) = locate(FILE, old, new) else {
            panic!("no single match");
        };
        assert_eq!(located.fallback, Fallback::Whitespace { reindented: true });
        assert_eq!(
            apply(FILE, &located),
            "impl Parser {\n    fn parse(&mut self) {\n        let token = self.next()?;\n        \
             self.push(token);\n    }\n}\n"
        );
    }

    #[test]
    fn several_whitespace_matches_are_refused() {
        let text = "if a {\n    x += 1;\n}\nif b {\n  x += 1;\n}\n";
        assert_eq!(
            locate(text, "x += 1;", "x += 2;"),
            Fuzzy::Several(vec![1, 4])
        );
    }

    #[test]
    fn first_and_last_lines_anchor_a_block_with_slightly_different_inner_lines() {
        let old = "    fn parse(&mut self) {\n        let token = self.next_token();\n        \
                   self.push(token);\n    }";
        let new = "    fn parse(&mut self) {\n        self.push(self.next());\n    }";
        let Fuzzy::One(located) = locate(FILE, old, new) else {
            panic!("no single match");
        };
        assert!(
            matches!(located.fallback, Fallback::Anchored { similarity, reindented: false } if similarity > 0.8),
            "{:?}",
            located.fallback
        );
        assert_eq!(
            apply(FILE, &located),
            "impl Parser {\n    fn parse(&mut self) {\n        self.push(self.next());\n    }\n}\n"
        );
    }

    #[test]
    fn anchors_with_unrelated_inner_lines_do_not_match() {
        let old =
            "    fn parse(&mut self) {\n        unrelated_call_with_other_words(1, 2, 3);\n    }";
        assert_eq!(locate(FILE, old, "x"), Fuzzy::None);
    }

    #[test]
    fn two_anchored_places_are_not_guessed_between() {
        let text = "fn a() {\n    one(1);\n}\nfn a() {\n    one(2);\n}\n";
        assert_eq!(locate(text, "fn a() {\n    one(3);\n}", "x"), Fuzzy::None);
    }

    #[test]
    fn reindenting_maps_seen_indents_and_shifts_the_rest() {
        let shift = |from: &str, to: &str, text: &str| Reindent::new([from], [to]).text(text);
        assert_eq!(
            shift("a", "    a", "a\n  b\n\nc"),
            "    a\n      b\n\n    c"
        );
        assert_eq!(
            shift("    a", "  a", "    a\n      b\n  c"),
            "  a\n    b\nc"
        );
        let tabs = Reindent::new(["fn f() {", "\tx();"], ["fn f() {", "    x();"]);
        assert_eq!(
            tabs.text("fn f() {\n\ty();\n\t\tz();"),
            "fn f() {\n    y();\n\t\tz();"
        );
        assert!(Reindent::new(["  a"], ["  a"]).is_identity());
    }
}
