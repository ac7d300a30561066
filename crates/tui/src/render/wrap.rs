//! Wrapping styled text to the view's width. The view wraps itself, rather than leaving it to
//! ratatui's `Paragraph`, so it knows how many rows each entry takes and can scroll by rows.

use ratatui::style::Style;
use ratatui::text::Span;
use unicode_width::UnicodeWidthChar;
use unicode_width::UnicodeWidthStr;

/// A row of styled pieces.
pub type Row = Vec<Span<'static>>;

/// Breaks a line of styled pieces into rows of at most `width` columns: at spaces when
/// `words`, else anywhere (code, tool output). A word longer than a row is cut.
pub fn wrap(pieces: &[Span<'static>], width: usize, words: bool) -> Vec<Row> {
    let width = width.max(1);
    let mut rows = vec![Vec::new()];
    let mut used = 0;
    for piece in pieces {
        for token in tokens(&piece.content, words) {
            let blank = token.chars().all(char::is_whitespace);
            let token_width = token.width();
            if used + token_width <= width {
                push(&mut rows, token, piece.style);
                used += token_width;
                continue;
            }
            if blank && words {
                // The break replaces the space.
                break_row(&mut rows);
                used = 0;
                continue;
            }
            if words && used > 0 && token_width <= width {
                break_row(&mut rows);
                used = 0;
                push(&mut rows, token, piece.style);
                used += token_width;
                continue;
            }
            // Cut the token wherever the row ends.
            for c in token.chars() {
                let w = c.width().unwrap_or(0);
                if used + w > width && used > 0 {
                    rows.push(Vec::new());
                    used = 0;
                }
                let mut buffer = [0; 4];
                push(&mut rows, c.encode_utf8(&mut buffer), piece.style);
                used += w;
            }
        }
    }
    rows
}

/// Words and runs of spaces, or the whole text when not wrapping at words.
fn tokens(text: &str, words: bool) -> Vec<&str> {
    if !words {
        return vec![text];
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut previous_blank = None;
    for (index, c) in text.char_indices() {
        let blank = c.is_whitespace();
        if previous_blank.is_some_and(|was| was != blank) {
            out.push(&text[start..index]);
            start = index;
        }
        previous_blank = Some(blank);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Starts a new row after a break at a space: the space it ended on is not kept.
fn break_row(rows: &mut Vec<Row>) {
    if let Some(row) = rows.last_mut() {
        while let Some(last) = row.last_mut() {
            let kept = last.content.trim_end().len();
            last.content.to_mut().truncate(kept);
            if !last.content.is_empty() {
                break;
            }
            row.pop();
        }
    }
    rows.push(Vec::new());
}

/// Appends text to the last row, joining it to the last piece when the style is the same.
fn push(rows: &mut [Row], text: &str, style: Style) {
    let Some(row) = rows.last_mut() else {
        return;
    };
    match row.last_mut() {
        Some(last) if last.style == style => last.content.to_mut().push_str(text),
        _ => row.push(Span::styled(text.to_owned(), style)),
    }
}

/// The columns a row takes.
pub fn row_width(row: &[Span<'_>]) -> usize {
    row.iter().map(|span| span.content.width()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|row| row.iter().map(|span| span.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        let pieces = [Span::raw("the quick "), Span::raw("brown fox jumps over")];
        assert_eq!(
            texts(&wrap(&pieces, 10, true)),
            ["the quick", "brown fox", "jumps over"]
        );
        assert_eq!(
            texts(&wrap(&[Span::raw("abcdefghijkl xy")], 5, true)),
            ["abcde", "fghij", "kl xy"]
        );
    }

    #[test]
    fn code_is_cut_anywhere_and_wide_characters_count_double() {
        assert_eq!(
            texts(&wrap(&[Span::raw("let x = 1;")], 4, false)),
            ["let ", "x = ", "1;"]
        );
        assert_eq!(
            texts(&wrap(&[Span::raw("日本語")], 4, false)),
            ["日本", "語"]
        );
    }
}
