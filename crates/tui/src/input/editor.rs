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
