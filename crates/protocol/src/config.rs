//! The configuration schema: what `config.toml` and `code-mesh.toml` may contain.
//!
//! Pure data and serde. Loading, layering, provenance and friendly error messages live in
//! the `code-mesh-config` crate; this module only says what a valid configuration looks
//! like and what its built-in defaults are. Every struct rejects unknown keys.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The whole configuration, after all layers are merged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[project]`: facts about the project and where its instructions live.
    pub project: ProjectConfig,
    /// `[agents]`: how many agents run, how they cooperate and how long they may take.
    pub agents: AgentsConfig,
    /// `[providers]`: which model provider and model to use, and extra named providers.
    pub providers: ProvidersConfig,
    /// `[memory]`: sessions and the model's context window.
    pub memory: MemoryConfig,
    /// `[tools]`: the tools agents may use and their limits.
    pub tools: ToolsConfig,
    /// `[permissions]`: which tool calls run, ask first, or are refused.
    pub permissions: PermissionsConfig,
}

/// `[project]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectConfig {
    /// Project name, shown to the model (detected when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Project version, shown to the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Main programming language, e.g. "rust" (detected when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Main framework, e.g. "axum".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    /// Instruction file names read from the repository root down to the working directory.
    pub instructions: Vec<String>,
}

impl Default for ProjectConfig {
    fn default() -> Self {
        Self {
            name: None,
            version: None,
            language: None,
            framework: None,
            instructions: vec!["AGENTS.md".to_owned(), "CODE_MESH.md".to_owned()],
        }
    }
}

/// `[agents]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    /// Most agents running at once.
    pub max_count: u32,
    /// How agents cooperate when no strategy is given: single, hierarchical, pipeline, mesh or swarm.
    pub default_strategy: Strategy,
    /// Let the coordinator spawn specialist agents on its own.
    pub auto_spawn: bool,
    /// Longest time one agent may work on a task, e.g. "300s".
    pub timeout: Duration,
    /// Most model requests allowed for one user turn.
    pub max_turns: u32,
    /// The pipeline strategy's stages, in order, by agent profile.
    pub pipeline: Vec<String>,
    /// How many times a pipeline stage may send the work back to an earlier stage.
    pub max_loops: u32,
    /// The agents of a mesh run, by profile; the first one declares the run done.
    pub mesh: Vec<String>,
    /// Most turns each mesh agent takes (it takes one more each time messages wake it).
    pub mesh_rounds: u32,
    /// Candidates a swarm tries when `--agents` is not given.
    pub swarm_size: u32,
    /// Models swarm candidates take in turn (`provider/model`); empty: every candidate uses
    /// the run's model.
    pub swarm_models: Vec<String>,
    /// Reviewer agents voting among a swarm's candidates.
    pub swarm_reviewers: u32,
    /// `[agents.profiles.NAME]`: overrides of the built-in agent profiles and new profiles.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, AgentProfileConfig>,
}

/// `[agents.profiles.NAME]`: the fields a config table sets on an agent profile. For a
/// built-in name only the given fields change; a new name needs at least a `prompt`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentProfileConfig {
    /// One line saying what the agent is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The agent's instructions, added to the base system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The tools it may use, by name; `["*"]` means every tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// `provider/model` to run on instead of the run's model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling temperature, 0 to 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Model requests allowed per task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            max_count: 8,
            default_strategy: Strategy::Single,
            auto_spawn: true,
            timeout: Duration::from_secs(300),
            max_turns: 100,
            pipeline: ["architect", "coder", "tester", "reviewer"]
                .map(str::to_owned)
                .to_vec(),
            max_loops: 2,
            mesh: ["coordinator", "coder", "tester", "reviewer"]
                .map(str::to_owned)
                .to_vec(),
            mesh_rounds: 8,
            swarm_size: 3,
            swarm_models: Vec::new(),
            swarm_reviewers: 1,
            profiles: BTreeMap::new(),
        }
    }
}

/// How agents cooperate on a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One agent does all the work.
    #[default]
    Single,
    /// A coordinator splits the task and hands parts to specialists.
    Hierarchical,
    /// Agents work in sequence, each passing its result to the next.
    Pipeline,
    /// Agents work as peers and message each other.
    Mesh,
    /// Several agents try the same task; tests pick the winner.
    Swarm,
}

impl Strategy {
    /// Every strategy, in the order users see them.
    pub const ALL: [Strategy; 5] = [
        Strategy::Single,
        Strategy::Hierarchical,
        Strategy::Pipeline,
        Strategy::Mesh,
        Strategy::Swarm,
    ];

    /// The name used in config files and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::Single => "single",
            Strategy::Hierarchical => "hierarchical",
            Strategy::Pipeline => "pipeline",
            Strategy::Mesh => "mesh",
            Strategy::Swarm => "swarm",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[providers]`: scalar keys for the defaults, and any table is a named provider
/// (`[providers.local]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProvidersConfig {
    /// Provider used when a model name has no `provider/` prefix, or no model is given.
    pub default: Option<String>,
    /// Default model as `provider/model`, e.g. "openai/gpt-5-mini".
    pub model: Option<String>,
    /// Providers to try, in order, when the chosen one fails.
    pub fallback: Vec<String>,
    /// Most tokens the model may generate in one response (the provider's default when unset).
    pub max_tokens: Option<u32>,
    /// Sampling temperature from 0.0 to 2.0 (the provider's default when unset).
    pub temperature: Option<f32>,
    /// How many times a failed request is sent again (rate limits, server errors, dropped
    /// connections) before the next fallback provider is tried; 0 disables retries.
    pub max_retries: u32,
    /// Answer identical requests made with `temperature = 0` from the local response cache.
    pub cache: bool,
    /// A model catalogue file (JSON, the built-in catalogue's format) merged over the
    /// built-in one, to refresh prices and limits.
    pub catalogue: Option<String>,
    /// Named providers: every `[providers.<name>]` table.
    pub named: BTreeMap<String, ProviderConfig>,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self {
            default: None,
            model: None,
            fallback: Vec::new(),
            max_tokens: None,
            temperature: None,
            max_retries: ProvidersConfig::DEFAULT_MAX_RETRIES,
            cache: false,
            catalogue: None,
            named: BTreeMap::new(),
        }
    }
}

impl ProvidersConfig {
    /// The scalar keys of `[providers]`; any other key must be a provider table.
    pub const KEYS: [&'static str; 8] = [
        "default",
        "model",
        "fallback",
        "max_tokens",
        "temperature",
        "max_retries",
        "cache",
        "catalogue",
    ];

    /// `max_retries` when unset.
    pub const DEFAULT_MAX_RETRIES: u32 = 3;
}

impl Serialize for ProvidersConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(default) = &self.default {
            map.serialize_entry("default", default)?;
        }
        if let Some(model) = &self.model {
            map.serialize_entry("model", model)?;
        }
        map.serialize_entry("fallback", &self.fallback)?;
        if let Some(max_tokens) = &self.max_tokens {
            map.serialize_entry("max_tokens", max_tokens)?;
        }
        if let Some(temperature) = self.temperature {
            // Through the shortest decimal form, so 0.7 stays 0.7 rather than 0.699999988.
            let temperature: f64 = temperature
                .to_string()
                .parse()
                .unwrap_or(f64::from(temperature));
            map.serialize_entry("temperature", &temperature)?;
        }
        map.serialize_entry("max_retries", &self.max_retries)?;
        map.serialize_entry("cache", &self.cache)?;
        if let Some(catalogue) = &self.catalogue {
            map.serialize_entry("catalogue", catalogue)?;
        }
        for (name, provider) in &self.named {
            map.serialize_entry(name, provider)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ProvidersConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ProvidersVisitor)
    }
}

struct ProvidersVisitor;

impl<'de> Visitor<'de> for ProvidersVisitor {
    type Value = ProvidersConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the [providers] table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut providers = ProvidersConfig::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "default" => providers.default = Some(map.next_value()?),
                "model" => providers.model = Some(map.next_value()?),
                "fallback" => providers.fallback = map.next_value()?,
                "max_tokens" => providers.max_tokens = Some(map.next_value()?),
                "temperature" => providers.temperature = Some(map.next_value()?),
                "max_retries" => providers.max_retries = map.next_value()?,
                "cache" => providers.cache = map.next_value()?,
                "catalogue" => providers.catalogue = Some(map.next_value()?),
                _ => {
                    let provider = map.next_value_seed(NamedProviderSeed { name: &key })?;
                    providers.named.insert(key, provider);
                }
            }
        }
        Ok(providers)
    }
}

/// Deserializes one `[providers.<name>]` entry, refusing anything that is not a table.
struct NamedProviderSeed<'a> {
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for NamedProviderSeed<'_> {
    type Value = ProviderConfig;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NamedProviderSeed<'_> {
    type Value = ProviderConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a provider table [providers.{}] (the other keys of [providers] are {})",
            self.name,
            ProvidersConfig::KEYS.join(", ")
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        ProviderConfig::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

/// `[providers.<name>]`: a provider reached through its own endpoint, key or models.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// Base URL of the API, e.g. "http://localhost:1234/v1".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Name of the environment variable that holds the API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Models offered by this provider; the first is its default model.
    pub models: Vec<String>,
    /// Wire format the provider speaks: "chat" (OpenAI Chat Completions), "responses" (OpenAI
    /// Responses), "anthropic" (Messages), "gemini" (streamGenerateContent) or "ollama"
    /// (native /api/chat). Unset: the built-in provider's own wire, else "chat".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wire: Option<Wire>,
    /// Extra HTTP headers sent with every request.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Tokens the model may spend on extended thinking per request (Anthropic wire); unset
    /// leaves thinking off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u32>,
    /// Limits and prices of this provider's models (`[providers.<name>.model_info.<model>]`),
    /// over the built-in model catalogue.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub model_info: BTreeMap<String, ModelInfoConfig>,
}

/// `[providers.<name>.model_info.<model>]`: what the model catalogue says about a model,
/// overridden. Prices are in US dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelInfoConfig {
    /// Context window in tokens, input and output together, e.g. "128k".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<TokenCount>,
    /// Most tokens the model generates in one answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output: Option<TokenCount>,
    /// Price of input tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_price: Option<f64>,
    /// Price of output tokens (reasoning included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_price: Option<f64>,
    /// Price of input tokens read from the provider's prompt cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_price: Option<f64>,
    /// Price of input tokens written to the provider's prompt cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_price: Option<f64>,
}

/// The wire format a named provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wire {
    /// OpenAI Chat Completions, as spoken by most OpenAI-compatible servers.
    #[default]
    Chat,
    /// OpenAI Responses.
    Responses,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `streamGenerateContent`.
    Gemini,
    /// Ollama's native `/api/chat`.
    Ollama,
}

/// `[memory]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// Idle time after which a session is considered over, e.g. "24h".
    pub session_timeout: Duration,
    /// Largest context sent to the model, in tokens, e.g. "100k" or 100000 (the model's
    /// window applies when smaller). Old tool outputs are pruned, then older history is
    /// summarised, before a request would exceed it.
    pub max_context_size: TokenCount,
    /// Summarize older history when pruning is not enough; with false a conversation that no
    /// longer fits ends the turn with a `context_overflow` error.
    pub auto_summarize: bool,
    /// Where sessions and memory are kept: "sqlite".
    pub persistence: Persistence,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            session_timeout: Duration::from_secs(24 * 60 * 60),
            max_context_size: TokenCount::new(100_000),
            auto_summarize: true,
            persistence: Persistence::Sqlite,
        }
    }
}

/// Where sessions and memory are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Persistence {
    /// A SQLite database in the data directory.
    #[default]
    Sqlite,
}

/// `[tools]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// Let agents use git.
    pub git: bool,
    /// Package manager to use, or "auto" to detect it.
    pub package_manager: String,
    /// Test runner to use, or "auto" to detect it.
    pub test_runner: String,
    /// Formatter to use, or "auto" to detect it.
    pub formatter: String,
    /// Linter to use, or "auto" to detect it.
    pub linter: String,
    /// Directories outside the workspace that file tools may access.
    pub allowed_paths: Vec<String>,
    /// Default timeout of a shell command, e.g. "120s".
    pub bash_timeout: Duration,
    /// Most bytes of tool output returned to the model.
    pub max_output_bytes: usize,
    /// How commands the agent runs are confined: "workspace-write", "read-only" or "off".
    pub sandbox: crate::SandboxMode,
    /// Let sandboxed commands open network sockets (Unix sockets are always allowed).
    pub network: bool,
    /// Directories sandboxed commands may write besides the workspace and temp (`~/` allowed),
    /// e.g. package-manager caches.
    pub writable_roots: Vec<String>,
    /// Hosts `web_fetch` may fetch from: `docs.rs` (that host), `*.python.org` (its
    /// subdomains). Empty: any host, each fetch asking permission unless a rule allows it.
    pub web_allow: Vec<String>,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            git: true,
            package_manager: "auto".to_owned(),
            test_runner: "auto".to_owned(),
            formatter: "auto".to_owned(),
            linter: "auto".to_owned(),
            allowed_paths: Vec::new(),
            bash_timeout: Duration::from_secs(120),
            max_output_bytes: 30_000,
            sandbox: crate::SandboxMode::WorkspaceWrite,
            network: false,
            writable_roots: DEFAULT_WRITABLE_ROOTS
                .iter()
                .map(|root| (*root).to_owned())
                .collect(),
            web_allow: Vec::new(),
        }
    }
}

/// The package-manager caches sandboxed commands may write by default (`tools.writable_roots`).
pub const DEFAULT_WRITABLE_ROOTS: [&str; 4] =
    ["~/.cargo/registry", "~/.cargo/git", "~/.cache", "~/.npm"];

/// `[permissions]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PermissionsConfig {
    /// Rules evaluated after the built-in defaults, in order; the last matching rule wins.
    pub rules: Vec<PermissionRule>,
}

/// One permission rule: `{ tool = "bash", pattern = "git push*", action = "deny" }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PermissionRule {
    /// The tool's name (`bash`, `write`, …) or `*` for every tool.
    pub tool: String,
    /// What the call must touch for the rule to apply: a glob on paths for file tools
    /// (`src/**`, `*.pem`), a word prefix for shell commands (`git push*`), a glob on the URL
    /// for fetches. Absent: every call of the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// What happens to a matching call.
    pub action: PermissionAction,
}

/// What a permission rule does to the calls it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PermissionAction {
    /// Run without asking.
    Allow,
    /// Ask the user first (allowed without asking under `--yes`).
    Ask,
    /// Refuse, also under `--yes`.
    Deny,
}

impl PermissionAction {
    /// Every action, in the order users see them.
    pub const ALL: [PermissionAction; 3] = [
        PermissionAction::Allow,
        PermissionAction::Ask,
        PermissionAction::Deny,
    ];

    /// The name used in config files.
    pub const fn as_str(self) -> &'static str {
        match self {
            PermissionAction::Allow => "allow",
            PermissionAction::Ask => "ask",
            PermissionAction::Deny => "deny",
        }
    }
}

impl fmt::Display for PermissionAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A length of time written as a number and a unit: "1500ms", "30s", "5m", "24h", "2d".
///
/// Millisecond precision. `Display` writes the largest unit that is exact, so it parses
/// back to the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    millis: u64,
}

const DURATION_UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl Duration {
    /// A duration of whole milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// A duration of whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            millis: secs.saturating_mul(1_000),
        }
    }

    /// The length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// The same length as a [`std::time::Duration`].
    pub const fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(duration: Duration) -> Self {
        duration.as_std()
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        for (unit, scale) in DURATION_UNITS {
            if self.millis.is_multiple_of(scale) {
                return write!(f, "{}{unit}", self.millis / scale);
            }
        }
        write!(f, "{}ms", self.millis)
    }
}

/// A duration that could not be parsed; its message says which forms are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    input: String,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {} (use e.g. \"30s\", \"5m\", \"2h\"; units: ms, s, m, h, d)",
            self.input
        )
    }
}

impl std::error::Error for ParseDurationError {}

impl FromStr for Duration {
    type Err = ParseDurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseDurationError {
            input: format!("{text:?}"),
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(error)?;
        let (number, unit) = trimmed.split_at(split);
        let scale = DURATION_UNITS
            .iter()
            .find(|(name, _)| *name == unit.trim())
            .map(|(_, scale)| *scale)
            .ok_or_else(error)?;
        scaled_decimal(number, scale)
            .map(Duration::from_millis)
            .ok_or_else(error)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"30s\", \"5m\" or \"2h\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Duration, E> {
        Err(E::custom(ParseDurationError {
            input: number.to_string(),
        }))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Duration, E> {
        Err(E::custom(ParseDurationError {
            input: number.to_string(),
        }))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Duration, E> {
        Err(E::custom(ParseDurationError {
            input: number.to_string(),
        }))
    }
}

/// A number of tokens, written as an integer (100000) or with a `k` or `m` suffix
/// ("100k", "1.5m"; k = 1,000, m = 1,000,000).
///
/// `Display` writes the shortest exact form ("100k", "1500k", "12345"), which parses back
/// to the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TokenCount(u64);

impl TokenCount {
    /// A count of `tokens`.
    pub const fn new(tokens: u64) -> Self {
        Self(tokens)
    }

    /// The number of tokens.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for TokenCount {
    fn from(tokens: u64) -> Self {
        Self(tokens)
    }
}

impl fmt::Display for TokenCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("0"),
            n if n.is_multiple_of(1_000_000) => write!(f, "{}m", n / 1_000_000),
            n if n.is_multiple_of(1_000) => write!(f, "{}k", n / 1_000),
            n => write!(f, "{n}"),
        }
    }
}

/// A token count that could not be parsed; its message says which forms are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseTokenCountError {
    input: String,
}

impl fmt::Display for ParseTokenCountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid token count {} (use a whole number such as 100000, or \"100k\", \"1.5m\")",
            self.input
        )
    }
}

impl std::error::Error for ParseTokenCountError {}

impl FromStr for TokenCount {
    type Err = ParseTokenCountError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseTokenCountError {
            input: format!("{text:?}"),
        };
        let trimmed = text.trim();
        let (number, scale) = match trimmed.char_indices().last() {
            Some((at, 'k' | 'K')) => (&trimmed[..at], 1_000),
            Some((at, 'm' | 'M')) => (&trimmed[..at], 1_000_000),
            _ => (trimmed, 1),
        };
        scaled_decimal(number.trim_end(), scale)
            .map(TokenCount)
            .ok_or_else(error)
    }
}

impl Serialize for TokenCount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1_000) && self.0 != 0 {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for TokenCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TokenCountVisitor)
    }
}

struct TokenCountVisitor;

impl Visitor<'_> for TokenCountVisitor {
    type Value = TokenCount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a token count such as 100000, \"100k\" or \"1.5m\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<TokenCount, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<TokenCount, E> {
        Ok(TokenCount(number))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<TokenCount, E> {
        u64::try_from(number).map(TokenCount).map_err(|_| {
            E::custom(ParseTokenCountError {
                input: number.to_string(),
            })
        })
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<TokenCount, E> {
        Err(E::custom(ParseTokenCountError {
            input: number.to_string(),
        }))
    }
}

/// `number * scale` for a plain decimal `number` ("12", "1.5"), when the result is a whole
/// number that fits in a `u64`. Exact: no floating point.
fn scaled_decimal(number: &str, scale: u64) -> Option<u64> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return None;
    }
    if number.ends_with('.') {
        return None;
    }
    let mut value = whole.parse::<u64>().ok()?.checked_mul(scale)?;
    let fraction = fraction.trim_end_matches('0');
    if !fraction.is_empty() {
        let denominator = 10u64.checked_pow(u32::try_from(fraction.len()).ok()?)?;
        let numerator = fraction.parse::<u64>().ok()?.checked_mul(scale)?;
        if !numerator.is_multiple_of(denominator) {
            return None;
        }
        value = value.checked_add(numerator / denominator)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        let cases = [
            ("1500ms", 1_500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("24h", 86_400_000),
            ("2d", 172_800_000),
            ("1.5h", 5_400_000),
            (" 10 s ", 10_000),
            ("0s", 0),
        ];
        for (text, millis) in cases {
            assert_eq!(
                text.parse::<Duration>(),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_durations_say_which_forms_are_accepted() {
        for text in [
            "soon",
            "30",
            "",
            "s",
            "5 minutes",
            "1.2.3s",
            "-5s",
            "0.0001s",
            "1e3s",
        ] {
            let error = text.parse::<Duration>().map(|_| ()).err();
            let message = error.map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains("use e.g. \"30s\""), "{text}: {message}");
        }
        assert_eq!(
            "soon".parse::<Duration>().map_err(|e| e.to_string()),
            Err("invalid duration \"soon\" (use e.g. \"30s\", \"5m\", \"2h\"; units: ms, s, m, h, d)".to_owned())
        );
    }

    #[test]
    fn durations_display_in_the_largest_exact_unit_and_round_trip() {
        let cases = [
            (0, "0s"),
            (1_500, "1500ms"),
            (30_000, "30s"),
            (90_000, "90s"),
            (300_000, "5m"),
            (5_400_000, "90m"),
            (86_400_000, "1d"),
            (90_000_000, "25h"),
        ];
        for (millis, text) in cases {
            let duration = Duration::from_millis(millis);
            assert_eq!(duration.to_string(), text);
            assert_eq!(text.parse::<Duration>(), Ok(duration));
        }
    }

    #[test]
    fn token_counts_parse_integers_and_suffixes() {
        let cases = [
            ("100000", 100_000),
            ("100k", 100_000),
            ("100K", 100_000),
            ("1.5m", 1_500_000),
            ("2M", 2_000_000),
            ("0.5k", 500),
            ("128 k", 128_000),
        ];
        for (text, tokens) in cases {
            assert_eq!(
                text.parse::<TokenCount>(),
                Ok(TokenCount::new(tokens)),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_token_counts_say_which_forms_are_accepted() {
        for text in ["lots", "", "k", "1.2345k", "100g", "-5", "1,000"] {
            let message = text
                .parse::<TokenCount>()
                .map(|_| ())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.contains("\"100k\", \"1.5m\""), "{text}: {message}");
        }
    }

    #[test]
    fn token_counts_display_the_shortest_exact_form_and_round_trip() {
        for (tokens, text) in [
            (0, "0"),
            (12_345, "12345"),
            (100_000, "100k"),
            (1_500_000, "1500k"),
            (2_000_000, "2m"),
        ] {
            let count = TokenCount::new(tokens);
            assert_eq!(count.to_string(), text);
            assert_eq!(text.parse::<TokenCount>(), Ok(count));
        }
    }

    #[test]
    fn config_round_trips_through_json() {
        let mut config = Config::default();
        config.providers.model = Some("openai/gpt-5-mini".to_owned());
        config.providers.temperature = Some(0.7);
        config.providers.named.insert(
            "local".to_owned(),
            ProviderConfig {
                base_url: Some("http://localhost:1234/v1".to_owned()),
                models: vec!["qwen3-coder".to_owned()],
                wire: Some(Wire::Responses),
                ..ProviderConfig::default()
            },
        );
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["agents"]["timeout"], "5m");
        assert_eq!(json["memory"]["max_context_size"], "100k");
        assert_eq!(json["providers"]["temperature"], 0.7);
        assert_eq!(json["providers"]["local"]["wire"], "responses");
        let back: Config = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn a_scalar_unknown_key_under_providers_is_refused() {
        let json = serde_json::json!({ "providers": { "defualt": "openai" } });
        let error = serde_json::from_value::<Config>(json)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("a provider table [providers.defualt]"),
            "{error}"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let json = serde_json::json!({ "agents": { "max_cuont": 3 } });
        assert!(serde_json::from_value::<Config>(json).is_err());
    }
}
