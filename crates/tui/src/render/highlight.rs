//! Syntax highlighting of fenced code blocks: syntect's Sublime grammars parse each line, and
//! the scopes they give are coloured from the view's own palette (no syntect theme is loaded).
//!
//! The grammars load on the first code block that names a language, so a session without code
//! pays nothing. Parsing is per line and remembered: the few blocks still growing keep the
//! parser's state after their last whole line, so a streaming block parses only its new lines
//! each frame; blocks done growing keep their lines by their text, so a re-layout (a resize,
//! a later entry) parses nothing again. A layout pass parses at most [`PASS_BUDGET_LINES`]
//! new lines; past that, blocks show plain until a later pass has room.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock};

use ratatui::style::{Modifier, Style};
use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxReference, SyntaxSet};

use crate::theme::Theme;

/// Blocks kept with their parser's state, to go on where they stopped when they grow.
const GROWING_BLOCKS: usize = 4;
/// Highlighted lines kept of blocks that stopped growing (a few megabytes at most).
const CACHED_LINES: usize = 20_000;
/// New lines one layout pass may parse (about 60 µs each in a release build): laying out a
/// long resumed session highlights its newest blocks (laid out first) and leaves the oldest
/// plain rather than stall the first frame.
pub const PASS_BUDGET_LINES: usize = 2_000;
/// A line longer than this (minified code, data) is not parsed, nor any line after it: the
/// grammars' regexes get slow on such lines and their colours would say little.
const MAX_LINE_BYTES: usize = 4_096;

/// What a piece of code is, as far as its colour goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Keyword,
    String,
    Comment,
    Constant,
    Function,
    Type,
}

/// A highlighted line: its pieces in order, without the line's newline.
pub type HighlightedLine = Vec<(Kind, String)>;

/// The style of a kind of code in a theme with colours.
pub fn style(kind: Kind, theme: &Theme) -> Style {
    let fg = |style: Style| {
        style
            .fg
            .map_or_else(Style::new, |color| Style::new().fg(color))
    };
    match kind {
        Kind::Plain => Style::new(),
        Kind::Keyword => fg(theme.heading),
        Kind::String => fg(theme.ok),
        Kind::Comment => fg(theme.dim).add_modifier(Modifier::ITALIC),
        Kind::Constant => fg(theme.diff_hunk),
        Kind::Function => fg(theme.link),
        Kind::Type => fg(theme.code),
    }
}

/// Whether a theme highlights code: only one with colours (`NO_COLOR` shows code plain, and
/// without colours the grammars are never loaded).
pub fn enabled(theme: &Theme) -> bool {
    theme.code.fg.is_some()
}

/// Starts a layout pass: the next [`highlight`] calls may parse up to [`PASS_BUDGET_LINES`]
/// new lines between them.
pub fn start_pass() {
    CACHE.with_borrow_mut(|cache| cache.budget = PASS_BUDGET_LINES);
}

/// The lines of `code` (split after each `\n`) highlighted for the fence's `language`, or
/// `None` when the language is missing or unknown, the grammar fails on the text, or the
/// pass's budget is spent.
pub fn highlight(language: &str, code: &str) -> Option<Arc<Vec<HighlightedLine>>> {
    let token = language.split(',').next().unwrap_or_default().trim();
    if token.is_empty() {
        return None;
    }
    let syntaxes = syntaxes();
    let syntax = find_syntax(syntaxes, token)?;
    CACHE.with_borrow_mut(|cache| cache.highlight(syntaxes, syntax, code))
}

/// The grammars syntect ships (about 75 languages), loaded once on first use.
fn syntaxes() -> &'static SyntaxSet {
    static SYNTAXES: OnceLock<SyntaxSet> = OnceLock::new();
    SYNTAXES.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// The grammar a fence's word names: an extension or a name (`rs`, `rust`, `Python`), and a
/// few common names the grammars spell otherwise.
fn find_syntax<'s>(syntaxes: &'s SyntaxSet, token: &str) -> Option<&'s SyntaxReference> {
    let token = token.to_ascii_lowercase();
    let alias = match token.as_str() {
        "shell" | "zsh" | "console" => "bash",
        "c++" => "cpp",
        "golang" => "go",
        "jsonc" => "json",
        "yml" => "yaml",
        other => other,
    };
    syntaxes.find_syntax_by_token(alias)
}

thread_local! {
    /// The UI draws on one thread; a cache per thread needs no lock (and keeps tests, each on
    /// a thread of its own, apart).
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Highlighted blocks: the few still growing with the parser's state after their last whole
/// line, and the lines of the others by a hash of their text.
struct Cache {
    growing: Vec<Block>,
    done: HashMap<(u64, usize), Done>,
    /// Lines held in `done`.
    done_lines: usize,
    /// New lines this pass may still parse.
    budget: usize,
    clock: u64,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            growing: Vec::new(),
            done: HashMap::new(),
            done_lines: 0,
            budget: PASS_BUDGET_LINES,
            clock: 0,
        }
    }
}

struct Done {
    lines: Arc<Vec<HighlightedLine>>,
    used_at: u64,
}

struct Block {
    /// The grammar's name.
    syntax: String,
    /// The whole lines parsed so far, each with its `\n`.
    source: String,
    parser: ParseState,
    scopes: ScopeStack,
    lines: Arc<Vec<HighlightedLine>>,
    /// A line was too long: the lines from it on are plain.
    stopped: bool,
    used_at: u64,
}

impl Block {
    fn new(syntax: &SyntaxReference) -> Self {
        Block {
            syntax: syntax.name.clone(),
            source: String::new(),
            parser: ParseState::new(syntax),
            scopes: ScopeStack::new(),
            lines: Arc::new(Vec::new()),
            stopped: false,
            used_at: 0,
        }
    }
}

/// The key of a block's text in a grammar.
fn key(syntax: &str, code: &str) -> (u64, usize) {
    let mut hasher = DefaultHasher::new();
    syntax.hash(&mut hasher);
    code.hash(&mut hasher);
    (hasher.finish(), code.len())
}

impl Cache {
    fn highlight(
        &mut self,
        syntaxes: &SyntaxSet,
        syntax: &SyntaxReference,
        code: &str,
    ) -> Option<Arc<Vec<HighlightedLine>>> {
        self.clock += 1;
        let clock = self.clock;
        if let Some(done) = self.done.get_mut(&key(&syntax.name, code)) {
            done.used_at = clock;
            return Some(Arc::clone(&done.lines));
        }
        // A block parsed before whose text this one starts with: the same block grown by a
        // stream, or laid out again.
        let found = self
            .growing
            .iter()
            .enumerate()
            .filter(|(_, block)| block.syntax == syntax.name && code.starts_with(&block.source))
            .max_by_key(|(_, block)| block.source.len())
            .map(|(index, _)| index);
        let start = found.map_or(0, |index| self.growing[index].source.len());
        let new_lines = code[start..].split_inclusive('\n').count();
        if new_lines > self.budget {
            return None;
        }
        self.budget -= new_lines;
        let index = match found {
            Some(index) => index,
            None => {
                if self.growing.len() >= GROWING_BLOCKS
                    && let Some(oldest) =
                        (0..self.growing.len()).min_by_key(|&index| self.growing[index].used_at)
                {
                    let block = self.growing.swap_remove(oldest);
                    self.keep_done(&block.syntax, &block.source, block.lines);
                }
                self.growing.push(Block::new(syntax));
                self.growing.len() - 1
            }
        };
        let block = &mut self.growing[index];
        block.used_at = clock;
        let mut partial = None;
        for line in code[start..].split_inclusive('\n') {
            if !line.ends_with('\n') {
                // A line still being written: parsed on a copy, so the next frame parses it
                // again from the state after the last whole line.
                let mut parser = block.parser.clone();
                let mut scopes = block.scopes.clone();
                let mut stopped = block.stopped;
                partial = Some(parse_line(
                    line,
                    &mut parser,
                    &mut scopes,
                    &mut stopped,
                    syntaxes,
                ));
                break;
            }
            let highlighted = parse_line(
                line,
                &mut block.parser,
                &mut block.scopes,
                &mut block.stopped,
                syntaxes,
            );
            let Some(highlighted) = highlighted else {
                // The grammar failed: forget the block, show the code plain.
                self.growing.swap_remove(index);
                return None;
            };
            Arc::make_mut(&mut block.lines).push(highlighted);
            block.source.push_str(line);
        }
        match partial {
            None => Some(Arc::clone(&block.lines)),
            Some(Some(line)) => {
                let mut lines = Vec::with_capacity(block.lines.len() + 1);
                lines.extend(block.lines.iter().cloned());
                lines.push(line);
                Some(Arc::new(lines))
            }
            Some(None) => None,
        }
    }

    /// Keeps a block that stopped growing by its text, dropping the least recently used
    /// blocks (a quarter of the room at once) past [`CACHED_LINES`].
    fn keep_done(&mut self, syntax: &str, source: &str, lines: Arc<Vec<HighlightedLine>>) {
        if source.is_empty() || lines.len() > CACHED_LINES {
            return;
        }
        self.done_lines += lines.len();
        let used_at = self.clock;
        if let Some(replaced) = self
            .done
            .insert(key(syntax, source), Done { lines, used_at })
        {
            self.done_lines -= replaced.lines.len();
        }
        if self.done_lines > CACHED_LINES {
            let mut ages: Vec<((u64, usize), u64)> = self
                .done
                .iter()
                .map(|(key, done)| (*key, done.used_at))
                .collect();
            ages.sort_by_key(|(_, used_at)| *used_at);
            for (key, _) in ages {
                if self.done_lines <= CACHED_LINES * 3 / 4 {
                    break;
                }
                if let Some(dropped) = self.done.remove(&key) {
                    self.done_lines -= dropped.lines.len();
                }
            }
        }
    }
}

/// One line's pieces; the parser and the scope stack go on to the next line.
fn parse_line(
    line: &str,
    parser: &mut ParseState,
    scopes: &mut ScopeStack,
    stopped: &mut bool,
    syntaxes: &SyntaxSet,
) -> Option<HighlightedLine> {
    let text = line.strip_suffix('\n').unwrap_or(line);
    if *stopped || line.len() > MAX_LINE_BYTES {
        *stopped = true;
        return Some(vec![(Kind::Plain, text.to_owned())]);
    }
    let operations = parser.parse_line(line, syntaxes).ok()?;
    let mut pieces: HighlightedLine = Vec::new();
    let mut push = |kind: Kind, piece: &str| {
        if piece.is_empty() {
            return;
        }
        match pieces.last_mut() {
            Some((last, text)) if *last == kind => text.push_str(piece),
            _ => pieces.push((kind, piece.to_owned())),
        }
    };
    let mut at = 0;
    for (position, operation) in operations {
        let position = position.min(text.len());
        if position > at
            && let Some(piece) = text.get(at..position)
        {
            push(kind_of(scopes), piece);
            at = position;
        }
        scopes.apply(&operation).ok()?;
    }
    if let Some(piece) = text.get(at..) {
        push(kind_of(scopes), piece);
    }
    Some(pieces)
}

/// The kind of the innermost scope that says one: a string's quotes (`punctuation…` inside
/// `string…`) are the string's colour, an operator is plain.
fn kind_of(scopes: &ScopeStack) -> Kind {
    let table = kinds();
    for scope in scopes.as_slice().iter().rev() {
        if let Some((_, kind)) = table.iter().find(|(prefix, _)| prefix.is_prefix_of(*scope)) {
            return *kind;
        }
    }
    Kind::Plain
}

/// Scope prefixes and their kinds, the more specific first.
fn kinds() -> &'static [(Scope, Kind)] {
    static KINDS: OnceLock<Vec<(Scope, Kind)>> = OnceLock::new();
    KINDS.get_or_init(|| {
        [
            ("comment", Kind::Comment),
            ("string", Kind::String),
            ("constant.character.escape", Kind::Constant),
            ("constant.character", Kind::String),
            ("constant", Kind::Constant),
            ("keyword.operator", Kind::Plain),
            ("keyword", Kind::Keyword),
            ("storage.type.numeric", Kind::Type),
            ("storage", Kind::Keyword),
            ("variable.language", Kind::Keyword),
            ("entity.name.function", Kind::Function),
            ("support.function", Kind::Function),
            ("variable.function", Kind::Function),
            ("support.macro", Kind::Function),
            ("entity.name.tag", Kind::Keyword),
            ("entity.name", Kind::Type),
            ("entity.other.inherited-class", Kind::Type),
            ("support.type", Kind::Type),
            ("support.class", Kind::Type),
            ("entity.other.attribute-name", Kind::Function),
        ]
        .into_iter()
        .filter_map(|(prefix, kind)| Scope::new(prefix).ok().map(|scope| (scope, kind)))
        .collect()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn kind_of_piece(lines: &[HighlightedLine], line: usize, piece: &str) -> Kind {
        lines[line]
            .iter()
            .find(|(_, text)| text.contains(piece))
            .map(|(kind, _)| *kind)
            .unwrap_or_else(|| panic!("no piece {piece:?} in {:?}", lines[line]))
    }

    #[test]
    fn rust_keywords_strings_and_comments_get_their_kinds() {
        let code = "fn main() {\n    let s = \"hi\"; // greet\n    println!(\"{s}\", 42);\n}\n";
        let lines = highlight("rust", code).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(kind_of_piece(&lines, 0, "fn"), Kind::Keyword);
        assert_eq!(kind_of_piece(&lines, 0, "main"), Kind::Function);
        assert_eq!(kind_of_piece(&lines, 1, "let"), Kind::Keyword);
        assert_eq!(kind_of_piece(&lines, 1, "hi"), Kind::String);
        assert_eq!(kind_of_piece(&lines, 1, "greet"), Kind::Comment);
        assert_eq!(kind_of_piece(&lines, 2, "42"), Kind::Constant);
        // The pieces are the line, without its newline.
        let text: String = lines[1].iter().map(|(_, text)| text.as_str()).collect();
        assert_eq!(text, "    let s = \"hi\"; // greet");
    }

    #[test]
    fn python_is_found_by_name_and_by_extension() {
        let code = "def f(x):\n    return 'a'  # why\n";
        for language in ["python", "py", "Python", "python,ignore"] {
            let lines = highlight(language, code).unwrap();
            assert_eq!(kind_of_piece(&lines, 0, "def"), Kind::Keyword);
            assert_eq!(kind_of_piece(&lines, 1, "'a'"), Kind::String);
            assert_eq!(kind_of_piece(&lines, 1, "why"), Kind::Comment);
        }
    }

    #[test]
    fn unknown_or_missing_languages_are_not_highlighted() {
        assert_eq!(highlight("", "let x = 1;\n"), None);
        assert_eq!(highlight("no-such-language", "let x = 1;\n"), None);
    }

    #[test]
    fn a_streaming_block_continues_from_its_last_whole_line() {
        // A multi-line string opened on the first line: the second line is still inside it
        // only if the parser's state carried over.
        let first = highlight("python", "x = \"\"\"doc\nstill doc").unwrap();
        assert_eq!(kind_of_piece(&first, 1, "still"), Kind::String);
        let grown = highlight("python", "x = \"\"\"doc\nstill doc\"\"\"\ny = 1\n").unwrap();
        assert_eq!(grown.len(), 3);
        assert_eq!(kind_of_piece(&grown, 1, "still"), Kind::String);
        assert_eq!(kind_of_piece(&grown, 2, "1"), Kind::Constant);
        // The same block laid out again gives the same lines.
        assert_eq!(
            highlight("python", "x = \"\"\"doc\nstill doc\"\"\"\ny = 1\n").unwrap(),
            grown
        );
    }

    #[test]
    fn a_block_that_is_no_longer_a_prefix_is_parsed_afresh() {
        let one = highlight("rust", "let a = 1;\n").unwrap();
        assert_eq!(kind_of_piece(&one, 0, "let"), Kind::Keyword);
        let other = highlight("rust", "// let a = 1;\n").unwrap();
        assert_eq!(kind_of_piece(&other, 0, "let"), Kind::Comment);
    }

    #[test]
    fn a_very_long_line_and_what_follows_stay_plain() {
        let long = format!("let x = \"{}\";\nlet y = 2;\n", "a".repeat(MAX_LINE_BYTES));
        let lines = highlight("rust", &format!("let w = 0;\n{long}")).unwrap();
        assert_eq!(kind_of_piece(&lines, 0, "let"), Kind::Keyword);
        assert_eq!(lines[1].len(), 1);
        assert_eq!(lines[1][0].0, Kind::Plain);
        assert_eq!(lines[2], vec![(Kind::Plain, "let y = 2;".to_owned())]);
    }

    /// The screen as text, then under each row that has colour a row of letters for its
    /// cells' colours: K magenta (keywords), S green (strings), C dark grey (comments and
    /// chrome), N cyan (numbers), F blue (functions), T yellow (types), `.` none, `?` other.
    fn coloured_screen(answer: &str, width: u16, height: u16) -> String {
        use code_mesh_protocol::EventKind;
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;
        use ratatui::style::Color;

        let mut app = crate::app::App::new(None);
        app.apply(&crate::app::tests::event(EventKind::TextDelta {
            delta: answer.into(),
        }));
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| super::super::draw(frame, &mut app, &Theme::colored()))
            .unwrap();
        let buffer = terminal.backend().buffer();
        let mut out = String::new();
        for y in 0..height {
            let cells: Vec<_> = (0..width).map(|x| &buffer[(x, y)]).collect();
            let text: String = cells.iter().map(|cell| cell.symbol()).collect();
            out.push_str(text.trim_end());
            out.push('\n');
            let colours: String = cells
                .iter()
                .map(|cell| match cell.fg {
                    _ if cell.symbol() == " " => ' ',
                    Color::Reset => '.',
                    Color::Magenta => 'K',
                    Color::Green => 'S',
                    Color::DarkGray => 'C',
                    Color::Cyan => 'N',
                    Color::Blue => 'F',
                    Color::Yellow => 'T',
                    _ => '?',
                })
                .collect();
            if colours.chars().any(|c| c != ' ' && c != '.') && y + 4 < height {
                out.push_str(colours.trim_end());
                out.push_str("   <- colours\n");
            }
        }
        out
    }

    #[test]
    fn rust_and_python_blocks_at_80x24() {
        let answer = "Two versions:\n\n```rust\n// Greets.\nfn greet(name: &str) -> String {\n    \
                      let n = 42;\n    format!(\"hi {name} {n}\")\n}\n```\n\n```python\n\
                      def greet(name):\n    # Greets.\n    return f\"hi {name}\" + str(42)\n```\n";
        insta::assert_snapshot!(coloured_screen(answer, 80, 24));
    }

    #[test]
    fn a_long_conversation_spends_the_budget_on_its_newest_blocks() {
        use code_mesh_protocol::{EventKind, Role};
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;
        use ratatui::style::Color;

        use crate::app::tests::{event, message, text};

        // More new lines than one pass may parse: thirty answers of a hundred lines each.
        let mut app = crate::app::App::new(None);
        for answer in 0..30 {
            let mut code = String::from("```rust\n");
            for line in 0..100 {
                code.push_str(&format!("let value_{answer}_{line} = {line};\n"));
            }
            code.push_str("```\n");
            app.apply(&event(EventKind::MessageAdded {
                message: message(Role::Assistant, vec![text(&code)]),
            }));
        }
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal
            .draw(|frame| super::super::draw(frame, &mut app, &Theme::colored()))
            .unwrap();
        // The view follows the bottom: the last answer's lines are in view, and coloured.
        let buffer = terminal.backend().buffer();
        let row = (0..24)
            .find(|&y| {
                let line: String = (0..80).map(|x| buffer[(x, y)].symbol()).collect();
                line.contains("let value_29_")
            })
            .unwrap();
        assert_eq!(buffer[(2, row)].fg, Color::Magenta);
    }

    #[test]
    fn a_highlighted_line_has_distinct_colours_for_keyword_and_string() {
        let rows = super::super::markdown::render(
            "```rust\nlet s = \"hi\";\n```\n",
            40,
            &Theme::colored(),
        );
        let colour_of = |piece: &str| {
            rows[1]
                .iter()
                .find(|span| span.content.contains(piece))
                .and_then(|span| span.style.fg)
        };
        let keyword = colour_of("let").unwrap();
        let string = colour_of("hi").unwrap();
        assert_ne!(keyword, string);
        // Without colour the same block is one plain style.
        let plain =
            super::super::markdown::render("```rust\nlet s = \"hi\";\n```\n", 40, &Theme::plain());
        assert!(plain[1].iter().all(|span| span.style.fg.is_none()));
    }

    #[test]
    fn a_pass_parses_at_most_its_budget_and_reuses_what_it_parsed() {
        let block = |n: usize| format!("let budget_{n} = {n};\n").repeat(3);
        start_pass();
        let first = highlight("rust", &block(1)).unwrap();
        // Four more blocks push the first out of the growing ones, into the done ones.
        for n in 2..=5 {
            highlight("rust", &block(n)).unwrap();
        }
        CACHE.with_borrow_mut(|cache| cache.budget = 2);
        // Three new lines do not fit in two; a block parsed before costs nothing.
        assert_eq!(highlight("rust", &block(6)), None);
        assert_eq!(highlight("rust", &block(1)).unwrap(), first);
        assert_eq!(highlight("rust", &block(5)).unwrap().len(), 3);
        // A new pass has room again.
        start_pass();
        assert_eq!(highlight("rust", &block(6)).unwrap().len(), 3);
    }

    #[test]
    fn kinds_have_distinct_colours_and_none_without_colour() {
        let colored = Theme::colored();
        let keyword = style(Kind::Keyword, &colored).fg;
        let string = style(Kind::String, &colored).fg;
        assert!(keyword.is_some() && string.is_some());
        assert_ne!(keyword, string);
        assert!(enabled(&colored));
        assert!(!enabled(&Theme::plain()));
    }
}
