//! HTML to Markdown or plain text, for `web_fetch`.
//!
//! A small, forgiving converter rather than a full HTML5 parser: it walks the tags, drops what
//! is not content (`head`, `script`, `style`, `noscript`, `template`, `svg`, `iframe`,
//! comments), decodes character references, collapses whitespace outside `pre`, and writes
//! headings, paragraphs, lists (nested), links, images, emphasis, inline code, code blocks,
//! block quotes, rules and table rows. Plain text keeps the structure (line breaks, list
//! bullets) without Markdown marks; links then show their text only.

/// The output flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    Markdown,
    Text,
}

/// Elements whose content is not shown.
const HIDDEN: [&str; 9] = [
    "head", "script", "style", "noscript", "template", "svg", "iframe", "object", "canvas",
];

/// Elements that start and end a block.
const BLOCKS: [&str; 24] = [
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "nav",
    "aside",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "address",
    "details",
];

/// Converts `html` to `flavor`; relative links are resolved against `base` when given.
pub(crate) fn convert(html: &str, flavor: Flavor, base: Option<&reqwest::Url>) -> String {
    let mut writer = Writer::new(flavor, base);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        writer.text(&rest[..open]);
        rest = &rest[open..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some(close) = tag_end(rest) else {
            // A lone `<` in text.
            writer.text("<");
            rest = &rest[1..];
            continue;
        };
        let inner = &rest[1..close];
        rest = &rest[close + 1..];
        if inner.starts_with('!') || inner.starts_with('?') {
            continue;
        }
        let tag = Tag::parse(inner);
        if tag.name.is_empty() {
            writer.text("<");
            writer.text(inner);
            writer.text(">");
            continue;
        }
        if !tag.closing && HIDDEN.contains(&tag.name.as_str()) && !tag.self_closing {
            // Skip to the matching end tag (raw text: `<` inside a script is not a tag).
            let end = format!("</{}", tag.name);
            match find_ignore_case(rest, &end) {
                Some(position) => {
                    rest = &rest[position..];
                    rest = rest.find('>').map_or("", |gt| &rest[gt + 1..]);
                }
                None => rest = "",
            }
            continue;
        }
        writer.tag(&tag);
    }
    writer.text(rest);
    writer.finish()
}

/// The index of the `>` closing the tag at the start of `text`, quotes respected.
fn tag_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let second = *bytes.get(1)?;
    if !(second.is_ascii_alphabetic() || second == b'/' || second == b'!' || second == b'?') {
        return None;
    }
    let mut quote = None;
    for (index, &byte) in bytes.iter().enumerate().skip(1) {
        match (quote, byte) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(byte),
            (None, b'>') => return Some(index),
            _ => {}
        }
    }
    None
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

#[derive(Debug)]
struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    attributes: Vec<(String, String)>,
}

impl Tag {
    fn parse(inner: &str) -> Tag {
        let (closing, inner) = match inner.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let self_closing = inner.trim_end().ends_with('/');
        let inner = inner.trim_end().trim_end_matches('/');
        let name_end = inner
            .find(|c: char| c.is_whitespace())
            .unwrap_or(inner.len());
        let name = inner[..name_end].to_ascii_lowercase();
        let valid = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':');
        Tag {
            name: if valid { name } else { String::new() },
            closing,
            self_closing,
            attributes: parse_attributes(&inner[name_end..]),
        }
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

fn parse_attributes(mut text: &str) -> Vec<(String, String)> {
    let mut attributes = Vec::new();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return attributes;
        }
        let name_end = text
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(text.len());
        let name = text[..name_end].to_ascii_lowercase();
        text = text[name_end..].trim_start();
        let mut value = String::new();
        if let Some(rest) = text.strip_prefix('=') {
            let rest = rest.trim_start();
            let (raw, remaining) = match rest.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let body = &rest[1..];
                    match body.find(quote) {
                        Some(end) => (&body[..end], &body[end + 1..]),
                        None => (body, ""),
                    }
                }
                _ => {
                    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    (&rest[..end], &rest[end..])
                }
            };
            value = decode_entities(raw);
            text = remaining;
        }
        if !name.is_empty() {
            attributes.push((name, value));
        }
    }
}

/// `&amp;`, `&#39;`, `&#x27;` and the common named references decoded.
pub(crate) fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|i| i + 1);
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let character = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "mdash" => Some('—'),
                "ndash" => Some('–'),
                "hellip" => Some('…'),
                "copy" => Some('©'),
                "reg" => Some('®'),
                "trade" => Some('™'),
                "lsquo" => Some('‘'),
                "rsquo" => Some('’'),
                "ldquo" => Some('“'),
                "rdquo" => Some('”'),
                "laquo" => Some('«'),
                "raquo" => Some('»'),
                "middot" => Some('·'),
                "times" => Some('×'),
                "larr" => Some('←'),
                "rarr" => Some('→'),
                _ => name.strip_prefix('#').and_then(|number| {
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => number.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            }?;
            // The `;` is optional in practice.
            let consumed = if rest[end..].starts_with(';') {
                end + 1
            } else {
                end
            };
            Some((character, consumed))
        });
        match decoded {
            Some((character, consumed)) => {
                out.push(character);
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug)]
enum ListKind {
    Bullet,
    Numbered(u64),
}

struct Writer<'a> {
    flavor: Flavor,
    base: Option<&'a reqwest::Url>,
    out: String,
    /// Newlines owed before the next text: 1 for a line break, 2 for a paragraph.
    breaks: usize,
    /// A space owed before the next word.
    space: bool,
    pre: usize,
    lists: Vec<ListKind>,
    quote: usize,
    /// Open links: the target and where their text starts in `out`.
    links: Vec<(Option<String>, usize)>,
    /// Cells written in the current table row.
    cells: usize,
}

impl<'a> Writer<'a> {
    fn new(flavor: Flavor, base: Option<&'a reqwest::Url>) -> Self {
        Writer {
            flavor,
            base,
            out: String::new(),
            breaks: 0,
            space: false,
            pre: 0,
            lists: Vec::new(),
            quote: 0,
            links: Vec::new(),
            cells: 0,
        }
    }

    fn markdown(&self) -> bool {
        self.flavor == Flavor::Markdown
    }

    fn block(&mut self, newlines: usize) {
        if !self.out.is_empty() {
            self.breaks = self.breaks.max(newlines);
        }
        self.space = false;
    }

    /// Writes owed line breaks and the line prefix (quote marks, list indentation).
    fn start_content(&mut self) {
        if self.breaks > 0 {
            let trimmed = self.out.trim_end_matches([' ', '\t']).len();
            self.out.truncate(trimmed);
            let present = self.out.len() - self.out.trim_end_matches('\n').len();
            for _ in present..self.breaks {
                self.out.push('\n');
            }
            self.breaks = 0;
            self.space = false;
            self.prefix();
        } else if self.space && !self.out.is_empty() && !self.out.ends_with([' ', '\n']) {
            self.out.push(' ');
        }
        self.space = false;
    }

    fn prefix(&mut self) {
        if self.quote > 0 && self.markdown() {
            self.out.push_str(&"> ".repeat(self.quote));
        }
    }

    fn raw(&mut self, text: &str) {
        self.start_content();
        self.out.push_str(text);
    }

    fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let text = decode_entities(text);
        if self.pre > 0 {
            self.start_content();
            self.out.push_str(&text);
            return;
        }
        if text.starts_with(char::is_whitespace) {
            self.space = true;
        }
        let mut words = text.split_whitespace().peekable();
        while let Some(word) = words.next() {
            self.start_content();
            self.out.push_str(word);
            if words.peek().is_some() {
                self.space = true;
            }
        }
        if text.ends_with(char::is_whitespace) {
            self.space = true;
        }
    }

    fn resolve(&self, href: &str) -> String {
        match self.base.and_then(|base| base.join(href).ok()) {
            Some(url) => url.to_string(),
            None => href.to_string(),
        }
    }

    fn tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        let markdown = self.markdown();
        if BLOCKS.contains(&name) {
            let enclosing = if tag.closing { 2 } else { 1 };
            let nested_list = matches!(name, "ul" | "ol") && self.lists.len() >= enclosing;
            let tight = nested_list || matches!(name, "dt" | "dd");
            self.block(if tight { 1 } else { 2 });
            if name == "ul" || name == "ol" {
                if tag.closing {
                    self.lists.pop();
                } else {
                    let start = tag.attribute("start").and_then(|s| s.parse().ok());
                    self.lists.push(if name == "ol" {
                        ListKind::Numbered(start.unwrap_or(1))
                    } else {
                        ListKind::Bullet
                    });
                }
                if !self.lists.is_empty() {
                    self.block(1);
                }
            }
            return;
        }
        match (name, tag.closing) {
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", false) => {
                self.block(2);
                if markdown {
                    let level = usize::from(name.as_bytes()[1] - b'0');
                    self.raw(&format!("{} ", "#".repeat(level)));
                }
            }
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", true) => self.block(2),
            ("br", _) => {
                self.start_content();
                self.out.push('\n');
                self.prefix();
            }
            ("hr", false) => {
                self.block(2);
                self.raw(if markdown { "---" } else { "----------" });
                self.block(2);
            }
            ("li", false) => {
                self.block(1);
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(ListKind::Numbered(number)) => {
                        let marker = format!("{number}. ");
                        *number += 1;
                        marker
                    }
                    _ => "- ".to_string(),
                };
                self.raw(&format!("{}{marker}", "  ".repeat(depth)));
            }
            ("li", true) => self.block(1),
            ("pre", false) => {
                self.block(2);
                if markdown {
                    self.raw("```\n");
                }
                self.pre += 1;
            }
            ("pre", true) => {
                self.pre = self.pre.saturating_sub(1);
                if markdown {
                    if !self.out.ends_with('\n') {
                        self.out.push('\n');
                    }
                    self.out.push_str("```");
                }
                self.block(2);
            }
            ("blockquote", false) => {
                self.block(2);
                self.quote += 1;
            }
            ("blockquote", true) => {
                self.quote = self.quote.saturating_sub(1);
                self.block(2);
            }
            ("tr", false) => {
                self.block(1);
                self.cells = 0;
            }
            ("tr", true) => {
                if markdown && self.cells > 0 {
                    self.out.push_str(" |");
                }
                self.block(1);
            }
            ("td" | "th", false) => {
                let separator = if markdown {
                    "| "
                } else if self.cells > 0 {
                    "\t"
                } else {
                    ""
                };
                if self.cells > 0 && markdown {
                    self.out.push(' ');
                }
                self.raw(separator);
                self.cells += 1;
            }
            ("strong" | "b", _) if markdown && self.pre == 0 => self.emphasis("**"),
            ("em" | "i", _) if markdown && self.pre == 0 => self.emphasis("*"),
            ("code", _) if markdown && self.pre == 0 => self.emphasis("`"),
            ("a", false) => {
                let href = tag
                    .attribute("href")
                    .filter(|href| {
                        !href.is_empty()
                            && !href.starts_with('#')
                            && !href.starts_with("javascript:")
                    })
                    .map(|href| self.resolve(href));
                self.start_content();
                let start = self.out.len();
                self.links.push((href, start));
            }
            ("a", true) => {
                if let Some((Some(href), start)) = self.links.pop()
                    && markdown
                {
                    let text = self.out[start..].trim().to_string();
                    if !text.is_empty() {
                        self.out.truncate(start);
                        self.out.push_str(&format!("[{text}]({href})"));
                    }
                }
            }
            ("img", _) if !tag.closing => {
                let alt = tag.attribute("alt").unwrap_or("").trim().to_string();
                match (markdown, tag.attribute("src")) {
                    (true, Some(src)) if !src.starts_with("data:") => {
                        let src = self.resolve(src);
                        self.raw(&format!("![{alt}]({src})"));
                    }
                    _ if !alt.is_empty() => self.raw(&alt),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn emphasis(&mut self, mark: &str) {
        self.start_content();
        self.out.push_str(mark);
    }

    fn finish(mut self) -> String {
        let end = self.out.trim_end().len();
        self.out.truncate(end);
        let start = self.out.len() - self.out.trim_start_matches('\n').len();
        let mut text = self.out.split_off(start);
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>Docs</title><style>body { color: red }</style>
<script>if (a < b) { document.write("<p>no</p>") }</script></head>
<body>
<nav><a href="/">Home</a></nav>
<h1>The  <em>Guide</em></h1>
<p>Read the <a href="/api/index.html">API &amp; reference</a>, then
   run <code>cargo test</code>.<br>Next line.</p>
<!-- a comment <p>hidden</p> -->
<ul>
  <li>first</li>
  <li>second
    <ol><li>inner one</li><li>inner two</li></ol>
  </li>
</ul>
<pre><code>fn main() {
    println!("hi &lt;3");
}
</code></pre>
<blockquote>Quoted <strong>text</strong></blockquote>
<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
<img src="logo.png" alt="Logo">
</body></html>"#;

    #[test]
    fn html_becomes_markdown() {
        let base = reqwest::Url::parse("https://docs.example.org/guide/").unwrap();
        let markdown = convert(PAGE, Flavor::Markdown, Some(&base));
        assert_eq!(
            markdown,
            "[Home](https://docs.example.org/)

# The *Guide*

Read the [API & reference](https://docs.example.org/api/index.html), then run `cargo test`.
Next line.

- first
- second
  1. inner one
  2. inner two

```
fn main() {
    println!(\"hi <3\");
}
```

> Quoted **text**

| a | b |
| 1 | 2 |

![Logo](https://docs.example.org/guide/logo.png)
"
        );
    }

    #[test]
    fn html_becomes_plain_text() {
        let text = convert(PAGE, Flavor::Text, None);
        assert!(
            text.starts_with(
                "Home\n\nThe Guide\n\nRead the API & reference, then run cargo test.\nNext line.\n"
            ),
            "{text}"
        );
        assert!(!text.contains("color: red"));
        assert!(!text.contains("no</p>"));
        assert!(!text.contains("hidden"));
        assert!(text.contains("    println!(\"hi <3\");"), "{text}");
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            decode_entities("a &lt;b&gt; &#65;&#x42; &copy &bogus; & c"),
            "a <b> AB © &bogus; & c"
        );
    }

    #[test]
    fn broken_markup_does_not_lose_text() {
        assert_eq!(
            convert("1 < 2 and <b>bold", Flavor::Text, None),
            "1 < 2 and bold\n"
        );
        assert_eq!(
            convert("<p>open <a href='x'>never closed", Flavor::Markdown, None),
            "open never closed\n"
        );
    }
}
