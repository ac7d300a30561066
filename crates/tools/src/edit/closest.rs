//! When old_string is not in the file: where the most similar text is, so the model can fix
//! its old_string instead of guessing.

use std::collections::HashMap;

use crate::output::{clip_line, thousands};

/// Windows scored line by line when the file is small enough (lines × window height).
const FULL_SCAN_PAIRS: usize = 20_000;
/// Windows scored at most in a large file, chosen by lines that match exactly.
const MAX_ANCHORED_WINDOWS: usize = 200;
/// Characters of a line compared; longer lines are compared by their start.
const MAX_COMPARED_CHARS: usize = 120;
/// Candidates below this similarity are not worth showing.
const MIN_SIMILARITY: f64 = 0.4;
const MAX_CANDIDATES: usize = 3;
/// Lines of one candidate shown.
const MAX_SHOWN_LINES: usize = 30;
const MAX_SHOWN_CHARS: usize = 200;

/// Byte offset → line, for a text.
#[derive(Debug)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|newline| newline + 1));
        LineIndex { starts }
    }

    /// The 0-based line holding byte `offset`.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset) - 1
    }

    /// The byte where 0-based `line` starts (the end of the text past the last line).
    pub(crate) fn start_of(&self, line: usize, text_len: usize) -> usize {
        self.starts.get(line).copied().unwrap_or(text_len)
    }
}

/// A window of the file that resembles old_string.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Candidate {
    /// 0-based first line.
    start: usize,
    lines: usize,
    similarity: f64,
}

/// The error for an old_string that is not in `text`.
pub(crate) fn not_found_message(display: &str, text: &str, old: &str) -> String {
    let mut message = format!("`old_string` was not found in `{display}`.");
    let file_lines: Vec<&str> = text.lines().collect();
    let old_lines: Vec<&str> = old.lines().collect();
    if has_line_number_prefixes(&old_lines) {
        message.push_str(
            " old_string seems to include the line-number prefixes that `read` shows (a \
             number and a tab before each line); they are not part of the file, so remove them.",
        );
    }
    let candidates = closest(&file_lines, &old_lines);
    let Some(best) = candidates.first() else {
        message.push_str(
            " No similar text is in the file; read the file again to see its current content \
             (it may have changed), then copy old_string from it exactly.",
        );
        return message;
    };
    let window = &file_lines[best.start..best.start + best.lines];
    if differs_only_in_whitespace(window, old) {
        message.push_str(&format!(
            " The only difference from {} is whitespace or indentation: copy the exact spaces, \
             tabs and line breaks from the file, shown below.",
            line_range(best)
        ));
    }
    message.push_str("\nThe most similar text in the file:");
    for candidate in &candidates {
        message.push_str(&format!(
            "\n{} ({:.0}% similar):\n",
            line_range(candidate),
            candidate.similarity * 100.0
        ));
        let shown = candidate.lines.min(MAX_SHOWN_LINES);
        for (offset, line) in file_lines[candidate.start..candidate.start + shown]
            .iter()
            .enumerate()
        {
            let number = candidate.start + offset + 1;
            message.push_str(&format!(
                "{number:>6}\t{}\n",
                clip_line(line, MAX_SHOWN_CHARS)
            ));
        }
        if candidate.lines > shown {
            message.push_str(&format!("   …\t({} more lines)\n", candidate.lines - shown));
        }
    }
    message.push_str(
        "Copy old_string exactly from the file (without the number and tab before each line), \
         or read the file again if it may have changed.",
    );
    message
}

fn line_range(candidate: &Candidate) -> String {
    if candidate.lines == 1 {
        format!("line {}", thousands(candidate.start as u64 + 1))
    } else {
        format!(
            "lines {}-{}",
            thousands(candidate.start as u64 + 1),
            thousands((candidate.start + candidate.lines) as u64)
        )
    }
}

/// Whether every non-empty line starts like `    12\t`.
fn has_line_number_prefixes(lines: &[&str]) -> bool {
    let mut non_empty = lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .peekable();
    non_empty.peek().is_some()
        && non_empty.all(|line| {
            let rest = line.trim_start_matches(' ');
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            digits > 0 && rest[digits..].starts_with(['\t', '→'])
        })
}

fn differs_only_in_whitespace(window: &[&str], old: &str) -> bool {
    let squeeze = |text: &str| -> String { text.chars().filter(|c| !c.is_whitespace()).collect() };
    let window = squeeze(&window.join("\n"));
    let old = squeeze(old);
    !old.is_empty() && (window == old || (window.len() > old.len() && window.contains(&old)))
}

/// The best windows of `file` (as many lines as `old`), most similar first, not overlapping.
fn closest(file: &[&str], old: &[&str]) -> Vec<Candidate> {
    let height = old.len().min(file.len());
    if height == 0 {
        return Vec::new();
    }
    let last_start = file.len() - height;
    let starts: Vec<usize> = if file.len() * height <= FULL_SCAN_PAIRS {
        (0..=last_start).collect()
    } else {
        anchored_starts(file, old, last_start)
    };
    let mut scored: Vec<Candidate> = starts
        .into_iter()
        .map(|start| {
            let total: f64 = (0..height)
                .map(|offset| line_similarity(file[start + offset], old[offset]))
                .sum();
            Candidate {
                start,
                lines: height,
                similarity: total / old.len() as f64,
            }
        })
        .filter(|candidate| candidate.similarity >= MIN_SIMILARITY)
        .collect();
    scored.sort_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then(a.start.cmp(&b.start))
    });
    let mut chosen: Vec<Candidate> = Vec::new();
    for candidate in scored {
        if chosen.len() == MAX_CANDIDATES {
            break;
        }
        let overlaps = chosen.iter().any(|other| {
            candidate.start < other.start + other.lines && other.start < candidate.start + height
        });
        let close_to_best = chosen
            .first()
            .is_none_or(|best| candidate.similarity >= best.similarity - 0.25);
        if !overlaps && close_to_best {
            chosen.push(candidate);
        }
    }
    chosen
}

/// Window starts in a large file where some line of `old` appears exactly (trimmed), most
/// votes first.
fn anchored_starts(file: &[&str], old: &[&str], last_start: usize) -> Vec<usize> {
    let mut offsets_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (offset, line) in old.iter().enumerate() {
        let trimmed = line.trim();
        // Lines like `}` or `` would anchor everywhere.
        if trimmed.len() > 2 {
            offsets_of.entry(trimmed).or_default().push(offset);
        }
    }
    let mut votes: HashMap<usize, usize> = HashMap::new();
    for (index, line) in file.iter().enumerate() {
        if let Some(offsets) = offsets_of.get(line.trim()) {
            for &offset in offsets {
                let start = index.saturating_sub(offset).min(last_start);
                *votes.entry(start).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(usize, usize)> = votes.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(MAX_ANCHORED_WINDOWS)
        .map(|(start, _)| start)
        .collect()
}

/// 1.0 for lines equal but for surrounding whitespace, else normalised edit similarity.
pub(crate) fn line_similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (a.trim(), b.trim());
    if a == b {
        return 1.0;
    }
    strsim::normalized_levenshtein(compared_prefix(a), compared_prefix(b))
}

fn compared_prefix(text: &str) -> &str {
    match text.char_indices().nth(MAX_COMPARED_CHARS) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
use std::io;

fn main() {
    let total = compute(1, 2);
    println!(\"{total}\");
}

fn compute(a: u32, b: u32) -> u32 {
    a + b
}
";

    #[test]
    fn line_index_maps_offsets_to_lines() {
        let index = LineIndex::new("ab\ncd\n\nef");
        assert_eq!(index.line_of(0), 0);
        assert_eq!(index.line_of(2), 0);
        assert_eq!(index.line_of(3), 1);
        assert_eq!(index.line_of(6), 2);
        assert_eq!(index.line_of(7), 3);
        assert_eq!(index.start_of(3, 9), 7);
        assert_eq!(index.start_of(9, 9), 9);
    }

    #[test]
    fn the_closest_window_is_shown_with_line_numbers() {
        let old = "fn main() {\n    let total = compute(1, 3);\n    println!(\"{total}\");";
        let message = not_found_message("src/main.rs", FILE, old);
        assert!(message.starts_with("`old_string` was not found in `src/main.rs`."));
        assert!(message.contains("lines 3-5 ("), "{message}");
        assert!(
            message.contains("     4\t    let total = compute(1, 2);"),
            "{message}"
        );
        assert!(!message.contains("whitespace"), "{message}");
    }

    #[test]
    fn whitespace_only_differences_are_called_out() {
        let old = "fn compute(a: u32, b: u32) -> u32 {\n  a + b\n}";
        let message = not_found_message("f.rs", FILE, old);
        assert!(
            message.contains("The only difference from lines 8-10 is whitespace"),
            "{message}"
        );
    }

    #[test]
    fn line_number_prefixes_are_recognised() {
        let old = "     4\t    let total = compute(1, 2);\n     5\t    println!(\"{total}\");";
        let message = not_found_message("f.rs", FILE, old);
        assert!(message.contains("line-number prefixes"), "{message}");
    }

    #[test]
    fn unrelated_text_finds_nothing() {
        let message = not_found_message("f.rs", FILE, "SELECT * FROM users WHERE id = 7;");
        assert!(
            message.contains("No similar text is in the file"),
            "{message}"
        );
    }

    #[test]
    fn large_files_are_searched_by_anchors() {
        let mut text = String::new();
        for number in 0..10_000 {
            text.push_str(&format!("let value_{number} = {number};\n"));
        }
        text.push_str("fn target() {\n    do_something(42);\n}\n");
        let old = "fn target() {\n    do_something(41);\n}";
        let message = not_found_message("big.rs", &text, old);
        assert!(message.contains("lines 10,001-10,003"), "{message}");
    }
}
