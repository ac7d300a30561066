//! Markdown to styled rows of a given width: headings, emphasis, lists, block quotes, code
//! blocks with their language (highlighted when it is known), tables and rules. A half-streamed text renders too: an open
//! code fence is a code block until it closes.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use unicode_width::UnicodeWidthStr;

use super::highlight;
use super::wrap::{Row, wrap};
use crate::theme::Theme;

/// Renders Markdown into rows of at most `width` columns.
pub fn render(text: &str, width: usize, theme: &Theme) -> Vec<Row> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut writer = Writer::new(width, theme);
    for event in Parser::new_ext(text, options) {
        writer.event(event);
    }
    writer.flush();
    writer.rows
}

/// Something the current text sits inside, which gives its rows a prefix.
enum Container {
    Quote,
    List { next: Option<u64> },
    Item { marker: String, first: bool },
}

struct Writer<'t> {
    theme: &'t Theme,
    width: usize,
    rows: Vec<Row>,
    /// The paragraph being built.
    spans: Vec<Span<'static>>,
    styles: Vec<Style>,
    containers: Vec<Container>,
    /// A blank row is due before the next block.
    gap: bool,
    /// Inside a code block: its language and text so far.
    code: Option<(String, String)>,
    table: Option<Table>,
    links: Vec<String>,
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
}

impl<'t> Writer<'t> {
    fn new(width: usize, theme: &'t Theme) -> Self {
        Writer {
            theme,
            width,
            rows: Vec::new(),
            spans: Vec::new(),
            styles: Vec::new(),
            containers: Vec::new(),
            gap: false,
            code: None,
            table: None,
            links: Vec::new(),
        }
    }

    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, change: impl Fn(Style) -> Style) {
        let next = change(self.style());
        self.styles.push(next);
    }

    fn in_list(&self) -> bool {
        self.containers
            .iter()
            .any(|container| matches!(container, Container::List { .. }))
    }

    fn start_block(&mut self) {
        self.flush();
        if self.gap && !self.rows.is_empty() {
            let (prefix, _) = self.prefixes(false);
            self.rows.push(prefix);
        }
        self.gap = false;
    }

    /// The prefix of the next row and of the rows after it (quote bars, list indents, and on
    /// an item's first row its marker). `consume` marks the item's marker as used.
    fn prefixes(&mut self, consume: bool) -> (Row, Row) {
        let mut first = Vec::new();
        let mut rest = Vec::new();
        let quote = self.theme.quote;
        let dim = self.theme.dim;
        for container in &mut self.containers {
            match container {
                Container::Quote => {
                    first.push(Span::styled("│ ", quote));
                    rest.push(Span::styled("│ ", quote));
                }
                Container::List { .. } => {}
                Container::Item {
                    marker,
                    first: is_first,
                } => {
                    let indent = " ".repeat(marker.width());
                    if *is_first {
                        first.push(Span::styled(marker.clone(), dim));
                        if consume {
                            *is_first = false;
                        }
                    } else {
                        first.push(Span::raw(indent.clone()));
                    }
                    rest.push(Span::raw(indent));
                }
            }
        }
        (first, rest)
    }

    /// Wraps the paragraph built so far into rows.
    fn flush(&mut self) {
        if self.spans.is_empty() {
            return;
        }
        let spans = std::mem::take(&mut self.spans);
        self.push_wrapped(&spans, true);
    }

    fn push_wrapped(&mut self, spans: &[Span<'static>], words: bool) {
        let (first, rest) = self.prefixes(true);
        let indent: usize = rest.iter().map(|span| span.content.width()).sum();
        let rows = wrap(spans, self.width.saturating_sub(indent).max(1), words);
        for (index, row) in rows.into_iter().enumerate() {
            let mut line = if index == 0 {
                first.clone()
            } else {
                rest.clone()
            };
            line.extend(row);
            self.rows.push(line);
        }
    }

    fn text(&mut self, text: &str) {
        if let Some((_, code)) = &mut self.code {
            code.push_str(text);
        } else if let Some(table) = &mut self.table {
            table.cell.push_str(text);
        } else {
            let style = self.style();
            let mut lines = text.split('\n');
            if let Some(first) = lines.next() {
                self.spans.push(Span::styled(first.to_owned(), style));
            }
            for line in lines {
                self.flush();
                self.spans.push(Span::styled(line.to_owned(), style));
            }
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) => self.text(&text),
            Event::Code(code) => {
                if let Some(table) = &mut self.table {
                    table.cell.push_str(&code);
                } else {
                    let style = self.style().patch(self.theme.code);
                    self.spans.push(Span::styled(code.into_string(), style));
                }
            }
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.start_block();
                let width = self.width;
                self.rows
                    .push(vec![Span::styled("─".repeat(width), self.theme.dim)]);
                self.gap = true;
            }
            Event::TaskListMarker(done) => {
                let mark = if done { "[x] " } else { "[ ] " };
                self.spans.push(Span::styled(mark, self.theme.dim));
            }
            Event::FootnoteReference(name) => self.text(&format!("[{name}]")),
            Event::InlineMath(math) | Event::DisplayMath(math) => self.text(&math),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.start_block(),
            Tag::Heading { level, .. } => {
                self.start_block();
                let hashes = match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    _ => 4,
                };
                self.spans.push(Span::styled(
                    format!("{} ", "#".repeat(hashes)),
                    self.theme.dim,
                ));
                let heading = self.theme.heading;
                self.push_style(|style| style.patch(heading));
            }
            Tag::BlockQuote(_) => {
                self.start_block();
                self.containers.push(Container::Quote);
                let quote = self.theme.quote;
                self.push_style(|style| style.patch(quote));
            }
            Tag::CodeBlock(kind) => {
                self.start_block();
                let language = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((language, String::new()));
            }
            Tag::List(start) => {
                if self.in_list() {
                    self.flush();
                } else {
                    self.start_block();
                }
                self.containers.push(Container::List { next: start });
            }
            Tag::Item => {
                self.flush();
                let marker = match self.containers.last_mut() {
                    Some(Container::List { next: Some(number) }) => {
                        let marker = format!("{number}. ");
                        *number += 1;
                        marker
                    }
                    _ => "• ".to_owned(),
                };
                self.containers.push(Container::Item {
                    marker,
                    first: true,
                });
            }
            Tag::Emphasis => self.push_style(|style| style.add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(|style| style.add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => {
                self.push_style(|style| style.add_modifier(Modifier::CROSSED_OUT));
            }
            Tag::Link { dest_url, .. } => {
                self.links.push(dest_url.into_string());
                let link = self.theme.link;
                self.push_style(|style| style.patch(link));
            }
            Tag::Table(_) => {
                self.start_block();
                self.table = Some(Table::default());
            }
            Tag::TableCell => {
                if let Some(table) = &mut self.table {
                    table.cell.clear();
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => {
                self.flush();
                self.gap = true;
            }
            TagEnd::Heading(_) => {
                self.flush();
                self.styles.pop();
                self.gap = true;
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.containers.pop();
                self.styles.pop();
                self.gap = true;
            }
            TagEnd::CodeBlock => {
                if let Some((language, code)) = self.code.take() {
                    self.code_block(&language, &code);
                }
                self.gap = true;
            }
            TagEnd::List(_) => {
                self.flush();
                self.containers.pop();
                if !self.in_list() {
                    self.gap = true;
                }
            }
            TagEnd::Item => {
                self.flush();
                self.containers.pop();
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link => {
                self.styles.pop();
                if let Some(url) = self.links.pop() {
                    let shown: String = self
                        .spans
                        .iter()
                        .rev()
                        .take(1)
                        .map(|span| span.content.to_string())
                        .collect();
                    if !url.is_empty() && shown != url {
                        self.spans
                            .push(Span::styled(format!(" <{url}>"), self.theme.dim));
                    }
                }
            }
            TagEnd::TableCell => {
                if let Some(table) = &mut self.table {
                    let cell = std::mem::take(&mut table.cell);
                    table.row.push(cell.trim().to_owned());
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                if let Some(table) = &mut self.table {
                    let row = std::mem::take(&mut table.row);
                    table.rows.push(row);
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.table_rows(&table.rows);
                }
                self.gap = true;
            }
            _ => {}
        }
    }

    /// A code block: a label row with its language, then its lines behind a gutter, cut (not
    /// word-wrapped) at the width so indentation stays true.
    fn code_block(&mut self, language: &str, code: &str) {
        let label = if language.is_empty() {
            "code"
        } else {
            language
        };
        let (prefix, _) = self.prefixes(true);
        let mut label_row = prefix;
        label_row.push(Span::styled(format!("┌ {label}"), self.theme.code_label));
        self.rows.push(label_row);
        let highlighted = if highlight::enabled(self.theme) {
            highlight::highlight(language, code)
        } else {
            None
        };
        let code = code.strip_suffix('\n').unwrap_or(code);
        for (index, line) in code.split('\n').enumerate() {
            let (prefix, _) = self.prefixes(true);
            let indent: usize = prefix.iter().map(|span| span.content.width()).sum();
            let pieces: Vec<Span<'static>> =
                match highlighted.as_ref().and_then(|lines| lines.get(index)) {
                    Some(pieces) => pieces
                        .iter()
                        .map(|(kind, text)| {
                            Span::styled(
                                text.replace('\t', "    "),
                                highlight::style(*kind, self.theme),
                            )
                        })
                        .collect(),
                    None => vec![Span::styled(line.replace('\t', "    "), self.theme.code)],
                };
            for row in wrap(&pieces, self.width.saturating_sub(indent + 2).max(1), false) {
                let mut out = prefix.clone();
                out.push(Span::styled("│ ", self.theme.dim));
                out.extend(row);
                self.rows.push(out);
            }
        }
    }

    /// A table with columns as wide as their widest cell, shrunk (widest first) to fit, the
    /// cells wrapped inside their column, the header in bold and ruled off.
    fn table_rows(&mut self, rows: &[Vec<String>]) {
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return;
        }
        let mut widths = vec![1; columns];
        for row in rows {
            for (column, cell) in row.iter().enumerate() {
                widths[column] = widths[column].max(cell.width());
            }
        }
        let (prefix, _) = self.prefixes(true);
        let indent: usize = prefix.iter().map(|span| span.content.width()).sum();
        let room = self.width.saturating_sub(indent + 3 * (columns - 1));
        while widths.iter().sum::<usize>() > room {
            let Some(widest) = (0..columns).max_by_key(|&column| widths[column]) else {
                break;
            };
            if widths[widest] <= 3 {
                break;
            }
            widths[widest] -= 1;
        }
        for (index, row) in rows.iter().enumerate() {
            let style = if index == 0 {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            let cells: Vec<Vec<Row>> = (0..columns)
                .map(|column| {
                    let text = row.get(column).cloned().unwrap_or_default();
                    wrap(&[Span::styled(text, style)], widths[column], true)
                })
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1);
            for line in 0..height {
                let mut out = prefix.clone();
                for (column, cell) in cells.iter().enumerate() {
                    if column > 0 {
                        out.push(Span::styled(" │ ", self.theme.dim));
                    }
                    let piece = cell.get(line).cloned().unwrap_or_default();
                    let used = super::wrap::row_width(&piece);
                    out.extend(piece);
                    if column + 1 < columns {
                        out.push(Span::raw(" ".repeat(widths[column].saturating_sub(used))));
                    }
                }
                self.rows.push(out);
            }
            if index == 0 {
                let rule: Vec<String> = widths.iter().map(|width| "─".repeat(*width)).collect();
                let mut out = prefix.clone();
                out.push(Span::styled(rule.join("─┼─"), self.theme.dim));
                self.rows.push(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str, width: usize) -> Vec<String> {
        render(text, width, &Theme::plain())
            .iter()
            .map(|row| row.iter().map(|span| span.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn blocks_are_laid_out_with_their_markers() {
        let text = "# Title\n\nSome *text* here.\n\n- one\n- two\n  1. nested\n\n> quoted\n\n```rust\nfn main() {}\n```\n";
        assert_eq!(
            plain(text, 40),
            [
                "# Title",
                "",
                "Some text here.",
                "",
                "• one",
                "• two",
                "  1. nested",
                "",
                "│ quoted",
                "",
                "┌ rust",
                "│ fn main() {}",
            ]
        );
    }

    #[test]
    fn tables_fit_the_width() {
        let text = "| name | what |\n|---|---|\n| a | a long description of it |\n";
        assert_eq!(
            plain(text, 24),
            [
                "name │ what",
                "─────┼──────────────────",
                "a    │ a long",
                "     │ description of it",
            ]
        );
    }

    #[test]
    fn list_items_wrap_under_their_text() {
        assert_eq!(
            plain("- a list item that wraps", 12),
            ["• a list", "  item that", "  wraps"]
        );
    }
}
