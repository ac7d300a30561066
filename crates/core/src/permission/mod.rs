//! Whether a tool call may run: allow, ask the user first, or deny.
//!
//! # Rules
//!
//! A [`PermissionRule`] names a tool (`"bash"`, `"write"`, or `"*"` for all), an optional
//! pattern and an action. Rules are evaluated in this order, and **the last matching rule
//! wins**:
//!
//! 1. the built-in defaults: reads inside the workspace (or a `tools.allowed_paths`
//!    directory) are allowed, reads elsewhere ask; writes and commands ask;
//! 2. the built-in secret rules, which deny every tool: `.env` and `.env.*` files (but not
//!    `.env.example`, `.env.sample` or `.env.template`), private keys (`*.pem`, `*.key`,
//!    `id_rsa*`, `id_ed25519*`, `id_ecdsa*`, `id_dsa*`), anything under a `.ssh` directory
//!    (`~/.ssh/**` included) and Code Mesh's own credential store files;
//! 3. the user's rules (`[permissions] rules` in config), in the order written;
//! 4. the session's rules, added when the user answers "allow always"
//!    ([`PermissionPolicy::record`] also returns them as config rules, which a front end may
//!    save; see `saved.rs`).
//!
//! A user rule may re-allow (or downgrade to ask) a secret only with an *exact* pattern: no
//! wildcard, naming the path itself (`pattern = "config/.env.test"`) or the whole simple
//! command (`pattern = "cp .env.example .env"`). Broad rules such as `{ tool = "*", action =
//! "allow" }` or `{ tool = "bash", pattern = "cat*", action = "allow" }` never reach secrets.
//! A deny rule always applies.
//!
//! `--yes` (auto-approve) turns the final "ask" into "allow"; it never overrides a deny.
//!
//! # Patterns
//!
//! What a pattern is matched against comes from [`Tool::permission_target`]:
//!
//! - **Paths** (file tools): a glob (see `glob.rs`: `*`, `**`, `?`, `[…]`, `{a,b}`). Each
//!   path is resolved against the working directory (`~` and `$HOME` expanded, `.` and `..`
//!   removed lexically; symlinks are not followed here, the tools' own path policy does
//!   that). A pattern without `/` matches the file name in any directory (`*.pem`, `.env`); a
//!   pattern starting with `/` or `~/` matches the absolute path; any other pattern matches
//!   the path relative to the workspace (`src/**`); a pattern ending in `/` means everything
//!   inside. As in `.gitignore`, a pattern that matches a directory covers everything in it.
//! - **Commands** (`bash`): a word prefix. The command line is split into simple commands
//!   (see [`split_command`]) and each is checked on its own. The pattern's words must match
//!   the command's first words one for one (`*` inside a word matches any characters, a
//!   final word `*` any further words); the command may have more words after them. So
//!   `git push*` matches `git push`, `git push --force origin` and `git pushall`, `cargo
//!   test` matches `cargo test --release` but not `cargo testing`, and `rm -rf *` matches
//!   `rm -rf` with any arguments. Leading `VAR=value` assignments and wrappers (`sudo`,
//!   `env`, `timeout 10`, `nice`, …) are looked through, and the program may be given with
//!   its directory (`/usr/bin/git push`).
//! - **URLs**: a glob on the whole URL where `*` also crosses `/` (`https://docs.rs/*`).
//! - A rule without a pattern matches every call of its tool; a rule with a pattern never
//!   matches a call that has no target.
//!
//! # Compound commands
//!
//! Every simple command must pass: if any part is denied the call is denied, naming the
//! part and the rule; otherwise if any part needs approval the user is asked once, with the
//! parts listed; only if every part is allowed does the call run without asking.
//!
//! # Secrets in commands (best effort)
//!
//! A command part is denied when one of its words or redirection targets names a secret
//! path (`cat .env`, `cp ~/.ssh/id_rsa x`, `source .env`, `--env-file=.env`, `< .env`), also
//! through a glob that would match one (`cat .e*`, `cat *.pem`, `cat ~/.ssh/*`). Any word
//! naming such a path counts, so `echo .env` and `cp .env.example .env` are denied too (an
//! exact rule can allow them). It cannot see paths built at run time (`cat $(echo .e)nv`, variables, scripts that read files
//! themselves, `grep -r TOKEN .`); the sandbox's denied paths are what stops those.

mod glob;
mod saved;
mod shell;

use std::path::{Path, PathBuf};

use code_mesh_protocol::{PermissionDecision, PermissionSource, ToolKind};

pub use code_mesh_protocol::config::{PermissionAction, PermissionRule};
pub use shell::{CommandPart, split_command};

use crate::PermissionTarget;

/// A user's rule and where it was written, e.g. `/p/code-mesh.toml:3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfiguredRule {
    pub rule: PermissionRule,
    /// Where the rule was set, for messages ("from /p/code-mesh.toml:3").
    pub source: String,
}

/// What the permission policy is configured with (`SessionConfig::permissions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PermissionSettings {
    /// The user's rules, evaluated after the built-in ones, in order.
    pub rules: Vec<ConfiguredRule>,
    /// The user's home directory, for `~` in paths and patterns and for `~/.ssh`.
    pub home: Option<PathBuf>,
    /// Files holding Code Mesh's own secrets (the credential store), denied like `.env`.
    pub protected_paths: Vec<PathBuf>,
}

/// The session's permission state: settings, places and "allow always" answers.
#[derive(Clone, Debug)]
pub struct PermissionPolicy {
    auto_approve: bool,
    settings: PermissionSettings,
    workspace: String,
    cwd: String,
    allowed: Vec<String>,
    home: Option<String>,
    protected: Vec<String>,
    session: Vec<SessionRule>,
}

/// What the policy says about one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Run it. `rule` says which rule (or `--yes`) allowed it.
    Allow {
        source: PermissionSource,
        rule: String,
    },
    /// Ask the user; `parts` are the targets that need approval (command parts, paths).
    Ask { rule: String, parts: Vec<String> },
    /// Refuse it: `subject` (a command part or path) was denied, `reason` says by what,
    /// e.g. "denied by rule `bash: git push*` from /p/code-mesh.toml:3".
    Deny {
        rule: String,
        subject: String,
        reason: String,
    },
}

/// One thing a call touches, checked on its own.
enum Subject {
    Path {
        raw: String,
        absolute: String,
        relative: Option<String>,
    },
    Command(CommandPart),
    Url(String),
    /// A call without a target: only rules without a pattern apply.
    Whole,
}

impl Subject {
    fn describe(&self, tool: &str) -> String {
        match self {
            Subject::Path { raw, .. } => raw.clone(),
            Subject::Command(part) => part.text.clone(),
            Subject::Url(url) => url.clone(),
            Subject::Whole => tool.to_owned(),
        }
    }
}

/// The decision on one subject and the rule that made it.
struct Outcome {
    action: PermissionAction,
    /// The rule, for the audit log: "rule `bash: git push*` from …", "default: …".
    label: String,
    /// For denials: what the model and the user are told.
    reason: String,
}

/// A rule added by an "allow always" answer; literal, never a glob.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SessionRule {
    tool: String,
    scope: SessionScope,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SessionScope {
    /// Every call of the tool (it has no target).
    Whole,
    /// Commands starting with these words.
    Words(Vec<String>),
    /// Paths inside this absolute directory.
    Directory(String),
    /// URLs starting with this prefix (`https://host/`).
    UrlPrefix(String),
}

impl SessionRule {
    fn describe(&self) -> String {
        let pattern = match &self.scope {
            SessionScope::Whole => return format!("`{}`", self.tool),
            SessionScope::Words(words) => format!("{}*", words.join(" ")),
            SessionScope::Directory(dir) => format!("{}/**", dir.trim_end_matches('/')),
            SessionScope::UrlPrefix(prefix) => format!("{prefix}*"),
        };
        format!("`{}: {pattern}`", self.tool)
    }
}

impl PermissionPolicy {
    /// A policy for a session in `workspace` started from `cwd`, where the file tools may
    /// also reach `allowed_paths`. Paths should be absolute (canonical).
    pub fn new(
        auto_approve: bool,
        settings: PermissionSettings,
        workspace: &Path,
        cwd: &Path,
        allowed_paths: &[PathBuf],
    ) -> Self {
        let text = |path: &Path| normalize(&path.to_string_lossy(), "/", None);
        let home = settings.home.as_deref().map(text);
        let protected = settings.protected_paths.iter().map(|p| text(p)).collect();
        PermissionPolicy {
            auto_approve,
            workspace: text(workspace),
            cwd: text(cwd),
            allowed: allowed_paths.iter().map(|p| text(p)).collect(),
            home,
            protected,
            settings,
            session: Vec::new(),
        }
    }

    /// The verdict on a call of `tool` (of `kind`) touching `target`.
    pub fn evaluate(&self, tool: &str, kind: ToolKind, target: &PermissionTarget) -> Verdict {
        let mut asks: Vec<(String, String)> = Vec::new();
        let mut allowed_by: Vec<String> = Vec::new();
        for subject in self.subjects(target) {
            let outcome = self.decide(tool, kind, &subject);
            match outcome.action {
                PermissionAction::Deny => {
                    return Verdict::Deny {
                        rule: outcome.label,
                        subject: subject.describe(tool),
                        reason: outcome.reason,
                    };
                }
                PermissionAction::Ask => asks.push((subject.describe(tool), outcome.label)),
                PermissionAction::Allow => {
                    if !allowed_by.contains(&outcome.label) {
                        allowed_by.push(outcome.label);
                    }
                }
            }
        }
        if asks.is_empty() {
            return Verdict::Allow {
                source: PermissionSource::Policy,
                rule: allowed_by.join("; "),
            };
        }
        let mut rules: Vec<String> = Vec::new();
        for (_, label) in &asks {
            if !rules.contains(label) {
                rules.push(label.clone());
            }
        }
        let rule = rules.join("; ");
        if self.auto_approve {
            Verdict::Allow {
                source: PermissionSource::AutoApprove,
                rule: format!("--yes over {rule}"),
            }
        } else {
            Verdict::Ask {
                rule,
                parts: asks.into_iter().map(|(part, _)| part).collect(),
            }
        }
    }

    /// Remembers a user's answer that outlives the call: "allow always" allows the same tool
    /// on the same target prefix (the command's program and subcommand, the file's
    /// directory, the URL's host) for the rest of the session, or the whole tool when the
    /// call has no target.
    ///
    /// Returns the config rules that allow what was remembered, for a front end that offers
    /// to keep the answer beyond the session (written to `[permissions] rules`, each allows
    /// every call the session rule allows). A session rule no config pattern can state
    /// safely (an empty command, one without a program word) is kept for the session only.
    pub fn record(
        &mut self,
        tool: &str,
        kind: ToolKind,
        target: &PermissionTarget,
        decision: PermissionDecision,
    ) -> Vec<PermissionRule> {
        let mut remembered = Vec::new();
        if decision != PermissionDecision::AllowAlways {
            return remembered;
        }
        for subject in self.subjects(target) {
            // Only what needed the answer; a denied part stays denied.
            if self.decide(tool, kind, &subject).action != PermissionAction::Ask {
                continue;
            }
            let scope = match &subject {
                Subject::Whole => SessionScope::Whole,
                Subject::Command(part) => SessionScope::Words(command_prefix(part)),
                Subject::Path { absolute, .. } => {
                    let parent = absolute
                        .rsplit_once('/')
                        .map_or("/", |(dir, _)| if dir.is_empty() { "/" } else { dir });
                    SessionScope::Directory(parent.to_owned())
                }
                Subject::Url(url) => SessionScope::UrlPrefix(url_prefix(url)),
            };
            let rule = SessionRule {
                tool: tool.to_owned(),
                scope,
            };
            // A command or path list with nothing in it is not a call without target: a rule
            // without pattern would allow far more than the session rule does.
            let stateable =
                !matches!(rule.scope, SessionScope::Whole) || *target == PermissionTarget::None;
            if stateable
                && let Some(config_rule) = saved::config_rule(&rule)
                && !remembered.contains(&config_rule)
            {
                remembered.push(config_rule);
            }
            if !self.session.contains(&rule) {
                self.session.push(rule);
            }
        }
        remembered
    }

    fn subjects(&self, target: &PermissionTarget) -> Vec<Subject> {
        let subjects: Vec<Subject> = match target {
            PermissionTarget::None => Vec::new(),
            PermissionTarget::Paths(paths) => paths
                .iter()
                .map(|raw| {
                    let absolute = normalize(raw, &self.cwd, self.home.as_deref());
                    let relative = relative_to(&absolute, &self.workspace);
                    Subject::Path {
                        raw: raw.clone(),
                        absolute,
                        relative,
                    }
                })
                .collect(),
            PermissionTarget::Command(line) => split_command(line)
                .into_iter()
                .map(Subject::Command)
                .collect(),
            PermissionTarget::Url(url) => vec![Subject::Url(url.clone())],
        };
        if subjects.is_empty() {
            vec![Subject::Whole]
        } else {
            subjects
        }
    }

    /// Built-in defaults, secrets, user rules, session rules: the last match wins.
    fn decide(&self, tool: &str, kind: ToolKind, subject: &Subject) -> Outcome {
        let mut outcome = self.default_outcome(kind, subject);
        let secret = self.secret(subject);
        if let Some(why) = secret {
            outcome = Outcome {
                action: PermissionAction::Deny,
                label: format!("default: {why}"),
                reason: format!("denied: {why}"),
            };
        }
        for configured in &self.settings.rules {
            let rule = &configured.rule;
            if !self.rule_matches(rule, tool, subject) {
                continue;
            }
            if secret.is_some()
                && rule.action != PermissionAction::Deny
                && !self.rule_is_exact(rule, subject)
            {
                continue;
            }
            let label = format!("rule {} from {}", describe_rule(rule), configured.source);
            outcome = Outcome {
                action: rule.action,
                reason: format!("denied by {label}"),
                label,
            };
        }
        if secret.is_none() {
            for rule in &self.session {
                if self.session_rule_matches(rule, tool, subject) {
                    let label =
                        format!("rule {} (allowed always in this session)", rule.describe());
                    outcome = Outcome {
                        action: PermissionAction::Allow,
                        reason: String::new(),
                        label,
                    };
                }
            }
        }
        outcome
    }

    fn default_outcome(&self, kind: ToolKind, subject: &Subject) -> Outcome {
        let (action, label) = match (kind, subject) {
            (ToolKind::Read, Subject::Path { absolute, .. }) if !self.reachable(absolute) => (
                PermissionAction::Ask,
                "default: reads outside the workspace ask",
            ),
            (ToolKind::Read, _) => (
                PermissionAction::Allow,
                "default: reads inside the workspace run",
            ),
            (ToolKind::Write, _) => (PermissionAction::Ask, "default: writes ask"),
            (ToolKind::Execute, _) => (PermissionAction::Ask, "default: commands ask"),
        };
        Outcome {
            action,
            label: label.to_owned(),
            reason: String::new(),
        }
    }

    fn reachable(&self, absolute: &str) -> bool {
        std::iter::once(&self.workspace)
            .chain(&self.allowed)
            .any(|root| is_within(absolute, root))
    }

    /// Why the subject is a secret, if it is one.
    fn secret(&self, subject: &Subject) -> Option<&'static str> {
        match subject {
            Subject::Path { absolute, .. } => self.secret_path(absolute),
            Subject::Command(part) => part
                .words
                .iter()
                .chain(&part.redirects)
                .flat_map(|word| {
                    // `--env-file=.env`, `KEY=~/.ssh/id_rsa`: the value may be a path too.
                    std::iter::once(word.as_str()).chain(word.split_once('=').map(|(_, v)| v))
                })
                .find_map(|word| self.secret_word(word)),
            Subject::Url(_) | Subject::Whole => None,
        }
    }

    fn secret_path(&self, absolute: &str) -> Option<&'static str> {
        if self
            .protected
            .iter()
            .any(|protected| is_within(absolute, protected))
        {
            return Some("Code Mesh's credential store holds secrets");
        }
        secret_file_reason(absolute)
    }

    /// Whether a command word names a secret path, or is a glob that would match one.
    fn secret_word(&self, word: &str) -> Option<&'static str> {
        if word.is_empty() || (word.starts_with('-') && !word.contains('/')) {
            return None;
        }
        let absolute = normalize(word, &self.cwd, self.home.as_deref());
        let (dir, name) = absolute.rsplit_once('/').unwrap_or(("", &absolute));
        if name.contains(char::is_whitespace) {
            // Prose (`-m "rotate server.key"`), not a file name.
            return self.secret_path(dir);
        }
        if !glob::has_wildcards(word) {
            return self.secret_path(&absolute);
        }
        if let Some(why) = self.secret_path(dir) {
            return Some(why);
        }
        // `*` alone would match nearly anything; only a glob with some literal text (`.e*`,
        // `*.pem`) is taken as aiming at a secret name.
        if !name.chars().any(|c| !matches!(c, '*' | '?')) {
            return None;
        }
        const SAMPLES: [&str; 8] = [
            ".env",
            ".env.local",
            ".env.production",
            "id_rsa",
            "id_ed25519",
            "id_ecdsa",
            "server.pem",
            "server.key",
        ];
        let mut candidates: Vec<String> = SAMPLES
            .iter()
            .filter(|sample| sample.starts_with('.') == name.starts_with('.'))
            .map(|sample| format!("{dir}/{sample}"))
            .collect();
        candidates.extend(self.protected.iter().cloned());
        candidates
            .iter()
            .filter(|candidate| glob::matches(&absolute, candidate))
            .find_map(|candidate| self.secret_path(candidate))
    }

    fn rule_matches(&self, rule: &PermissionRule, tool: &str, subject: &Subject) -> bool {
        if rule.tool != "*" && rule.tool != tool {
            return false;
        }
        let Some(pattern) = &rule.pattern else {
            return true;
        };
        match subject {
            Subject::Path {
                absolute, relative, ..
            } => self.path_matches(pattern, absolute, relative.as_deref()),
            Subject::Command(part) => {
                let reach = if rule.action == PermissionAction::Allow {
                    ProgramReach::AsWritten
                } else {
                    ProgramReach::HoweverCalled
                };
                command_matches(pattern, part, reach)
            }
            Subject::Url(url) => glob::matches_anywhere(pattern, url),
            Subject::Whole => false,
        }
    }

    /// Whether a rule names exactly this secret: no wildcard, the very path or command.
    fn rule_is_exact(&self, rule: &PermissionRule, subject: &Subject) -> bool {
        let Some(pattern) = &rule.pattern else {
            return false;
        };
        if glob::has_wildcards(pattern) {
            return false;
        }
        match subject {
            Subject::Path {
                absolute, relative, ..
            } => {
                let pattern = self.expand_home(pattern);
                let pattern = pattern.strip_prefix("./").unwrap_or(&pattern);
                pattern == absolute || Some(pattern) == relative.as_deref()
            }
            Subject::Command(part) => pattern_words(pattern) == part.words,
            Subject::Url(_) | Subject::Whole => false,
        }
    }

    fn path_matches(&self, pattern: &str, absolute: &str, relative: Option<&str>) -> bool {
        let expanded = self.expand_home(pattern);
        let expanded = expanded.strip_prefix("./").unwrap_or(&expanded);
        let directory_only = expanded.ends_with('/');
        let core = expanded.trim_end_matches('/');
        // The path and each of its ancestors, as `.gitignore` does for directories; a
        // pattern ending in `/` names directories only, so never the path itself.
        let candidates = |path: &str| -> Vec<String> {
            let mut out = vec![path.to_owned()];
            let mut rest = path;
            while let Some((parent, _)) = rest.rsplit_once('/') {
                if parent.is_empty() {
                    break;
                }
                out.push(parent.to_owned());
                rest = parent;
            }
            if directory_only {
                out.remove(0);
            }
            out
        };
        if !core.contains('/') {
            return candidates(absolute).iter().any(|path| {
                let name = path.rsplit('/').next().unwrap_or(path);
                glob::matches(core, name)
            });
        }
        let form = if core.starts_with('/') {
            Some(absolute)
        } else {
            relative
        };
        form.is_some_and(|path| {
            candidates(path)
                .iter()
                .any(|candidate| glob::matches(core, candidate))
        })
    }

    fn session_rule_matches(&self, rule: &SessionRule, tool: &str, subject: &Subject) -> bool {
        if rule.tool != tool {
            return false;
        }
        match (&rule.scope, subject) {
            (SessionScope::Whole, Subject::Whole) => true,
            (SessionScope::Words(prefix), Subject::Command(part)) => {
                let words = part.command_words();
                words.len() >= prefix.len() && words[..prefix.len()] == prefix[..]
            }
            (SessionScope::Directory(dir), Subject::Path { absolute, .. }) => {
                is_within(absolute, dir)
            }
            (SessionScope::UrlPrefix(prefix), Subject::Url(url)) => url.starts_with(prefix),
            _ => false,
        }
    }

    fn expand_home(&self, pattern: &str) -> String {
        match (&self.home, pattern.strip_prefix('~')) {
            (Some(home), Some(rest)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", home.trim_end_matches('/'))
            }
            _ => pattern.to_owned(),
        }
    }
}

/// `tool: pattern` (or `tool`) in backticks.
fn describe_rule(rule: &PermissionRule) -> String {
    match &rule.pattern {
        Some(pattern) => format!("`{}: {pattern}`", rule.tool),
        None => format!("`{}`", rule.tool),
    }
}

/// A command pattern's words, quotes removed as in commands.
fn pattern_words(pattern: &str) -> Vec<String> {
    split_command(pattern)
        .into_iter()
        .next()
        .map(|part| part.words)
        .unwrap_or_default()
}

/// How a command pattern's first word meets the command's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProgramReach {
    /// The program however it is called: by path (`/usr/bin/git push`), behind `sudo`, `env`
    /// or assignments. For rules that refuse or ask, which must not be walked around.
    HoweverCalled,
    /// Only the words as written. For rules that allow: an allowed `git status` must not also
    /// allow `./git status` (a script the model wrote) or `sudo git status`.
    AsWritten,
}

/// Word-prefix matching of a command pattern; see the module documentation.
fn command_matches(pattern: &str, part: &CommandPart, reach: ProgramReach) -> bool {
    let pattern = pattern_words(pattern);
    if pattern.is_empty() {
        return false;
    }
    let matches_words = |words: &[String]| {
        for (index, want) in pattern.iter().enumerate() {
            let last = index + 1 == pattern.len();
            if last && want == "*" {
                return true;
            }
            let Some(word) = words.get(index) else {
                return false;
            };
            let word = if index == 0 && !want.contains('/') && reach == ProgramReach::HoweverCalled
            {
                word.rsplit('/').next().unwrap_or(word)
            } else {
                word.as_str()
            };
            if !glob::matches_anywhere(want, word) {
                return false;
            }
        }
        true
    };
    matches_words(&part.words)
        || (reach == ProgramReach::HoweverCalled && matches_words(part.command_words()))
}

/// What "allow always" on a command covers: the program and its subcommand when it has one
/// (`cargo test`, `git push`), else the whole command (`rm -rf build`).
fn command_prefix(part: &CommandPart) -> Vec<String> {
    let words = part.command_words();
    let subcommand = words.get(1).is_some_and(|word| {
        !word.starts_with('-')
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
    });
    match words {
        [program, second, ..] if subcommand => vec![program.clone(), second.clone()],
        _ => words.to_vec(),
    }
}

/// `https://host/` of a URL (the whole URL when it has no host part).
fn url_prefix(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            format!("{scheme}://{host}/")
        }
        None => url.to_owned(),
    }
}

/// `raw` as an absolute path: `~` and `$HOME` expanded, joined to `base` when relative,
/// `.` and `..` resolved lexically.
fn normalize(raw: &str, base: &str, home: Option<&str>) -> String {
    let expanded = match home {
        Some(home) => {
            let rest = raw
                .strip_prefix("~")
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                .or_else(|| raw.strip_prefix("${HOME}"))
                .or_else(|| {
                    raw.strip_prefix("$HOME")
                        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                });
            match rest {
                Some(rest) => format!("{home}{rest}"),
                None => raw.to_owned(),
            }
        }
        None => raw.to_owned(),
    };
    let joined = if expanded.starts_with('/') {
        expanded
    } else {
        format!("{base}/{expanded}")
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    format!("/{}", segments.join("/"))
}

/// Whether `path` is `root` or inside it (both normalized).
fn is_within(path: &str, root: &str) -> bool {
    let root = root.trim_end_matches('/');
    path == root
        || root.is_empty()
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `path` relative to `root`, if inside it (`.` for the root itself).
fn relative_to(path: &str, root: &str) -> Option<String> {
    let root = root.trim_end_matches('/');
    if path == root {
        return Some(".".to_owned());
    }
    if root.is_empty() {
        return path.strip_prefix('/').map(str::to_owned);
    }
    path.strip_prefix(root)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;

/// Why the file at `absolute` (a `/`-separated path) holds secrets going by its name, if it
/// does: anything under a `.ssh` directory, `.env` files (not `.env.example` and the like),
/// private keys. The tools also apply it to where a symbolic link leads.
pub fn secret_file_reason(absolute: &str) -> Option<&'static str> {
    if absolute.split('/').any(|segment| segment == ".ssh") {
        return Some("`.ssh` directories hold secrets");
    }
    let name = absolute.rsplit('/').next().unwrap_or(absolute);
    if name == ".env"
        || (name.starts_with(".env.")
            && !matches!(name, ".env.example" | ".env.sample" | ".env.template"))
    {
        return Some("`.env` files hold secrets");
    }
    let private_key = name.ends_with(".pem")
        || name.ends_with(".key")
        || ["id_rsa", "id_ed25519", "id_ecdsa", "id_dsa"]
            .iter()
            .any(|prefix| name.starts_with(prefix));
    private_key.then_some("private keys are secrets")
}
