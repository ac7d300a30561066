//! `remember` and `recall`: the agent's long-lived memory, kept in a [`MemoryBank`] (the
//! SQLite store for the CLI).
//!
//! `remember` stores a fact or preference for this repository (`project`), for every project
//! (`global`) or for this agent type in this repository (`agent`), optionally with a time to
//! live; `recall` searches them (full text, best match first). Both are `Read` tools, allowed
//! without asking: they touch no file of the workspace and run nothing, only the user's own
//! memory database, which the user can inspect and clean with `code-mesh memory list|forget`.
//! The guard that matters is on the content: `remember` refuses anything that looks like a
//! secret (API keys, tokens, private keys, `password=` assignments), so no credential ends up
//! in a database every later session reads into its prompt.

use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_core::{MemoryBank, Tool, ToolContext, ToolError, ToolOutput, describe_age, now_ms};
use code_mesh_protocol::{
    MemoryEntry, MemoryKind, MemoryQuery, MemoryScope, NewMemory, ToolKind, ToolSpec,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;

/// Bytes one entry may hold: a fact, not a document.
pub const MAX_MEMORY_CONTENT_BYTES: usize = 2_000;
/// Entries `recall` returns when the call names no limit.
const DEFAULT_RECALL_LIMIT: usize = 10;
/// Entries one `recall` may return.
const MAX_RECALL_LIMIT: usize = 50;
/// The longest time to live: ten years.
const MAX_TTL_MS: u64 = 10 * 365 * 86_400_000;

const REMEMBER_DESCRIPTION: &str = "\
Saves a note to long-lived memory, for later sessions: a fact about the project (how to run \
or deploy it, where things live, a decision and why), or a preference the user stated (\"use \
tabs\", \"answer in French\").

Usage:
- One fact per call, short and self-contained: later sessions read it without today's context.
- `scope`: `project` (default) for this repository; `global` for the user's preferences that \
hold in every project; `agent` for notes only this agent type needs in this repository.
- `kind`: `fact` (default) or `preference`.
- `ttl` makes a note expire, e.g. `12h`, `30d`, `2w`: use it for things true only for a while.
- Never save secrets (API keys, tokens, passwords): they are refused.
- Don't save what the repository already says (README, AGENTS.md) or what Code Mesh learns by \
itself (the test and build commands that passed).";

const RECALL_DESCRIPTION: &str = "\
Searches long-lived memory: facts and preferences saved with `remember` in earlier sessions, \
the user's global preferences, and lessons Code Mesh recorded from earlier tasks in this \
repository (commands that built and tested it, errors and their fixes).

Usage:
- `query` is a few words; entries holding more of them, and rarer ones, come first.
- `scope` narrows the search to `project`, `global` or `agent` memory; `all` (default) searches \
every scope visible here.
- The newest entries are already in your system prompt; recall finds older or more specific \
ones. Memory may be outdated: check what matters against the files.";

/// Where a `remember` call's entry goes and what it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RememberArgs {
    content: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    ttl: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecallArgs {
    query: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

fn remember_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "content": {
                "type": "string",
                "description": "The note, one self-contained fact or preference."
            },
            "scope": {
                "type": "string",
                "enum": ["project", "global", "agent"],
                "description": "Whose memory: this repository (default), every project, or \
                    this agent type in this repository."
            },
            "kind": {
                "type": "string",
                "enum": ["fact", "preference"],
                "description": "A fact (default) or a preference of the user."
            },
            "ttl": {
                "type": "string",
                "description": "How long the note holds, e.g. `12h`, `30d`, `2w`; omit it to \
                    keep the note until forgotten."
            }
        },
        "required": ["content"],
        "additionalProperties": false
    })
}

fn recall_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "description": "Words to search for, e.g. `deploy staging` or `test command`."
            },
            "scope": {
                "type": "string",
                "enum": ["project", "global", "agent", "all"],
                "description": "Which memory to search; `all` (default) searches every scope."
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_RECALL_LIMIT,
                "description": "Entries to return at most (default 10)."
            }
        },
        "required": ["query"],
        "additionalProperties": false
    })
}

/// `remember`: stores a note in the memory bank.
pub struct RememberTool {
    bank: Arc<dyn MemoryBank>,
    agent: String,
}

impl RememberTool {
    /// A tool storing notes in `bank`; agent notes are filed under `agent`.
    pub fn new(bank: Arc<dyn MemoryBank>, agent: impl Into<String>) -> Self {
        RememberTool {
            bank,
            agent: agent.into(),
        }
    }
}

impl std::fmt::Debug for RememberTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RememberTool")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

/// `recall`: searches the memory bank.
pub struct RecallTool {
    bank: Arc<dyn MemoryBank>,
    agent: String,
}

impl RecallTool {
    /// A tool searching `bank`; agent notes of `agent` are visible to it.
    pub fn new(bank: Arc<dyn MemoryBank>, agent: impl Into<String>) -> Self {
        RecallTool {
            bank,
            agent: agent.into(),
        }
    }
}

impl std::fmt::Debug for RecallTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecallTool")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Tool for RememberTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "remember".into(),
            description: REMEMBER_DESCRIPTION.into(),
            parameters: remember_schema(),
        }
    }

    /// `Read`: it writes only the user's memory database, never the workspace (see the module
    /// documentation).
    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        let scope = arguments
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("project");
        let content = arguments
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("");
        format!("remember ({scope}): {}", clip(content, 80))
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = remember_schema();
        let arguments: RememberArgs = args::parse("remember", arguments, &schema)?;
        let scope = match arguments.scope.as_deref() {
            None => MemoryScope::Project,
            Some(name) => MemoryScope::from_name(name).ok_or_else(|| {
                args::invalid(
                    "remember",
                    format!("`scope` is `{name}`; use `project`, `global` or `agent`"),
                    &schema,
                )
            })?,
        };
        let kind = match arguments.kind.as_deref() {
            None | Some("fact") => MemoryKind::Fact,
            Some("preference") => MemoryKind::Preference,
            Some(name) => {
                return Err(args::invalid(
                    "remember",
                    format!(
                        "`kind` is `{name}`; use `fact` or `preference` (lessons are recorded \
                         by Code Mesh itself)"
                    ),
                    &schema,
                ));
            }
        };
        let content = check_memory_content(&arguments.content)
            .map_err(|problem| args::invalid("remember", problem, &schema))?;
        let now = now_ms();
        let expires_at = match arguments.ttl.as_deref() {
            Some(ttl) => Some(now.saturating_add(
                parse_ttl(ttl).map_err(|problem| args::invalid("remember", problem, &schema))?,
            )),
            None => None,
        };
        let workspace = context.workspace.display().to_string();
        let memory = NewMemory {
            scope,
            kind,
            project: (scope != MemoryScope::Global).then(|| workspace.clone()),
            agent: (scope == MemoryScope::Agent).then(|| self.agent.clone()),
            content,
            key: None,
            source_session: Some(context.session_id.clone()),
            expires_at,
        };
        let whose = describe_owner(&memory, &self.agent);
        // The same note again only says so, instead of piling up copies.
        let same = MemoryQuery {
            text: Some(memory.content.clone()),
            scopes: vec![scope],
            kinds: vec![kind],
            project: memory.project.clone(),
            agent: memory.agent.clone(),
            limit: 20,
            ..MemoryQuery::default()
        };
        let existing = self.bank.recall(&same).await.map_err(store_failed)?;
        if let Some(hit) = existing
            .iter()
            .find(|hit| hit.entry.memory.content == memory.content && expires_at.is_none())
        {
            return Ok(ToolOutput::from(format!(
                "Already remembered as #{} ({whose}); nothing was added.",
                hit.entry.id
            )));
        }
        let entry = self.bank.remember(memory).await.map_err(store_failed)?;
        let lasting = match entry.memory.expires_at {
            Some(at) => format!("expires in {}", describe_duration(at.saturating_sub(now))),
            None => "kept until forgotten".into(),
        };
        let later = match scope {
            MemoryScope::Global => "Later sessions in every project will see it.",
            MemoryScope::Project => "Later sessions in this repository will see it.",
            MemoryScope::Agent => {
                "Later sessions of this agent type in this repository will see it."
            }
        };
        Ok(ToolOutput::from(format!(
            "Remembered as #{} ({whose}; {lasting}). {later}",
            entry.id
        )))
    }
}

#[async_trait]
impl Tool for RecallTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "recall".into(),
            description: RECALL_DESCRIPTION.into(),
            parameters: recall_schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        let query = arguments.get("query").and_then(Value::as_str).unwrap_or("");
        format!("recall \"{}\"", clip(query, 80))
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = recall_schema();
        let arguments: RecallArgs = args::parse("recall", arguments, &schema)?;
        let words = arguments.query.trim();
        if !words.chars().any(char::is_alphanumeric) {
            return Err(args::invalid(
                "recall",
                "`query` has no words; give a few words to search for",
                &schema,
            ));
        }
        let scopes = match arguments.scope.as_deref() {
            None | Some("all") => Vec::new(),
            Some(name) => vec![MemoryScope::from_name(name).ok_or_else(|| {
                args::invalid(
                    "recall",
                    format!("`scope` is `{name}`; use `project`, `global`, `agent` or `all`"),
                    &schema,
                )
            })?],
        };
        let limit = arguments.limit.unwrap_or(DEFAULT_RECALL_LIMIT);
        if limit == 0 || limit > MAX_RECALL_LIMIT {
            return Err(args::invalid(
                "recall",
                format!("`limit` is {limit}; use a number from 1 to {MAX_RECALL_LIMIT}"),
                &schema,
            ));
        }
        let searched = if scopes.is_empty() {
            "project, global and agent memory".to_owned()
        } else {
            format!("{} memory", scopes[0].name())
        };
        let query = MemoryQuery {
            text: Some(words.to_owned()),
            scopes,
            project: Some(context.workspace.display().to_string()),
            agent: Some(self.agent.clone()),
            limit,
            ..MemoryQuery::default()
        };
        let hits = self.bank.recall(&query).await.map_err(store_failed)?;
        if hits.is_empty() {
            return Ok(ToolOutput::from(format!(
                "Nothing in memory matches \"{words}\" (searched {searched}). Memory holds only \
                 what earlier sessions saved; look in the code instead, or try other words."
            )));
        }
        let now = now_ms();
        let entries: Vec<&MemoryEntry> = hits.iter().map(|hit| &hit.entry).collect();
        let mut text = format!(
            "{} matching \"{words}\", best first:\n",
            crate::output::plural(entries.len() as u64, "entry", "entries")
        );
        for entry in entries {
            let _ = writeln!(
                text,
                "#{} [{} {}, {}] {}",
                entry.id,
                entry.memory.scope.name(),
                entry.memory.kind.name(),
                describe_age(now, entry.created_at),
                entry.memory.content
            );
        }
        text.push_str("Memory may be outdated: check what matters against the files.");
        Ok(ToolOutput::from(text))
    }
}

fn store_failed(err: code_mesh_core::StoreError) -> ToolError {
    let hint = err.hint().map(|h| format!(" ({h})")).unwrap_or_default();
    ToolError::new(format!(
        "the memory store failed: {err}{hint}; continue without memory"
    ))
}

/// "project fact", "global preference", "agent fact of `tester`".
fn describe_owner(memory: &NewMemory, agent: &str) -> String {
    let base = format!("{} {}", memory.scope.name(), memory.kind.name());
    if memory.scope == MemoryScope::Agent {
        format!("{base} of `{agent}`")
    } else {
        base
    }
}

/// The content to store: trimmed, not empty, not too long and without secrets; else what is
/// wrong with it, in a sentence that says what to do.
pub fn check_memory_content(content: &str) -> Result<String, String> {
    let content = content.trim();
    if content.is_empty() {
        return Err("the note is empty; give the fact or preference to remember".into());
    }
    if content.len() > MAX_MEMORY_CONTENT_BYTES {
        return Err(format!(
            "the note has {} bytes; keep one note to {MAX_MEMORY_CONTENT_BYTES} bytes, one \
             fact per note",
            content.len()
        ));
    }
    if let Some(why) = secret_reason(content) {
        return Err(format!(
            "the note was not saved because {why}; memory is read into later sessions' \
             prompts, so never store secrets: say where the secret is kept instead (e.g. \
             \"the API key is in the `OPENAI_API_KEY` variable\")"
        ));
    }
    Ok(content.to_owned())
}

/// Why `text` looks like it holds a secret, if it does.
fn secret_reason(text: &str) -> Option<&'static str> {
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY") {
        return Some("it holds a private key");
    }
    let separators = |c: char| c.is_whitespace() || "\"'`,;()[]{}<>".contains(c);
    let words: Vec<&str> = text.split(separators).filter(|w| !w.is_empty()).collect();
    for (index, word) in words.iter().enumerate() {
        if let Some((name, value)) = word.split_once(['=', ':']) {
            // `password: hunter2` puts the value in the next word.
            let value = if value.is_empty() {
                words.get(index + 1).copied().unwrap_or("")
            } else {
                value
            };
            let name = name.to_ascii_lowercase();
            let secret_name = [
                "password",
                "passwd",
                "secret",
                "token",
                "api_key",
                "apikey",
                "api-key",
                "access_key",
                "private_key",
            ]
            .iter()
            .any(|suffix| name.ends_with(suffix));
            let placeholder = value.starts_with('$')
                || value.contains("...")
                || value.contains("xxx")
                || value.contains('*');
            if secret_name && value.len() >= 8 && !placeholder {
                return Some("it assigns what looks like a password or key");
            }
        }
        for token in word.split(['=', ':']) {
            if looks_like_key(token) {
                return Some("it contains what looks like an API key or token");
            }
        }
    }
    None
}

/// A token with a known credential prefix, or a long random-looking one.
fn looks_like_key(token: &str) -> bool {
    const PREFIXES: [(&str, usize); 16] = [
        ("sk-", 20),
        ("sk_live_", 20),
        ("rk_live_", 20),
        ("pk_live_", 20),
        ("ghp_", 30),
        ("gho_", 30),
        ("ghu_", 30),
        ("ghs_", 30),
        ("ghr_", 30),
        ("github_pat_", 30),
        ("glpat-", 20),
        ("xoxb-", 20),
        ("xoxp-", 20),
        ("AIza", 35),
        ("hf_", 30),
        ("npm_", 36),
    ];
    let token_chars = |t: &str| {
        t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+/=".contains(c))
    };
    if !token_chars(token) {
        return false;
    }
    if PREFIXES
        .iter()
        .any(|(prefix, min)| token.starts_with(prefix) && token.len() >= *min)
    {
        return true;
    }
    let aws = (token.starts_with("AKIA") || token.starts_with("ASIA"))
        && token.len() == 20
        && token
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    // Random base-62 text of this length holds several of each class; names and paths
    // (`src/main/java/com/ExampleService2Impl`) rarely do.
    let count = |class: fn(&char) -> bool| token.chars().filter(class).count();
    let random = token.len() >= 32
        && count(char::is_ascii_uppercase) >= 3
        && count(char::is_ascii_lowercase) >= 3
        && count(char::is_ascii_digit) >= 3;
    aws || random
}

/// A time to live such as `30d`, `12h`, `45m`, `90s` or `2w`, in milliseconds.
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let problem = || {
        format!(
            "the time to live `{text}` is not a number followed by s, m, h, d or w; write e.g. \
             `30d` (30 days), `12h` or `2w`"
        )
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(problem)?;
    let (number, unit) = text.split_at(split);
    let count: u64 = number.parse().map_err(|_| problem())?;
    let unit_ms: u64 = match unit.trim() {
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(problem()),
    };
    let ms = count.saturating_mul(unit_ms);
    if ms == 0 {
        return Err(format!(
            "the time to live `{text}` is zero; give a positive one such as `1h`, or leave it \
             out to keep the note until forgotten"
        ));
    }
    if ms > MAX_TTL_MS {
        return Err(format!(
            "the time to live `{text}` is longer than ten years; leave it out to keep the \
             note until forgotten"
        ));
    }
    Ok(ms)
}

/// "30 days", "12 hours", "5 minutes", "40 seconds" (rounded down to the largest unit).
fn describe_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    let (count, unit) = match seconds {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3_600 => (s / 3_600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

fn clip(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests;
