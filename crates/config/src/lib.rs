//! Layered configuration for Code Mesh, with the origin of every value.
//!
//! [`load`] reads five layers, lowest to highest precedence: the built-in defaults, the
//! global file (`<config dir>/config.toml`), the project file (`code-mesh.toml` at the
//! workspace root), the file named by `CODE_MESH_CONFIG`, the environment
//! (`CODE_MESH_<SECTION>__<KEY>`), and command-line overrides. Tables merge key by key;
//! arrays and scalars replace. Each layer is checked against the schema before it is
//! merged, so a mistake is reported as one line naming the file and line (or variable, or
//! flag) and the key, with a did-you-mean for typos. [`LoadedConfig`] remembers where each
//! effective value came from, for `code-mesh config show --origin`.
//!
//! The schema itself (`Config` and friends) lives in `code_mesh_protocol::config`.
//!
//! This crate must not depend on the engine (`core`), providers, tools or store, and does
//! no I/O beyond reading the config files and, in [`save_permission_rules`], adding rules
//! to one: the environment is passed in, never read here.

mod agent_files;
mod error;
mod paths;
mod render;
mod rules_file;
mod schema;
mod starter;
mod tree;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use agent_files::{AGENTS_DIR, AgentFile, AgentFileError, load_agent_files, parse_agent_file};
pub use code_mesh_protocol::config::Config;
pub use error::{ConfigError, Origin};
pub use paths::{Paths, project_config_file};
pub use rules_file::{SaveRulesError, save_permission_rules};
pub use starter::default_config_file_text;
/// A TOML value, as given to [`CliOverride::new`].
pub use toml::Value;

use schema::{ROOT, Shape};
use tree::Node;

/// Names of the environment variables this crate understands.
pub mod env_vars {
    /// One folder for config, data and cache (tests set it).
    pub const CODE_MESH_HOME: &str = "CODE_MESH_HOME";
    /// An extra config file, above the project file and below the environment.
    pub const CODE_MESH_CONFIG: &str = "CODE_MESH_CONFIG";
    /// Prefix of the `CODE_MESH_<SECTION>__<KEY>` overrides.
    pub const OVERRIDE_PREFIX: &str = "CODE_MESH_";
    /// Separates the path segments of an override, e.g. `CODE_MESH_PROVIDERS__MODEL`.
    pub const OVERRIDE_SEPARATOR: &str = "__";
    /// XDG config base directory.
    pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
    /// XDG data base directory.
    pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
    /// XDG cache base directory.
    pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
}

/// Everything [`load`] needs; nothing is read from the process environment.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Where the global config file lives.
    pub paths: Paths,
    /// The workspace (repository) root holding `code-mesh.toml`, if any.
    pub workspace_root: Option<PathBuf>,
    /// The file named by `CODE_MESH_CONFIG`; unlike the other files it must exist.
    pub extra_file: Option<PathBuf>,
    /// The environment; only `CODE_MESH_<SECTION>__<KEY>` variables are used.
    pub env: Vec<(String, String)>,
    /// Command-line overrides, applied last, in order.
    pub overrides: Vec<CliOverride>,
}

impl LoadOptions {
    /// Options taken from an environment: [`Paths::resolve`], `CODE_MESH_CONFIG` and the
    /// overrides. Add command-line overrides to [`LoadOptions::overrides`].
    pub fn from_env(
        env: Vec<(String, String)>,
        workspace_root: Option<PathBuf>,
    ) -> Result<LoadOptions, ConfigError> {
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let paths = Paths::resolve(&lookup)?;
        let extra_file = lookup(env_vars::CODE_MESH_CONFIG)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from);
        Ok(LoadOptions {
            paths,
            workspace_root,
            extra_file,
            env,
            overrides: Vec::new(),
        })
    }
}

/// One command-line setting, e.g. `--model openai/gpt-5` as
/// `CliOverride::new("providers.model", "openai/gpt-5", "--model")`.
#[derive(Debug, Clone, PartialEq)]
pub struct CliOverride {
    /// Dotted key path, e.g. `providers.model`.
    pub key: String,
    /// The value. A string given for a number, boolean or array key is parsed as TOML,
    /// as environment values are.
    pub value: Value,
    /// The flag that set it, for messages and `--origin`, e.g. `--model`.
    pub flag: String,
}

impl CliOverride {
    /// An override of `key` with `value`, set by `flag`.
    pub fn new(key: impl Into<String>, value: impl Into<Value>, flag: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            flag: flag.into(),
        }
    }

    /// Parses `key=value` as given to a generic flag such as `--config`; the value is
    /// read like an environment value.
    pub fn parse(flag: impl Into<String>, assignment: &str) -> Result<Self, ConfigError> {
        let flag = flag.into();
        match assignment.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok(Self::new(key.trim(), value.trim(), flag))
            }
            _ => Err(ConfigError::InvalidKey {
                origin: Origin::CommandLine { flag },
                message: format!("expected KEY=VALUE, e.g. agents.max_count=4, got `{assignment}`"),
            }),
        }
    }

    fn layer(&self) -> Result<Node, ConfigError> {
        let origin = Origin::CommandLine {
            flag: self.flag.clone(),
        };
        let path: Vec<String> = self.key.split('.').map(|s| s.trim().to_owned()).collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::InvalidKey {
                origin,
                message: format!("invalid key `{}`", self.key),
            });
        }
        let value = match &self.value {
            Value::String(raw) => loose_value(raw, ROOT.at(path.iter().map(String::as_str))),
            other => other.clone(),
        };
        Ok(Node::at_path(&path, value, &origin))
    }
}

/// The effective configuration and where each value came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The merged, validated configuration.
    pub config: Config,
    origins: BTreeMap<String, Origin>,
    rule_layers: Vec<RuleLayer>,
}

impl LoadedConfig {
    /// Where the value of a dotted leaf key (e.g. `providers.model`) was set: `None` if the
    /// effective configuration has no such value, [`Origin::Default`] if no layer set it.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        static DEFAULT: Origin = Origin::Default;
        if let Some(origin) = self.origins.get(key) {
            return Some(origin);
        }
        render::effective_leaves(&self.config)
            .iter()
            .any(|(leaf, _)| leaf == key)
            .then_some(&DEFAULT)
    }

    /// `permissions.rules` layer by layer, lowest first, with where each was written.
    pub fn permission_rule_layers(&self) -> &[RuleLayer] {
        &self.rule_layers
    }

    /// The effective configuration as a TOML file.
    pub fn render(&self) -> String {
        render::render(&self.config)
    }

    /// Every effective value as `key = value   # origin`, one per line.
    pub fn render_with_origins(&self) -> String {
        render::render_with_origins(&self.config, &self.origins)
    }
}

/// Loads and merges every layer; see the crate documentation for the order.
///
/// A missing global or project file is skipped; a missing `CODE_MESH_CONFIG` file, an
/// unreadable file, a syntax error, an unknown key or an invalid value is an error.
pub fn load(options: &LoadOptions) -> Result<LoadedConfig, ConfigError> {
    let mut merged = Node::empty_table(Origin::Default);
    let project_file = options.workspace_root.as_deref().map(project_config_file);
    let mut rule_layers = Vec::new();
    let mut apply = |layer: Node| -> Result<(), ConfigError> {
        schema::check_tree(&layer)?;
        if let Some(rules) = layer.find(&["permissions", "rules"]) {
            rule_layers.push(rule_layer(rules, project_file.as_deref())?);
        }
        merged.merge(layer);
        Ok(())
    };

    if let Some(layer) = read_file(&options.paths.global_config_file(), false)? {
        apply(layer)?;
    }
    if let Some(root) = &options.workspace_root
        && let Some(layer) = read_file(&project_config_file(root), false)?
    {
        apply(layer)?;
    }
    if let Some(extra) = &options.extra_file
        && let Some(layer) = read_file(extra, true)?
    {
        apply(layer)?;
    }
    for layer in env_layers(&options.env)? {
        apply(layer)?;
    }
    for cli in &options.overrides {
        apply(cli.layer()?)?;
    }

    let flattened = merged.flatten();
    let mut config = deserialize(flattened.table, &flattened.leaves, &flattened.tables)?;
    // Unlike other arrays, rules accumulate: a higher layer adds rules (and, last match
    // winning, overrides), but cannot drop the rules of the layers below it.
    config.permissions.rules = rule_layers
        .iter()
        .flat_map(|layer| layer.rules.iter().cloned())
        .collect();
    Ok(LoadedConfig {
        config,
        origins: flattened.leaves,
        rule_layers,
    })
}

/// The `permissions.rules` written in one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleLayer {
    /// Where the `rules` key was written.
    pub origin: Origin,
    /// True for the repository's own `code-mesh.toml`, which a user may not have written.
    pub from_project_file: bool,
    pub rules: Vec<code_mesh_protocol::config::PermissionRule>,
}

fn rule_layer(node: &Node, project_file: Option<&Path>) -> Result<RuleLayer, ConfigError> {
    let from_project_file = matches!(
        (&node.origin, project_file),
        (Origin::File { path, .. }, Some(project)) if path == project
    );
    let value = node.clone().into_value();
    let rules = value
        .try_into()
        .map_err(|err: toml::de::Error| ConfigError::InvalidValue {
            origin: node.origin.clone(),
            key: "permissions.rules".to_owned(),
            message: format!("`permissions.rules`: {}", err.message()),
            hint: None,
        })?;
    Ok(RuleLayer {
        origin: node.origin.clone(),
        from_project_file,
        rules,
    })
}

/// Reads and parses one config file; `None` if it is missing and not `required`.
fn read_file(path: &Path, required: bool) -> Result<Option<Node>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if required {
                return Err(ConfigError::MissingExtraFile {
                    path: path.to_owned(),
                });
            }
            return Ok(None);
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    tree::parse_file(path, &text).map(Some)
}

/// One layer per `CODE_MESH_<SECTION>__<KEY>` variable, sorted by name so the result does
/// not depend on the order of the environment.
fn env_layers(env: &[(String, String)]) -> Result<Vec<Node>, ConfigError> {
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(name, _)| {
            name.strip_prefix(env_vars::OVERRIDE_PREFIX)
                .is_some_and(|rest| rest.contains(env_vars::OVERRIDE_SEPARATOR))
        })
        .collect();
    vars.sort();
    vars.into_iter()
        .map(|(name, raw)| {
            let origin = Origin::Env { var: name.clone() };
            let rest = &name[env_vars::OVERRIDE_PREFIX.len()..];
            let path: Vec<String> = rest
                .split(env_vars::OVERRIDE_SEPARATOR)
                .map(str::to_lowercase)
                .collect();
            if path.iter().any(String::is_empty) {
                return Err(ConfigError::InvalidKey {
                    origin,
                    message: "cannot name a config key: segments are separated by one `__` and none may be empty"
                        .to_owned(),
                });
            }
            let value = loose_value(raw, ROOT.at(path.iter().map(String::as_str)));
            Ok(Node::at_path(&path, value, &origin))
        })
        .collect()
}

/// Reads a value given as text (environment, command line): as TOML when it parses as
/// TOML (numbers, booleans, arrays, inline tables, quoted strings), else as a string.
/// A key whose values are strings (names, durations, choices) takes the text as is, so
/// `CODE_MESH_PROJECT__VERSION=1.0` stays the string "1.0".
fn loose_value(raw: &str, shape: Option<&Shape>) -> Value {
    let parsed = parse_toml_value(raw);
    let textual = matches!(shape, Some(Shape::Leaf(kind)) if kind.is_textual());
    match parsed {
        Some(Value::String(text)) => Value::String(text),
        Some(_) if textual => Value::String(raw.to_owned()),
        Some(value) => value,
        None => Value::String(raw.to_owned()),
    }
}

fn parse_toml_value(raw: &str) -> Option<Value> {
    let mut table: toml::Table = toml::from_str(&format!("value = {raw}")).ok()?;
    if table.len() != 1 {
        return None;
    }
    table.remove("value")
}

/// The merged tree into [`Config`]. The schema checks catch nearly everything first;
/// whatever serde still refuses is reported at the origin of the key it names.
fn deserialize(
    table: toml::Table,
    leaves: &BTreeMap<String, Origin>,
    tables: &BTreeMap<String, Origin>,
) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(Value::Table(table)).map_err(|error| {
        let mut path: Vec<String> = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                _ => None,
            })
            .collect();
        let key = schema::dotted(&path);
        let origin = loop {
            let prefix = schema::dotted(&path);
            if let Some(origin) = leaves.get(&prefix).or_else(|| tables.get(&prefix)) {
                break origin.clone();
            }
            if path.pop().is_none() {
                break Origin::Default;
            }
        };
        ConfigError::InvalidValue {
            origin,
            message: format!("`{key}`: {}", error.inner().message()),
            key,
            hint: None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_values_follow_the_schema() {
        let at = |path: &str| ROOT.at(path.split('.'));
        assert_eq!(loose_value("8", at("agents.max_count")), Value::Integer(8));
        assert_eq!(
            loose_value("1.0", at("project.version")),
            Value::from("1.0")
        );
        assert_eq!(
            loose_value("\"q\"", at("project.version")),
            Value::from("q")
        );
        assert_eq!(
            loose_value("100k", at("memory.max_context_size")),
            Value::from("100k")
        );
        assert_eq!(loose_value("true", at("tools.git")), Value::Boolean(true));
        assert_eq!(
            loose_value("[\"a\", \"b\"]", at("providers.fallback")),
            Value::from(vec!["a", "b"])
        );
        assert_eq!(loose_value("1\nx = 2", None), Value::from("1\nx = 2"));
    }

    #[test]
    fn starter_file_loads_to_the_defaults() {
        let dir = std::env::temp_dir().join("code-mesh-config-starter-unit");
        let path = dir.join("config.toml");
        let node = tree::parse_file(&path, &default_config_file_text()).unwrap();
        schema::check_tree(&node).unwrap();
        let flattened = node.flatten();
        let config = deserialize(flattened.table, &flattened.leaves, &flattened.tables).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn starter_file_uncommented_is_valid_and_shows_the_defaults() {
        let text: String = default_config_file_text()
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.split_once(" = ").is_some_and(|(key, _)| {
                            key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                        }) =>
                {
                    rest
                }
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let node = tree::parse_file(Path::new("/starter.toml"), &text).unwrap();
        schema::check_tree(&node).unwrap();
        let flattened = node.flatten();
        let config = deserialize(flattened.table, &flattened.leaves, &flattened.tables).unwrap();
        let defaults = Config::default();
        let mut agents = config.agents.clone();
        let reviewer = agents.profiles.remove("reviewer").unwrap();
        assert_eq!(reviewer.temperature, Some(0.2));
        assert_eq!(reviewer.tools.unwrap().len(), 4);
        assert_eq!(agents, defaults.agents);
        assert_eq!(config.memory, defaults.memory);
        assert_eq!(config.tools, defaults.tools);
        assert_eq!(config.project.instructions, defaults.project.instructions);
        assert_eq!(config.providers.named["local"].models, ["qwen3-coder"]);
    }

    #[test]
    fn schema_matches_the_protocol_types() {
        // A config with every optional value set serializes to exactly the schema's keys.
        let mut config = Config::default();
        config.project.name = Some("n".into());
        config.project.version = Some("v".into());
        config.project.language = Some("l".into());
        config.project.framework = Some("f".into());
        config.providers.default = Some("openai".into());
        config.providers.model = Some("openai/m".into());
        config.providers.max_tokens = Some(1);
        config.providers.temperature = Some(1.0);
        let mut provider = code_mesh_protocol::config::ProviderConfig {
            base_url: Some("u".into()),
            api_key_env: Some("K".into()),
            wire: Some(code_mesh_protocol::config::Wire::Anthropic),
            thinking_budget: Some(2048),
            ..Default::default()
        };
        provider.headers.insert("h".into(), "v".into());
        provider.model_info.insert(
            "m".into(),
            code_mesh_protocol::config::ModelInfoConfig {
                context: Some(128_000.into()),
                max_output: Some(8_000.into()),
                input_price: Some(3.0),
                output_price: Some(15.0),
                cache_read_price: Some(0.3),
                cache_write_price: Some(3.75),
            },
        );
        config.providers.named.insert("p".into(), provider);
        config.providers.catalogue = Some("c.json".into());
        config.providers.cache = true;
        config.providers.max_retries = 0;
        config.agents.profiles.insert(
            "reviewer".into(),
            code_mesh_protocol::config::AgentProfileConfig {
                description: Some("d".into()),
                prompt: Some("p".into()),
                tools: Some(vec!["read".into()]),
                model: Some("openai/m".into()),
                temperature: Some(0.5),
                max_turns: Some(3),
            },
        );
        config
            .permissions
            .rules
            .push(code_mesh_protocol::config::PermissionRule {
                tool: "bash".into(),
                pattern: Some("git push*".into()),
                action: code_mesh_protocol::config::PermissionAction::Deny,
            });

        let mut serialized = Vec::new();
        let Ok(Value::Table(table)) = Value::try_from(&config) else {
            panic!("config does not serialize to a table");
        };
        collect_keys(&table, &mut Vec::new(), &mut serialized);
        let mut expected = Vec::new();
        collect_shape_keys(&ROOT, &mut Vec::new(), &mut expected);
        serialized.sort();
        expected.sort();
        assert_eq!(serialized, expected);

        // And what the schema accepts, serde accepts.
        let node = Node::from_value(Value::Table(table), &Origin::Default);
        schema::check_tree(&node).unwrap();
        let flattened = node.flatten();
        let back = deserialize(flattened.table, &flattened.leaves, &flattened.tables).unwrap();
        assert_eq!(back, config);
    }

    fn collect_keys(table: &toml::Table, path: &mut Vec<String>, out: &mut Vec<String>) {
        for (key, value) in table {
            // Named providers and headers are open-ended: compare them by their shape.
            let segment = match path.as_slice() {
                [p] if p == "providers" && key == "p" => "*".to_owned(),
                [a, p] if a == "agents" && p == "profiles" => "*".to_owned(),
                [p, _, h] if p == "providers" && (h == "headers" || h == "model_info") => {
                    "*".to_owned()
                }
                _ => key.clone(),
            };
            path.push(segment);
            match value {
                Value::Table(inner) => collect_keys(inner, path, out),
                _ => out.push(path.join(".")),
            }
            path.pop();
        }
    }

    fn collect_shape_keys(shape: &Shape, path: &mut Vec<String>, out: &mut Vec<String>) {
        match shape {
            Shape::Table { fields, other } => {
                for (name, child) in fields.iter() {
                    path.push((*name).to_owned());
                    collect_shape_keys(child, path, out);
                    path.pop();
                }
                if let Some(other) = other {
                    path.push("*".to_owned());
                    collect_shape_keys(other, path, out);
                    path.pop();
                }
            }
            Shape::Leaf(_) => out.push(path.join(".")),
        }
    }
}
