//! The multi-line prompt editor: text as lines of characters, a cursor, and the history of
//! sent prompts. Positions count characters, not bytes, so no edit can split a UTF-8 sequence.

/// The editor's text, cursor and history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Editor {
    lines: Vec<String>,
    /// Line of the cursor.
    row: usize,
    /// Character of the cursor within its line.
    column: usize,
    history: Vec<String>,
    /// The history entry shown, while browsing it.
    browsing: Option<usize>,
    /// What was being written before browsing began, given back when browsing past the end.
    draft: String,
}

/// The word the cursor is in or just after: a run of characters without whitespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// Its line.
    pub row: usize,
    /// Its first character, and the character after its last.
    pub start: usize,
    pub end: usize,
    /// The whole word.
    pub text: String,
    /// The word up to the cursor: what has been typed of it so far.
    pub typed: String,
}

impl Default for Editor {
    fn default() -> Self {
        Editor {
            lines: vec![String::new()],
            row: 0,
            column: 0,
            history: Vec::new(),
            browsing: None,
            draft: String::new(),
        }
    }
}

impl Editor {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The cursor as (line, character).
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.column)
    }

    pub fn is_empty(&self) -> bool {
        self.lines.len() == 1 && self.lines[0].is_empty()
    }

    /// Empties the editor and returns what it held, remembered in the history.
    pub fn take(&mut self) -> String {
        let text = self.text();
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        self.set_text("");
        self.browsing = None;
        text
    }

    /// Empties the editor without remembering it.
    pub fn clear(&mut self) {
        self.set_text("");
        self.browsing = None;
    }

    fn set_text(&mut self, text: &str) {
        self.lines = text.split('\n').map(str::to_owned).collect();
        self.row = self.lines.len() - 1;
        self.column = self.lines[self.row].chars().count();
    }

    fn byte_at(line: &str, column: usize) -> usize {
        line.char_indices()
            .nth(column)
            .map_or(line.len(), |(index, _)| index)
    }

    fn line_chars(&self) -> usize {
        self.lines[self.row].chars().count()
    }

    /// Types text at the cursor; a paste may hold newlines (and `\r\n`, which becomes `\n`).
    pub fn insert(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let line = &self.lines[self.row];
        let at = Self::byte_at(line, self.column);
        let tail = line[at..].to_owned();
        let head = line[..at].to_owned();
        let mut pieces = text.split('\n');
        let first = pieces.next().unwrap_or_default();
        let mut current = head + first;
        let mut new_lines = Vec::new();
        for piece in pieces {
            new_lines.push(std::mem::replace(&mut current, piece.to_owned()));
        }
        self.column = current.chars().count();
        current.push_str(&tail);
        new_lines.push(current);
        let added = new_lines.len() - 1;
        self.lines.splice(self.row..=self.row, new_lines);
        self.row += added;
    }

    /// The word at the cursor, if the cursor touches one.
    pub fn word_at_cursor(&self) -> Option<Word> {
        let chars: Vec<char> = self.lines[self.row].chars().collect();
        let column = self.column.min(chars.len());
        let start = chars[..column]
            .iter()
            .rposition(|c| c.is_whitespace())
            .map_or(0, |index| index + 1);
        let end = chars[column..]
            .iter()
            .position(|c| c.is_whitespace())
            .map_or(chars.len(), |index| column + index);
        if start == end {
            return None;
        }
        Some(Word {
            row: self.row,
            start,
            end,
            text: chars[start..end].iter().collect(),
            typed: chars[start..column].iter().collect(),
        })
    }

    /// Puts `text` (one line) in place of `word` and the cursor after it. A word that no
    /// longer matches the editor's text is left alone.
    pub fn replace(&mut self, word: &Word, text: &str) {
        let Some(line) = self.lines.get_mut(word.row) else {
            return;
        };
        let from = Self::byte_at(line, word.start);
        let to = Self::byte_at(line, word.end);
        if line.get(from..to) != Some(word.text.as_str()) {
            return;
        }
        let text: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
        line.replace_range(from..to, &text);
        self.row = word.row;
        self.column = word.start + text.chars().count();
    }

    pub fn newline(&mut self) {
        self.insert("\n");
    }

    pub fn backspace(&mut self) {
        if self.column > 0 {
            let line = &mut self.lines[self.row];
            let at = Self::byte_at(line, self.column - 1);
            line.remove(at);
            self.column -= 1;
        } else if self.row > 0 {
            let line = self.lines.remove(self.row);
            self.row -= 1;
            self.column = self.line_chars();
            self.lines[self.row].push_str(&line);
        }
    }

    pub fn delete(&mut self) {
        if self.column < self.line_chars() {
            let line = &mut self.lines[self.row];
            let at = Self::byte_at(line, self.column);
            line.remove(at);
        } else if self.row + 1 < self.lines.len() {
            let next = self.lines.remove(self.row + 1);
            self.lines[self.row].push_str(&next);
        }
    }

    pub fn left(&mut self) {
        if self.column > 0 {
            self.column -= 1;
        } else if self.row > 0 {
            self.row -= 1;
            self.column = self.line_chars();
        }
    }

    pub fn right(&mut self) {
        if self.column < self.line_chars() {
            self.column += 1;
        } else if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.column = 0;
        }
    }

    pub fn home(&mut self) {
        self.column = 0;
    }

    pub fn end(&mut self) {
        self.column = self.line_chars();
    }

    /// Moves up a line, or on the first line to the previous prompt of the history.
    pub fn up(&mut self) {
        if self.row > 0 {
            self.row -= 1;
            self.column = self.column.min(self.line_chars());
            return;
        }
        let previous = match self.browsing {
            None if !self.history.is_empty() => {
                self.draft = self.text();
                self.history.len() - 1
            }
            Some(index) if index > 0 => index - 1,
            _ => return,
        };
        self.browsing = Some(previous);
        let text = self.history[previous].clone();
        self.set_text(&text);
        // Up again should keep walking back, so the cursor goes to the first line.
        self.row = 0;
        self.column = self.column.min(self.line_chars());
    }

    /// Moves down a line, or on the last line to the next prompt of the history (and past the
    /// newest, back to the draft).
    pub fn down(&mut self) {
        if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.column = self.column.min(self.line_chars());
            return;
        }
        let Some(index) = self.browsing else {
            return;
        };
        if index + 1 < self.history.len() {
            self.browsing = Some(index + 1);
            let text = self.history[index + 1].clone();
            self.set_text(&text);
        } else {
            self.browsing = None;
            let draft = std::mem::take(&mut self.draft);
            self.set_text(&draft);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Editor {
        let mut editor = Editor::default();
        editor.insert(text);
        editor
    }

    #[test]
    fn paste_with_newlines_makes_lines_and_keeps_the_tail() {
        let mut editor = typed("ab");
        editor.left();
        editor.insert("1\r\n2\n3");
        assert_eq!(editor.lines(), ["a1", "2", "3b"]);
        assert_eq!(editor.cursor(), (2, 1));
    }

    #[test]
    fn backspace_and_delete_join_lines() {
        let mut editor = typed("ab\ncd");
        editor.home();
        editor.backspace();
        assert_eq!(editor.text(), "abcd");
        assert_eq!(editor.cursor(), (0, 2));
        editor.delete();
        assert_eq!(editor.text(), "abd");
    }

    #[test]
    fn editing_counts_characters_not_bytes() {
        let mut editor = typed("héé");
        editor.left();
        editor.backspace();
        assert_eq!(editor.text(), "hé");
        editor.home();
        editor.right();
        editor.delete();
        assert_eq!(editor.text(), "h");
    }

    #[test]
    fn the_word_at_the_cursor_and_its_replacement() {
        let mut editor = typed("see @sr/ma now");
        // The cursor after "@sr/m": in the word, which ends at the space.
        for _ in 0..5 {
            editor.left();
        }
        let word = editor.word_at_cursor().unwrap();
        assert_eq!((word.row, word.start, word.end), (0, 4, 10));
        assert_eq!(
            (word.text.as_str(), word.typed.as_str()),
            ("@sr/ma", "@sr/m")
        );
        editor.replace(&word, "@src/main.rs ");
        assert_eq!(editor.text(), "see @src/main.rs  now");
        assert_eq!(editor.cursor(), (0, 17));
        // After a space there is no word; a stale word changes nothing.
        assert_eq!(editor.word_at_cursor(), None);
        editor.replace(&word, "x");
        assert_eq!(editor.text(), "see @src/main.rs  now");
        // Characters, not bytes.
        let mut editor = typed("é @fé");
        let word = editor.word_at_cursor().unwrap();
        assert_eq!((word.start, word.end), (2, 5));
        editor.replace(&word, "@fée.txt ");
        assert_eq!(editor.text(), "é @fée.txt ");
    }

    #[test]
    fn history_walks_back_and_returns_to_the_draft() {
        let mut editor = Editor::default();
        editor.insert("first");
        editor.take();
        editor.insert("second\nline");
        editor.take();
        editor.insert("draft");
        editor.up();
        assert_eq!(editor.text(), "second\nline");
        editor.up();
        assert_eq!(editor.text(), "first");
        editor.up();
        assert_eq!(editor.text(), "first");
        editor.down();
        assert_eq!(editor.text(), "second\nline");
        // Walking forward lands on an entry's last line, so Down goes on at once.
        assert_eq!(editor.cursor().0, 1);
        editor.down();
        assert_eq!(editor.text(), "draft");
    }
}
