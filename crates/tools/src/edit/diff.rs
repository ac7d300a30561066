//! The short unified diff an edit answers with, so the model sees the result without reading
//! the file again.

use super::closest::LineIndex;
use crate::output::clip_line;

const CONTEXT_LINES: usize = 2;
const MAX_HUNKS: usize = 3;
/// Removed or added lines shown per hunk, each.
const MAX_SIDE_LINES: usize = 40;
const MAX_LINE_CHARS: usize = 300;

/// Hunks for the first few replacements: `matches` are byte offsets in `before` where an
/// `old_len`-byte text was replaced by a `new_len`-byte one to give `after`. Removed lines
/// carry their old line numbers; added and context lines their new ones.
pub(crate) fn snippet(
    before: &str,
    after: &str,
    matches: &[usize],
    old_len: usize,
    new_len: usize,
) -> String {
    let before_index = LineIndex::new(before);
    let after_index = LineIndex::new(after);
    let after_lines: Vec<&str> = after.lines().collect();
    let mut out = String::new();
    for (count, &at) in matches.iter().enumerate().take(MAX_HUNKS) {
        // Every earlier replacement shifted this one by the length difference.
        let shifted = (at + count * new_len).saturating_sub(count * old_len);
        let (old_start, old_block) = region(before, &before_index, at, old_len);
        let (new_start, new_block) = region(after, &after_index, shifted, new_len);
        let old_lines: Vec<&str> = old_block.lines().collect();
        let new_lines: Vec<&str> = new_block.lines().collect();
        let common_head = old_lines
            .iter()
            .zip(&new_lines)
            .take_while(|(a, b)| a == b)
            .count();
        let common_tail = old_lines[common_head..]
            .iter()
            .rev()
            .zip(new_lines[common_head..].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let removed = &old_lines[common_head..old_lines.len() - common_tail];
        let added = &new_lines[common_head..new_lines.len() - common_tail];
        let old_first = old_start + common_head;
        let new_first = new_start + common_head;
        out.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            old_first + 1,
            removed.len(),
            new_first + 1,
            added.len()
        ));
        for number in new_first.saturating_sub(CONTEXT_LINES)..new_first {
            push_line(&mut out, ' ', number, after_lines.get(number));
        }
        push_side(&mut out, '-', old_first, removed);
        push_side(&mut out, '+', new_first, added);
        let context_end = (new_first + added.len() + CONTEXT_LINES).min(after_lines.len());
        for number in new_first + added.len()..context_end {
            push_line(&mut out, ' ', number, after_lines.get(number));
        }
    }
    if matches.len() > MAX_HUNKS {
        out.push_str(&format!(
            "… and {} more replacements, not shown\n",
            matches.len() - MAX_HUNKS
        ));
    }
    out
}

/// The whole lines holding `text[at..at + len]`: the 0-based first line and the text. A range
/// ending at a line start ends there; an empty range at a line start is empty.
fn region<'a>(text: &'a str, index: &LineIndex, at: usize, len: usize) -> (usize, &'a str) {
    let first = index.line_of(at.min(text.len()));
    let start = index.start_of(first, text.len());
    let end = at + len;
    let at_line_start = end >= text.len() || index.start_of(index.line_of(end), text.len()) == end;
    let end = if at_line_start && (len > 0 || at == start) {
        end.min(text.len())
    } else {
        index.start_of(index.line_of(end) + 1, text.len())
    };
    (first, &text[start..end.max(start)])
}

fn push_side(out: &mut String, sign: char, first: usize, lines: &[&str]) {
    for (offset, line) in lines.iter().take(MAX_SIDE_LINES).enumerate() {
        push_line(out, sign, first + offset, Some(line));
    }
    if lines.len() > MAX_SIDE_LINES {
        out.push_str(&format!(
            "{sign}     …\t({} more lines)\n",
            lines.len() - MAX_SIDE_LINES
        ));
    }
}

fn push_line(out: &mut String, sign: char, index: usize, line: Option<&&str>) {
    if let Some(line) = line {
        let line = line.strip_suffix('\r').unwrap_or(line);
        out.push_str(&format!(
            "{sign}{:>5}\t{}\n",
            index + 1,
            clip_line(line, MAX_LINE_CHARS)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn diff(before: &str, old: &str, new: &str, all: bool) -> String {
        let matches: Vec<usize> = before.match_indices(old).map(|(at, _)| at).collect();
        let matches = if all { matches } else { matches[..1].to_vec() };
        let after = if all {
            before.replace(old, new)
        } else {
            before.replacen(old, new, 1)
        };
        snippet(before, &after, &matches, old.len(), new.len())
    }

    #[test]
    fn a_changed_line_is_shown_with_context() {
        let before = "a\nb\nc\nd\ne\nf\ng\n";
        assert_eq!(
            diff(before, "d", "D1\nD2", false),
            "@@ -4,1 +4,2 @@\n     2\tb\n     3\tc\n-    4\td\n+    4\tD1\n+    5\tD2\n     6\te\n     7\tf\n"
        );
    }

    #[test]
    fn common_lines_inside_old_string_become_context() {
        let before = "fn a() {\n    1\n}\n";
        assert_eq!(
            diff(before, "fn a() {\n    1\n}", "fn a() {\n    2\n}", false),
            "@@ -2,1 +2,1 @@\n     1\tfn a() {\n-    2\t    1\n+    2\t    2\n     3\t}\n"
        );
    }

    #[test]
    fn deleted_whole_lines_show_no_added_side() {
        let before = "keep\ndrop\nalso\n";
        assert_eq!(
            diff(before, "drop\n", "", false),
            "@@ -2,1 +2,0 @@\n     1\tkeep\n-    2\tdrop\n     2\talso\n"
        );
    }

    #[test]
    fn later_replacements_are_numbered_in_the_new_file() {
        let before = "x\nkeep\nx\n";
        let out = diff(before, "x", "y\nz", true);
        assert!(out.contains("-    3\tx\n+    4\ty\n+    5\tz\n"), "{out}");
    }
}
