//! A small glob matcher for permission rules on paths (and URLs), written here because the
//! engine builds for wasm32 and needs nothing more than this.
//!
//! Syntax: `*` matches any run of characters except `/`; `**` as a whole path segment
//! (`**/`, `/**`, or the whole pattern) matches any number of segments, none included; `?`
//! one character except `/`; `[abc]`, `[a-z]`, `[!a-z]` (or `[^a-z]`) one character of (not
//! of) the set; `{a,b}` either alternative (nesting allowed); `\x` the character `x`.
//! Matching is case-sensitive.

/// Whether `pattern` matches the whole of `text`; `/` separates segments.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    expand_braces(pattern)
        .iter()
        .any(|alternative| Matcher::new(alternative, text, true).run())
}

/// Whether `pattern` matches the whole of `text` with `*` crossing `/` too (for URLs).
pub(crate) fn matches_anywhere(pattern: &str, text: &str) -> bool {
    expand_braces(pattern)
        .iter()
        .any(|alternative| Matcher::new(alternative, text, false).run())
}

/// Whether `text` holds any glob syntax (so it is not a plain, exact name).
pub(crate) fn has_wildcards(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// One pattern against one text. Results are memoized by position, so a pattern full of
/// stars (the model writes some of the globs checked here) costs at most pattern × text
/// steps instead of exponentially many.
struct Matcher {
    pattern: Vec<char>,
    text: Vec<char>,
    segments: bool,
    memo: Vec<Option<bool>>,
}

impl Matcher {
    fn new(pattern: &str, text: &str, segments: bool) -> Self {
        let pattern: Vec<char> = pattern.chars().collect();
        let text: Vec<char> = text.chars().collect();
        let memo = vec![None; (pattern.len() + 1) * (text.len() + 1)];
        Matcher {
            pattern,
            text,
            segments,
            memo,
        }
    }

    fn run(&mut self) -> bool {
        self.at(0, 0)
    }

    fn at(&mut self, p: usize, t: usize) -> bool {
        let slot = p * (self.text.len() + 1) + t;
        if let Some(known) = self.memo[slot] {
            return known;
        }
        let result = self.step(p, t);
        self.memo[slot] = Some(result);
        result
    }

    fn is_separator(&self, t: usize) -> bool {
        self.segments && self.text.get(t) == Some(&'/')
    }

    fn step(&mut self, p: usize, t: usize) -> bool {
        let Some(&first) = self.pattern.get(p) else {
            return t == self.text.len();
        };
        match first {
            '*' if self.segments && self.pattern.get(p + 1) == Some(&'*') => {
                // `**`: a whole segment matches any number of segments.
                match self.pattern.get(p + 2) {
                    None => true,
                    Some('/') => {
                        // `**/tail`: tail here, or after any later `/`.
                        self.at(p + 3, t)
                            || (t..self.text.len())
                                .any(|at| self.text[at] == '/' && self.at(p + 3, at + 1))
                    }
                    // `**x` is just two stars: any run within the segment.
                    Some(_) => self.star(p + 2, t),
                }
            }
            '*' => self.star(p + 1, t),
            '?' => t < self.text.len() && !self.is_separator(t) && self.at(p + 1, t + 1),
            '[' => match class(&self.pattern[p + 1..]) {
                Some((matcher, used)) => {
                    t < self.text.len()
                        && !self.is_separator(t)
                        && matcher(self.text[t])
                        && self.at(p + 1 + used, t + 1)
                }
                // An unclosed `[` is a literal.
                None => self.text.get(t) == Some(&'[') && self.at(p + 1, t + 1),
            },
            '\\' if p + 1 < self.pattern.len() => {
                self.text.get(t) == Some(&self.pattern[p + 1]) && self.at(p + 2, t + 1)
            }
            literal => self.text.get(t) == Some(&literal) && self.at(p + 1, t + 1),
        }
    }

    /// A `*` followed by the pattern at `p`: every split that does not cross `/` (when
    /// matching segments).
    fn star(&mut self, p: usize, t: usize) -> bool {
        for at in t..=self.text.len() {
            if self.at(p, at) {
                return true;
            }
            if self.is_separator(at) {
                return false;
            }
        }
        false
    }
}

/// Parses a character class after its `[`; returns the matcher and how many pattern
/// characters it used, the closing `]` included.
#[expect(clippy::type_complexity, reason = "a local closure type")]
fn class(pattern: &[char]) -> Option<(Box<dyn Fn(char) -> bool>, usize)> {
    let (negated, mut at) = match pattern.first() {
        Some('!' | '^') => (true, 1),
        _ => (false, 0),
    };
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *pattern.get(at)?;
        if c == ']' && !first {
            break;
        }
        first = false;
        if pattern.get(at + 1) == Some(&'-') && pattern.get(at + 2).is_some_and(|c| *c != ']') {
            ranges.push((c, pattern[at + 2]));
            at += 3;
        } else {
            ranges.push((c, c));
            at += 1;
        }
    }
    let matcher = move |c: char| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != negated;
    Some((Box::new(matcher), at + 1))
}

/// `a{b,c}d` → `abd`, `acd`; nested braces expand too. Unbalanced braces stay literal.
fn expand_braces(pattern: &str) -> Vec<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut depth = 0usize;
    let mut open = None;
    let mut commas = Vec::new();
    let mut escaped = false;
    for (at, c) in chars.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '{' => {
                if depth == 0 {
                    open = Some(at);
                    commas.clear();
                }
                depth += 1;
            }
            ',' if depth == 1 => commas.push(at),
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0
                    && let Some(start) = open
                {
                    let prefix: String = chars[..start].iter().collect();
                    let suffix: String = chars[at + 1..].iter().collect();
                    let mut bounds = vec![start];
                    bounds.extend(&commas);
                    bounds.push(at);
                    let mut out = Vec::new();
                    for pair in bounds.windows(2) {
                        let middle: String = chars[pair[0] + 1..pair[1]].iter().collect();
                        for tail in expand_braces(&format!("{middle}{suffix}")) {
                            out.push(format!("{prefix}{tail}"));
                        }
                    }
                    return out;
                }
            }
            _ => {}
        }
    }
    vec![pattern.to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_stay_within_a_segment_and_double_stars_cross_them() {
        assert!(matches("*.rs", "main.rs"));
        assert!(!matches("*.rs", "src/main.rs"));
        assert!(matches("src/*.rs", "src/main.rs"));
        assert!(!matches("src/*.rs", "src/bin/main.rs"));
        assert!(matches("src/**/*.rs", "src/main.rs"));
        assert!(matches("src/**/*.rs", "src/bin/deep/main.rs"));
        assert!(matches("**/.env", ".env"));
        assert!(matches("**/.env", "/home/u/p/.env"));
        assert!(matches("/home/u/.ssh/**", "/home/u/.ssh/id_rsa"));
        assert!(matches("/home/u/.ssh/**", "/home/u/.ssh/keys/a"));
        assert!(!matches("/home/u/.ssh/**", "/home/u/.sshx/a"));
        assert!(matches("**", "a/b/c"));
        assert!(matches("a**b", "axxb"));
        assert!(!matches("a**b", "a/b"));
    }

    #[test]
    fn question_marks_classes_braces_and_escapes() {
        assert!(matches("id_?sa", "id_rsa"));
        assert!(!matches("?", "/"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[!a-c]x", "bx"));
        assert!(matches("[^a-c]x", "dx"));
        assert!(matches("[]]", "]"));
        assert!(matches("*.{pem,key}", "server.key"));
        assert!(matches("*.{pem,key}", "server.pem"));
        assert!(!matches("*.{pem,key}", "server.crt"));
        assert!(matches("{a,b{c,d}}e", "bde"));
        assert!(matches(r"\*", "*"));
        assert!(!matches(r"\*", "x"));
        assert!(matches("[unclosed", "[unclosed"));
        assert!(matches("{open", "{open"));
    }

    #[test]
    fn url_matching_lets_stars_cross_slashes() {
        assert!(matches_anywhere(
            "https://docs.rs/*",
            "https://docs.rs/serde/latest"
        ));
        assert!(!matches_anywhere(
            "https://docs.rs/*",
            "https://evil.example/docs.rs/"
        ));
    }

    #[test]
    fn many_stars_stay_cheap() {
        let pattern = "*a".repeat(40) + "b";
        let text = "a".repeat(200);
        assert!(!matches(&pattern, &text));
        assert!(!matches_anywhere(&pattern, &text));
        assert!(matches(&pattern, &("a".repeat(60) + "b")));
    }

    #[test]
    fn wildcards_are_recognised() {
        assert!(has_wildcards("src/**"));
        assert!(has_wildcards("*.{a,b}"));
        assert!(!has_wildcards(".env"));
    }
}
