//! Splitting a shell command line into the simple commands it runs, so that every one of
//! them is checked against the permission rules.
//!
//! This is a small tokenizer for the POSIX shell language as bash reads it, not a shell: it
//! splits at `|`, `|&`, `||`, `&&`, `;`, `;;`, `&` and newlines, descends into subshells
//! `( … )`, brace groups `{ …; }`, command substitutions `$( … )` and `` ` … ` `` (also
//! inside double quotes and unquoted here-documents), process substitutions `<( … )` and
//! `>( … )`, and the strings given to `bash -c`, `sh -c` and `eval`. Quotes and backslash
//! escapes are removed from words as the shell would; redirection targets are kept apart
//! (they are checked for secret paths but are not part of the command's words); control
//! words (`if`, `then`, `do`, `!`, `{`, …) are dropped; `for` and `case` headers are not
//! commands and are skipped; parameter expansions (`$VAR`) stay as written.
//!
//! It errs on the side of finding more commands: an unterminated quote or substitution runs
//! to the end of the line, and here-document bodies with a quoted delimiter are skipped while
//! unquoted ones are searched for substitutions.

/// One simple command of a command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandPart {
    /// The words after quote removal, control words and redirections left out.
    pub words: Vec<String>,
    /// Redirection targets (`> out.txt`, `< .env`): files the command touches.
    pub redirects: Vec<String>,
    /// The part as written, for prompts and messages.
    pub text: String,
}

impl CommandPart {
    /// The words without leading variable assignments (`FOO=1 cargo test`) and wrappers that
    /// run their arguments as a command (`env`, `command`, `exec`, `nohup`, `time`, `nice`,
    /// `sudo`, `doas`, `timeout 10`, `xargs`), so `sudo git push` is seen as `git push`.
    pub fn command_words(&self) -> &[String] {
        let mut words = self.words.as_slice();
        loop {
            let Some((first, rest)) = words.split_first() else {
                return words;
            };
            if is_assignment(first) {
                words = rest;
                continue;
            }
            let name = first.rsplit('/').next().unwrap_or(first);
            let takes_value: &[&str] = match name {
                "env" => &["-u", "--unset", "-C", "--chdir", "-S", "--split-string"],
                "sudo" | "doas" => &["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"],
                "nice" => &["-n", "--adjustment"],
                "timeout" => &["-s", "--signal", "-k", "--kill-after"],
                "xargs" => &["-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s"],
                "command" | "builtin" | "exec" | "nohup" | "time" | "stdbuf" | "setsid" => &[],
                _ => return words,
            };
            words = rest;
            while let Some((word, rest)) = words.split_first() {
                if word == "--" {
                    words = rest;
                    break;
                }
                if !word.starts_with('-') {
                    break;
                }
                words = rest;
                if takes_value.contains(&word.as_str())
                    && let Some((_, rest)) = words.split_first()
                {
                    words = rest;
                }
            }
            // `timeout` takes a duration before the command.
            if name == "timeout"
                && let Some((_, rest)) = words.split_first()
            {
                words = rest;
            }
        }
    }
}

/// `NAME=value`: a variable assignment, not a command.
fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// The simple commands of `line`, in order, nested ones (substitutions, `bash -c`) after
/// the command that holds them.
pub fn split_command(line: &str) -> Vec<CommandPart> {
    let mut parser = Parser {
        chars: line.chars().collect(),
        at: 0,
        parts: Vec::new(),
        depth: 0,
    };
    parser.list(None);
    parser.parts
}

/// How deep `bash -c` strings and substitutions may nest before the rest is taken as is.
const MAX_DEPTH: usize = 16;

struct Parser {
    chars: Vec<char>,
    at: usize,
    parts: Vec<CommandPart>,
    depth: usize,
}

/// The command being read.
#[derive(Default)]
struct Current {
    words: Vec<String>,
    redirects: Vec<String>,
    word: Option<String>,
    /// The next finished word is a redirection target.
    redirect_next: bool,
    /// The next finished word is a here-document delimiter.
    heredoc_next: bool,
    start: Option<usize>,
    /// Here-documents whose bodies start at the next newline: (delimiter, quoted, strip tabs).
    heredocs: Vec<(String, bool, bool)>,
    nested: Vec<CommandPart>,
}

impl Current {
    fn push_char(&mut self, c: char) {
        self.word.get_or_insert_with(String::new).push(c);
    }

    fn push_str(&mut self, text: &str) {
        self.word.get_or_insert_with(String::new).push_str(text);
    }

    fn end_word(&mut self) {
        let Some(word) = self.word.take() else {
            return;
        };
        if self.heredoc_next {
            self.heredoc_next = false;
            if let Some(last) = self.heredocs.last_mut() {
                last.0 = word;
            }
        } else if self.redirect_next {
            self.redirect_next = false;
            self.redirects.push(word);
        } else {
            self.words.push(word);
        }
    }
}

impl Parser {
    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.at + offset).copied()
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to.min(self.chars.len())]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned()
    }

    /// Reads commands until the end, or until `close` (`)`) at this level, which it consumes.
    fn list(&mut self, close: Option<char>) {
        let mut current = Current::default();
        while let Some(c) = self.peek(0) {
            if current.start.is_none() && !c.is_whitespace() {
                current.start = Some(self.at);
            }
            match c {
                ' ' | '\t' | '\r' => {
                    current.end_word();
                    self.at += 1;
                }
                '\\' if self.peek(1) == Some('\n') => self.at += 2,
                '\\' => {
                    if let Some(next) = self.peek(1) {
                        current.push_char(next);
                    }
                    self.at += 2;
                }
                '\n' => {
                    self.finish(&mut current);
                    self.at += 1;
                    self.heredoc_bodies(&mut current);
                    current = Current::default();
                }
                ';' | '&' | '|' => {
                    if c == '&' && self.peek(1) == Some('>') {
                        // `&>file`, `&>>file`: both streams to a file.
                        current.end_word();
                        self.at += if self.peek(2) == Some('>') { 3 } else { 2 };
                        current.redirect_next = true;
                        continue;
                    }
                    self.finish(&mut current);
                    self.at += 1;
                    if matches!(self.peek(0), Some('&' | '|' | ';')) {
                        self.at += 1;
                    }
                    let heredocs = std::mem::take(&mut current.heredocs);
                    current = Current {
                        heredocs,
                        ..Current::default()
                    };
                }
                ')' if close == Some(')') => {
                    self.finish(&mut current);
                    self.at += 1;
                    return;
                }
                ')' => {
                    // A stray `)` (e.g. a `case` pattern): a separator.
                    self.finish(&mut current);
                    self.at += 1;
                    current = Current::default();
                }
                '(' => {
                    // A subshell, or a function definition's `()`: either way, the commands
                    // inside run.
                    current.end_word();
                    self.at += 1;
                    self.nested_list(&mut current);
                }
                '$' if self.peek(1) == Some('(') && self.peek(2) == Some('(') => {
                    let from = self.at;
                    self.arithmetic();
                    let raw = self.text(from, self.at);
                    current.push_str(&raw);
                }
                '$' if self.peek(1) == Some('(') => {
                    let raw = self.substitution(&mut current.nested);
                    current.push_str(&raw);
                }
                '<' | '>' if self.peek(1) == Some('(') => {
                    current.end_word();
                    self.at += 1;
                    let raw = self.substitution_body(&mut current.nested);
                    current.push_str(&raw);
                    current.end_word();
                }
                '`' => {
                    let raw = self.backticks(&mut current.nested);
                    current.push_str(&raw);
                }
                '\'' => {
                    self.at += 1;
                    let mut text = String::new();
                    while let Some(c) = self.peek(0) {
                        self.at += 1;
                        if c == '\'' {
                            break;
                        }
                        text.push(c);
                    }
                    current.push_str(&text);
                }
                '"' => {
                    self.at += 1;
                    let text = self.double_quoted(&mut current.nested);
                    current.push_str(&text);
                }
                '#' if current.word.is_none() => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.at += 1;
                    }
                }
                '<' | '>' => self.redirection(&mut current),
                c => {
                    current.push_char(c);
                    self.at += 1;
                }
            }
        }
        self.finish(&mut current);
    }

    /// A `( … )` group: its commands are parts of their own.
    fn nested_list(&mut self, current: &mut Current) {
        if self.depth >= MAX_DEPTH {
            return;
        }
        self.depth += 1;
        let outer = std::mem::take(&mut self.parts);
        self.list(Some(')'));
        let inner = std::mem::replace(&mut self.parts, outer);
        current.nested.extend(inner);
        self.depth -= 1;
    }

    /// `$( … )` at the cursor: its commands go to `nested`; returns the raw text.
    fn substitution(&mut self, nested: &mut Vec<CommandPart>) -> String {
        self.at += 1;
        self.substitution_body(nested)
    }

    /// After a `$`, `<` or `>`, at the `(`.
    fn substitution_body(&mut self, nested: &mut Vec<CommandPart>) -> String {
        let from = self.at.saturating_sub(1);
        self.at += 1;
        let mut current = Current::default();
        self.nested_list(&mut current);
        nested.extend(current.nested);
        self.text(from, self.at)
    }

    /// `$(( … ))`: arithmetic, skipped to its closing parentheses.
    fn arithmetic(&mut self) {
        self.at += 3;
        let mut depth = 2usize;
        while let Some(c) = self.peek(0) {
            self.at += 1;
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// `` ` … ` `` at the cursor: its commands go to `nested`; returns the raw text.
    fn backticks(&mut self, nested: &mut Vec<CommandPart>) -> String {
        let from = self.at;
        self.at += 1;
        let mut inner = String::new();
        while let Some(c) = self.peek(0) {
            self.at += 1;
            match c {
                '`' => break,
                '\\' => {
                    if let Some(next) = self.peek(0) {
                        self.at += 1;
                        if !matches!(next, '`' | '\\' | '$') {
                            inner.push('\\');
                        }
                        inner.push(next);
                    }
                }
                c => inner.push(c),
            }
        }
        if self.depth < MAX_DEPTH {
            nested.extend(self.split_nested(&inner));
        }
        self.text(from, self.at)
    }

    /// Splits a string that is itself a command line (backticks, `bash -c`, `eval`).
    fn split_nested(&self, line: &str) -> Vec<CommandPart> {
        let mut parser = Parser {
            chars: line.chars().collect(),
            at: 0,
            parts: Vec::new(),
            depth: self.depth + 1,
        };
        parser.list(None);
        parser.parts
    }

    /// The inside of `"…"` after the opening quote, through the closing one.
    fn double_quoted(&mut self, nested: &mut Vec<CommandPart>) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek(0) {
            match c {
                '"' => {
                    self.at += 1;
                    break;
                }
                '\\' => {
                    match self.peek(1) {
                        Some('\n') => {}
                        Some(next @ ('"' | '\\' | '$' | '`')) => text.push(next),
                        Some(next) => {
                            text.push('\\');
                            text.push(next);
                        }
                        None => text.push('\\'),
                    }
                    self.at += 2;
                }
                '$' if self.peek(1) == Some('(') && self.peek(2) == Some('(') => {
                    let from = self.at;
                    self.arithmetic();
                    text.push_str(&self.text(from, self.at));
                }
                '$' if self.peek(1) == Some('(') => text.push_str(&self.substitution(nested)),
                '`' => text.push_str(&self.backticks(nested)),
                c => {
                    text.push(c);
                    self.at += 1;
                }
            }
        }
        text
    }

    /// A redirection operator at the cursor (after an optional fd number in the word).
    fn redirection(&mut self, current: &mut Current) {
        // `2>file`: the digits were an fd number, not a word.
        if current
            .word
            .as_deref()
            .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
        {
            current.word = None;
        } else {
            current.end_word();
        }
        let first = self.chars[self.at];
        self.at += 1;
        match (first, self.peek(0)) {
            ('<', Some('<')) => {
                self.at += 1;
                if self.peek(0) == Some('<') {
                    // `<<< word`: a here-string, whose word is data.
                    self.at += 1;
                    current.redirect_next = true;
                    return;
                }
                let strip = self.peek(0) == Some('-');
                if strip {
                    self.at += 1;
                }
                while matches!(self.peek(0), Some(' ' | '\t')) {
                    self.at += 1;
                }
                let quoted = matches!(self.peek(0), Some('\'' | '"'))
                    || self.chars[self.at..]
                        .iter()
                        .take_while(|c| !c.is_whitespace())
                        .any(|c| matches!(c, '\'' | '"' | '\\'));
                current.heredocs.push((String::new(), quoted, strip));
                current.heredoc_next = true;
            }
            (_, Some('&')) => {
                // `>&2`, `<&0`, `>&-`: a descriptor, not a file (but `>&file` is one).
                self.at += 1;
                let fd = self.chars[self.at..]
                    .iter()
                    .take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '|' | '&' | ')'))
                    .all(|c| c.is_ascii_digit() || *c == '-');
                if fd {
                    while self.peek(0).is_some_and(|c| c.is_ascii_digit() || c == '-') {
                        self.at += 1;
                    }
                } else {
                    current.redirect_next = true;
                }
            }
            (_, Some('>' | '|')) => {
                self.at += 1;
                current.redirect_next = true;
            }
            _ => current.redirect_next = true,
        }
    }

    /// After a newline: the bodies of pending here-documents.
    fn heredoc_bodies(&mut self, current: &mut Current) {
        for (delimiter, quoted, strip) in std::mem::take(&mut current.heredocs) {
            let delimiter: String = delimiter
                .chars()
                .filter(|c| !matches!(c, '\'' | '"' | '\\'))
                .collect();
            let mut body = String::new();
            while self.at < self.chars.len() {
                let end = self.chars[self.at..]
                    .iter()
                    .position(|c| *c == '\n')
                    .map_or(self.chars.len(), |offset| self.at + offset);
                let line: String = self.chars[self.at..end].iter().collect();
                self.at = (end + 1).min(self.chars.len());
                let compared = if strip {
                    line.trim_start_matches('\t')
                } else {
                    line.as_str()
                };
                if compared == delimiter {
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            if !quoted && self.depth < MAX_DEPTH {
                // An unquoted body expands `$( … )` and backticks: look for them.
                let mut inner = Parser {
                    chars: body.chars().collect(),
                    at: 0,
                    parts: Vec::new(),
                    depth: self.depth + 1,
                };
                let mut nested = Vec::new();
                while inner.at < inner.chars.len() {
                    inner.double_quoted(&mut nested);
                }
                self.parts.extend(nested);
            }
        }
    }

    /// Ends the current command: its part, then the parts nested in it.
    fn finish(&mut self, current: &mut Current) {
        current.end_word();
        let end = self.at;
        let words = strip_control_words(std::mem::take(&mut current.words));
        let redirects = std::mem::take(&mut current.redirects);
        let text = current
            .start
            .take()
            .map(|start| self.text(start, end))
            .unwrap_or_default();
        let mut inner = Vec::new();
        if let Some(line) = shell_string(&words)
            && self.depth < MAX_DEPTH
        {
            inner = self.split_nested(&line);
        }
        let is_header = matches!(
            words.first().map(String::as_str),
            Some("for" | "select" | "case" | "in" | "esac" | "function")
        );
        let only_assignments = words.iter().all(|w| is_assignment(w));
        // A command runs something; `> file` alone still touches a file.
        if (!is_header && !only_assignments) || !redirects.is_empty() {
            self.parts.push(CommandPart {
                words,
                redirects,
                text,
            });
        }
        self.parts.append(&mut current.nested);
        self.parts.extend(inner);
    }
}

/// Drops the shell's control words at the start (and closing words) of a command.
fn strip_control_words(words: Vec<String>) -> Vec<String> {
    const LEADING: [&str; 12] = [
        "!", "{", "}", "if", "then", "else", "elif", "do", "while", "until", "fi", "done",
    ];
    let skip = words
        .iter()
        .take_while(|w| LEADING.contains(&w.as_str()))
        .count();
    let mut words: Vec<String> = words.into_iter().skip(skip).collect();
    if words.last().is_some_and(|w| w == "}") {
        words.pop();
    }
    words
}

/// The command line inside `bash -c '…'`, `sh -c …` or `eval …`, if `words` is one.
fn shell_string(words: &[String]) -> Option<String> {
    let part = CommandPart {
        words: words.to_vec(),
        ..CommandPart::default()
    };
    let words = part.command_words();
    let (program, rest) = words.split_first()?;
    let name = program.rsplit('/').next().unwrap_or(program);
    match name {
        "eval" if !rest.is_empty() => Some(rest.join(" ")),
        "bash" | "sh" | "zsh" | "dash" | "ksh" | "ash" => {
            let at = rest
                .iter()
                .position(|w| w.starts_with('-') && !w.starts_with("--") && w.contains('c'))?;
            rest.get(at + 1).cloned()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// The parts' words, each joined by spaces.
    fn parts(line: &str) -> Vec<String> {
        split_command(line)
            .iter()
            .map(|part| part.words.join(" "))
            .collect()
    }

    #[test]
    fn operators_split_simple_commands() {
        assert_eq!(parts("ls -la"), ["ls -la"]);
        assert_eq!(parts("a | b |& c"), ["a", "b", "c"]);
        assert_eq!(parts("a && b || c"), ["a", "b", "c"]);
        assert_eq!(parts("a; b;; c"), ["a", "b", "c"]);
        assert_eq!(parts("a & b"), ["a", "b"]);
        assert_eq!(parts("a\nb\n\nc"), ["a", "b", "c"]);
        assert_eq!(parts("echo ok&&git push"), ["echo ok", "git push"]);
    }

    #[test]
    fn quotes_keep_operators_inside_words() {
        assert_eq!(parts(r#"echo "a && b""#), ["echo a && b"]);
        assert_eq!(parts("echo 'a; b | c'"), ["echo a; b | c"]);
        assert_eq!(parts(r"echo a\;b \&\& c"), ["echo a;b && c"]);
        assert_eq!(
            parts(r#"echo "say \"hi\" && go""#),
            [r#"echo say "hi" && go"#]
        );
        assert_eq!(parts(r#"g"it" 'pu'sh"#), ["git push"]);
        assert_eq!(parts("echo 'it''s'"), ["echo its"]);
        assert_eq!(parts("echo \"a\\\nb\""), ["echo ab"]);
    }

    #[test]
    fn subshells_and_groups_are_descended() {
        assert_eq!(parts("(cd x && git push)"), ["cd x", "git push"]);
        assert_eq!(parts("{ git push; }"), ["git push"]);
        assert_eq!(parts("a && (b; (c))"), ["a", "b", "c"]);
        assert_eq!(parts("if git pull; then make; fi"), ["git pull", "make"]);
        assert_eq!(parts("while true; do rm x; done"), ["true", "rm x"]);
        assert_eq!(parts("for f in a b; do cat $f; done"), ["cat $f"]);
        assert_eq!(parts("! git push"), ["git push"]);
    }

    #[test]
    fn command_substitutions_are_commands_too() {
        assert_eq!(parts("echo $(git push)"), ["echo $(git push)", "git push"]);
        assert_eq!(parts("echo `git push`"), ["echo `git push`", "git push"]);
        assert_eq!(
            parts(r#"echo "today: $(date) and `whoami`""#),
            ["echo today: $(date) and `whoami`", "date", "whoami"]
        );
        assert_eq!(parts("x=$(cat .env)"), ["cat .env"]);
        assert_eq!(parts("echo $(a $(b))"), ["echo $(a $(b))", "a $(b)", "b"]);
        assert_eq!(
            parts("diff <(sort a) >(tee b)"),
            ["diff <(sort a) >(tee b)", "sort a", "tee b"]
        );
        assert_eq!(parts("echo $((1 + 2))"), ["echo $((1 + 2))"]);
        assert_eq!(parts("echo '$(git push)'"), ["echo $(git push)"]);
        assert_eq!(parts(r"echo \$(git push)"), ["echo $", "git push"]);
    }

    #[test]
    fn shell_strings_and_eval_are_split_too() {
        assert_eq!(
            parts("bash -c 'echo hi && git push'"),
            ["bash -c echo hi && git push", "echo hi", "git push"]
        );
        assert_eq!(
            parts("sh -ec \"rm -rf /\""),
            ["sh -ec rm -rf /", "rm -rf /"]
        );
        assert_eq!(parts("eval git push"), ["eval git push", "git push"]);
    }

    #[test]
    fn redirections_are_kept_apart_from_words() {
        let split = split_command("cat < .env > out.txt 2>&1");
        assert_eq!(split[0].words, ["cat"]);
        assert_eq!(split[0].redirects, [".env", "out.txt"]);
        let split = split_command("grep x 2>/dev/null >>log &>all");
        assert_eq!(split[0].words, ["grep", "x"]);
        assert_eq!(split[0].redirects, ["/dev/null", "log", "all"]);
        assert_eq!(split_command("> empty.txt")[0].redirects, ["empty.txt"]);
    }

    #[test]
    fn here_documents_are_data_unless_they_substitute() {
        assert_eq!(
            parts("cat > notes.md <<'EOF'\nrm -rf / && git push\nEOF\necho done"),
            ["cat", "echo done"]
        );
        assert_eq!(
            parts("cat <<EOF\nkey: $(cat .env)\nEOF"),
            ["cat", "cat .env"]
        );
        assert_eq!(parts("cat <<-END\n\tx\n\tEND\nls"), ["cat", "ls"]);
        assert_eq!(parts("tr a b <<< 'git push'"), ["tr a b"]);
    }

    #[test]
    fn comments_and_assignments() {
        assert_eq!(parts("ls # && git push"), ["ls"]);
        assert_eq!(parts("echo a#b"), ["echo a#b"]);
        assert_eq!(parts("FOO=1"), Vec::<String>::new());
        assert_eq!(parts("FOO=1 cargo test"), ["FOO=1 cargo test"]);
    }

    #[test]
    fn unterminated_input_runs_to_the_end() {
        assert_eq!(parts("echo \"a && b"), ["echo a && b"]);
        assert_eq!(parts("echo $(git push"), ["echo $(git push", "git push"]);
        assert_eq!(parts("echo 'x"), ["echo x"]);
    }

    #[test]
    fn wrappers_and_assignments_are_seen_through() {
        let words = |line: &str| split_command(line)[0].command_words().join(" ");
        assert_eq!(words("FOO=1 BAR=2 git push"), "git push");
        assert_eq!(words("sudo -u root git push"), "git push");
        assert_eq!(words("env -i PATH=/bin git push"), "git push");
        assert_eq!(words("timeout -s KILL 10 nice -n 5 git push"), "git push");
        assert_eq!(words("command -- git push"), "git push");
        assert_eq!(words("/usr/bin/env git push"), "git push");
        assert_eq!(words("cargo test"), "cargo test");
    }

    #[test]
    fn any_input_ends_without_panicking() {
        // Shell syntax fragments in pseudo-random order, including every unterminated form.
        const PIECES: [&str; 28] = [
            "a", " ", "'", "\"", "\\", "$(", "$((", "`", "(", ")", "{", "}", ";", "&", "|", "\n",
            "<", ">", "<<", "<<-", "<<<", ">&", "2>", "&>", "#", "=", "-c", "bash",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..3000 {
            let mut line = String::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                line.push_str(PIECES[(state % PIECES.len() as u64) as usize]);
            }
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let _ = split_command(&line);
        }
        for line in [
            "a \\", "echo $(", "cat <<", "x >&", "x 2>", "$((1", "(", ")", "&>", "<<'E",
        ] {
            let _ = split_command(line);
        }
    }

    #[test]
    fn part_text_is_the_source_as_written() {
        let split = split_command("echo  'a'  &&  git push --force ; ls");
        let texts: Vec<&str> = split.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["echo  'a'", "git push --force", "ls"]);
    }
}
