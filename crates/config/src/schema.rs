//! The shape of a valid config tree, used to check every layer before merging it, so that
//! each mistake is reported where it was written.
//!
//! This mirrors `code_mesh_protocol::config`; the tests keep the two in step.

use code_mesh_protocol::SandboxMode;
use code_mesh_protocol::config::{Duration, PermissionAction, Strategy, TokenCount};
use toml::Value;

use crate::error::ConfigError;
use crate::tree::{Node, NodeKind};

/// What a config table or leaf may hold.
#[derive(Debug)]
pub(crate) enum Shape {
    /// A table with fixed keys, and optionally any other key holding `other`.
    Table {
        fields: &'static [(&'static str, Shape)],
        other: Option<&'static Shape>,
    },
    /// A single value.
    Leaf(Kind),
}

/// The kinds of leaf value.
#[derive(Debug)]
pub(crate) enum Kind {
    Text,
    Bool,
    /// An integer from 1 to `max`.
    Count {
        max: u64,
    },
    /// A number in a closed range.
    Number {
        min: f64,
        max: f64,
    },
    /// An integer in a closed range (where 0 makes sense, unlike `Count`).
    Integer {
        min: u64,
        max: u64,
    },
    Duration,
    TokenCount,
    Choice(&'static [&'static str]),
    TextList,
    /// An array of `{ tool, pattern?, action }` tables (`permissions.rules`).
    PermissionRules,
}

const STRATEGIES: [&str; 5] = [
    Strategy::ALL[0].as_str(),
    Strategy::ALL[1].as_str(),
    Strategy::ALL[2].as_str(),
    Strategy::ALL[3].as_str(),
    Strategy::ALL[4].as_str(),
];

const U32_MAX: u64 = u32::MAX as u64;

const SANDBOX_MODES: [&str; 3] = [
    SandboxMode::WorkspaceWrite.as_str(),
    SandboxMode::ReadOnly.as_str(),
    SandboxMode::Off.as_str(),
];

const PERMISSION_ACTIONS: [&str; 3] = [
    PermissionAction::ALL[0].as_str(),
    PermissionAction::ALL[1].as_str(),
    PermissionAction::ALL[2].as_str(),
];

/// The keys of one `permissions.rules` entry.
const PERMISSION_RULE_KEYS: [&str; 3] = ["tool", "pattern", "action"];

/// Prices are in US dollars per million tokens; a million dollars is surely a typo.
const PRICE: Shape = Shape::Leaf(Kind::Number {
    min: 0.0,
    max: 1_000_000.0,
});

/// `[providers.<name>.model_info.<model>]`
static MODEL_INFO: Shape = Shape::Table {
    fields: &[
        ("context", Shape::Leaf(Kind::TokenCount)),
        ("max_output", Shape::Leaf(Kind::TokenCount)),
        ("input_price", PRICE),
        ("output_price", PRICE),
        ("cache_read_price", PRICE),
        ("cache_write_price", PRICE),
    ],
    other: None,
};

static NAMED_PROVIDER: Shape = Shape::Table {
    fields: &[
        ("base_url", Shape::Leaf(Kind::Text)),
        ("api_key_env", Shape::Leaf(Kind::Text)),
        ("models", Shape::Leaf(Kind::TextList)),
        (
            "wire",
            Shape::Leaf(Kind::Choice(&[
                "chat",
                "responses",
                "anthropic",
                "gemini",
                "ollama",
            ])),
        ),
        (
            "headers",
            Shape::Table {
                fields: &[],
                other: Some(&Shape::Leaf(Kind::Text)),
            },
        ),
        (
            "model_info",
            Shape::Table {
                fields: &[],
                other: Some(&MODEL_INFO),
            },
        ),
        (
            "thinking_budget",
            Shape::Leaf(Kind::Integer {
                min: 1024,
                max: 1_000_000,
            }),
        ),
    ],
    other: None,
};

/// `[agents.profiles.<name>]`
static AGENT_PROFILE: Shape = Shape::Table {
    fields: &[
        ("description", Shape::Leaf(Kind::Text)),
        ("prompt", Shape::Leaf(Kind::Text)),
        ("tools", Shape::Leaf(Kind::TextList)),
        ("model", Shape::Leaf(Kind::Text)),
        (
            "temperature",
            Shape::Leaf(Kind::Number { min: 0.0, max: 2.0 }),
        ),
        ("max_turns", Shape::Leaf(Kind::Count { max: U32_MAX })),
    ],
    other: None,
};

/// The whole config file.
pub(crate) static ROOT: Shape = Shape::Table {
    fields: &[
        (
            "project",
            Shape::Table {
                fields: &[
                    ("name", Shape::Leaf(Kind::Text)),
                    ("version", Shape::Leaf(Kind::Text)),
                    ("language", Shape::Leaf(Kind::Text)),
                    ("framework", Shape::Leaf(Kind::Text)),
                    ("instructions", Shape::Leaf(Kind::TextList)),
                ],
                other: None,
            },
        ),
        (
            "agents",
            Shape::Table {
                fields: &[
                    ("max_count", Shape::Leaf(Kind::Count { max: U32_MAX })),
                    ("default_strategy", Shape::Leaf(Kind::Choice(&STRATEGIES))),
                    ("auto_spawn", Shape::Leaf(Kind::Bool)),
                    ("timeout", Shape::Leaf(Kind::Duration)),
                    ("max_turns", Shape::Leaf(Kind::Count { max: U32_MAX })),
                    ("pipeline", Shape::Leaf(Kind::TextList)),
                    ("max_loops", Shape::Leaf(Kind::Integer { min: 0, max: 10 })),
                    ("mesh", Shape::Leaf(Kind::TextList)),
                    ("mesh_rounds", Shape::Leaf(Kind::Count { max: 100 })),
                    ("swarm_size", Shape::Leaf(Kind::Count { max: 16 })),
                    ("swarm_models", Shape::Leaf(Kind::TextList)),
                    (
                        "swarm_reviewers",
                        Shape::Leaf(Kind::Integer { min: 0, max: 8 }),
                    ),
                    (
                        "profiles",
                        Shape::Table {
                            fields: &[],
                            other: Some(&AGENT_PROFILE),
                        },
                    ),
                ],
                other: None,
            },
        ),
        (
            "providers",
            Shape::Table {
                fields: &[
                    ("default", Shape::Leaf(Kind::Text)),
                    ("model", Shape::Leaf(Kind::Text)),
                    ("fallback", Shape::Leaf(Kind::TextList)),
                    ("max_tokens", Shape::Leaf(Kind::Count { max: U32_MAX })),
                    (
                        "temperature",
                        Shape::Leaf(Kind::Number { min: 0.0, max: 2.0 }),
                    ),
                    (
                        "max_retries",
                        Shape::Leaf(Kind::Integer { min: 0, max: 10 }),
                    ),
                    ("cache", Shape::Leaf(Kind::Bool)),
                    ("catalogue", Shape::Leaf(Kind::Text)),
                ],
                other: Some(&NAMED_PROVIDER),
            },
        ),
        (
            "memory",
            Shape::Table {
                fields: &[
                    ("session_timeout", Shape::Leaf(Kind::Duration)),
                    ("max_context_size", Shape::Leaf(Kind::TokenCount)),
                    ("auto_summarize", Shape::Leaf(Kind::Bool)),
                    ("persistence", Shape::Leaf(Kind::Choice(&["sqlite"]))),
                ],
                other: None,
            },
        ),
        (
            "tools",
            Shape::Table {
                fields: &[
                    ("git", Shape::Leaf(Kind::Bool)),
                    ("package_manager", Shape::Leaf(Kind::Text)),
                    ("test_runner", Shape::Leaf(Kind::Text)),
                    ("formatter", Shape::Leaf(Kind::Text)),
                    ("linter", Shape::Leaf(Kind::Text)),
                    ("allowed_paths", Shape::Leaf(Kind::TextList)),
                    ("bash_timeout", Shape::Leaf(Kind::Duration)),
                    (
                        "max_output_bytes",
                        Shape::Leaf(Kind::Count { max: U32_MAX }),
                    ),
                    ("sandbox", Shape::Leaf(Kind::Choice(&SANDBOX_MODES))),
                    ("network", Shape::Leaf(Kind::Bool)),
                    ("writable_roots", Shape::Leaf(Kind::TextList)),
                    ("web_allow", Shape::Leaf(Kind::TextList)),
                ],
                other: None,
            },
        ),
        (
            "permissions",
            Shape::Table {
                fields: &[("rules", Shape::Leaf(Kind::PermissionRules))],
                other: None,
            },
        ),
    ],
    other: None,
};

impl Shape {
    /// The shape of `key` inside this table, if it may appear.
    pub(crate) fn child(&self, key: &str) -> Option<&Shape> {
        match self {
            Shape::Table { fields, other } => fields
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, shape)| shape)
                .or(*other),
            Shape::Leaf(_) => None,
        }
    }

    /// The shape at a dotted path from here.
    pub(crate) fn at<'a>(&self, path: impl IntoIterator<Item = &'a str>) -> Option<&Shape> {
        path.into_iter()
            .try_fold(self, |shape, segment| shape.child(segment))
    }

    /// The fixed keys of this table, in schema order.
    pub(crate) fn field_names(&self) -> Vec<&'static str> {
        match self {
            Shape::Table { fields, .. } => fields.iter().map(|(name, _)| *name).collect(),
            Shape::Leaf(_) => Vec::new(),
        }
    }
}

/// Checks a layer's tree against the schema: every key known, every value valid.
pub(crate) fn check_tree(node: &Node) -> Result<(), ConfigError> {
    check_node(&ROOT, node, &mut Vec::new())
}

fn check_node(shape: &Shape, node: &Node, path: &mut Vec<String>) -> Result<(), ConfigError> {
    match (shape, &node.kind) {
        (Shape::Table { fields, other }, NodeKind::Table(children)) => {
            for (key, child) in children {
                path.push(key.clone());
                let known = fields.iter().find(|(name, _)| name == key);
                match (known, other) {
                    (Some((_, child_shape)), _) => check_node(child_shape, child, path)?,
                    // An unknown name under [providers] is a provider only if it is a table.
                    // (Under `model_info`, which has no fixed keys, a value is simply not
                    // the table it must be.)
                    (None, Some(Shape::Table { .. }))
                        if !fields.is_empty() && !matches!(child.kind, NodeKind::Table(_)) =>
                    {
                        return Err(unknown_key(shape, path, child, true));
                    }
                    (None, Some(other)) => check_node(other, child, path)?,
                    (None, None) => return Err(unknown_key(shape, path, child, false)),
                }
                path.pop();
            }
            Ok(())
        }
        (Shape::Table { fields, other }, NodeKind::Value(value)) => {
            let key = dotted(path);
            let what = if fields.is_empty() && other.is_some() {
                format!(
                    "`{key}` must be a table of strings, e.g. {{ \"X-Title\" = \"code-mesh\" }}, got {}",
                    describe(value)
                )
            } else {
                format!("`{key}` must be a table, got {}", describe(value))
            };
            Err(invalid(node, key, what, None))
        }
        (Shape::Leaf(kind), NodeKind::Table(_)) => {
            let key = dotted(path);
            let message = format!("`{key}` must be {}, got a table", kind.noun());
            Err(invalid(node, key, message, None))
        }
        (Shape::Leaf(kind), NodeKind::Value(value)) => {
            let key = dotted(path);
            match check_value(&key, kind, value) {
                Ok(()) => Ok(()),
                Err((message, hint)) => Err(invalid(node, key, message, hint)),
            }
        }
    }
}

fn invalid(node: &Node, key: String, message: String, hint: Option<String>) -> ConfigError {
    ConfigError::InvalidValue {
        origin: node.origin.clone(),
        key,
        message,
        hint,
    }
}

fn unknown_key(table: &Shape, path: &[String], node: &Node, provider_table: bool) -> ConfigError {
    let expected = table.field_names();
    let typed = path.last().map(String::as_str).unwrap_or_default();
    ConfigError::UnknownKey {
        origin: node.origin.clone(),
        key: dotted(path),
        suggestion: closest(typed, &expected).map(str::to_owned),
        expected: expected.iter().map(|s| (*s).to_owned()).collect(),
        provider_table,
    }
}

/// The candidate closest to `typed`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(typed: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(typed, candidate), *candidate))
        .filter(|(distance, candidate)| {
            let longest = typed.chars().count().max(candidate.chars().count());
            *distance <= (longest / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A dotted key path, quoting segments that are not bare TOML keys.
pub(crate) fn dotted<S: AsRef<str>>(path: &[S]) -> String {
    path.iter()
        .map(|segment| {
            let segment = segment.as_ref();
            let bare = !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if bare {
                segment.to_owned()
            } else {
                quoted(segment)
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value as the user would write it, for "got ..." in messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Table(_) => "a table".to_owned(),
        other => other.to_string(),
    }
}

impl Kind {
    fn noun(&self) -> String {
        match self {
            Kind::Text => "a string".to_owned(),
            Kind::Bool => "true or false".to_owned(),
            Kind::Count { .. } => "a positive integer".to_owned(),
            Kind::Number { min, max } => format!("a number from {min:.1} to {max:.1}"),
            Kind::Integer { min, max } => format!("an integer from {min} to {max}"),
            Kind::Duration => "a duration such as \"30s\", \"5m\" or \"2h\"".to_owned(),
            Kind::TokenCount => "a token count such as 100000, \"100k\" or \"1.5m\"".to_owned(),
            Kind::Choice(choices) => format!("one of {}", quoted_list(choices)),
            Kind::TextList => "an array of strings".to_owned(),
            Kind::PermissionRules => {
                "an array of rules such as [{ tool = \"bash\", pattern = \"git push*\", action = \"deny\" }]"
                    .to_owned()
            }
        }
    }

    /// Whether the value is written as a string, so an environment value is taken as is.
    pub(crate) fn is_textual(&self) -> bool {
        matches!(self, Kind::Text | Kind::Duration | Kind::Choice(_))
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("\"{item}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks one `permissions.rules` entry: a table with a non-empty `tool`, an optional
/// non-empty `pattern` and a known `action`, and nothing else.
fn check_permission_rule(key: &str, rule: &Value) -> Result<(), (String, Option<String>)> {
    let example = "write e.g. { tool = \"bash\", pattern = \"git push*\", action = \"deny\" }";
    let Value::Table(table) = rule else {
        return Err((
            format!("`{key}` must be a table, got {}", describe(rule)),
            Some(example.to_owned()),
        ));
    };
    for (name, value) in table {
        if !PERMISSION_RULE_KEYS.contains(&name.as_str()) {
            let suggestion = closest(name, &PERMISSION_RULE_KEYS)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err((
                format!(
                    "unknown key `{key}.{name}`{suggestion}; a rule has `tool`, `pattern` and `action`"
                ),
                None,
            ));
        }
        let text = value.as_str();
        match name.as_str() {
            "action" => match text {
                Some(text) if PERMISSION_ACTIONS.contains(&text) => {}
                _ => {
                    let suggestion = text
                        .and_then(|text| closest(text, &PERMISSION_ACTIONS))
                        .map(|s| format!(" (did you mean \"{s}\"?)"))
                        .unwrap_or_default();
                    return Err((
                        format!(
                            "`{key}.action` must be one of {}, got {}{suggestion}",
                            quoted_list(&PERMISSION_ACTIONS),
                            describe(value)
                        ),
                        None,
                    ));
                }
            },
            _ if text.is_none_or(|text| text.trim().is_empty()) => {
                return Err((
                    format!(
                        "`{key}.{name}` must be a non-empty string, got {}",
                        describe(value)
                    ),
                    None,
                ));
            }
            _ => {}
        }
    }
    for required in ["tool", "action"] {
        if !table.contains_key(required) {
            return Err((
                format!("`{key}` has no `{required}`"),
                Some(example.to_owned()),
            ));
        }
    }
    Ok(())
}

/// Checks one leaf value; the error is the message (naming `key`) and an optional hint.
fn check_value(key: &str, kind: &Kind, value: &Value) -> Result<(), (String, Option<String>)> {
    let got = describe(value);
    let must = || format!("`{key}` must be {}, got {got}", kind.noun());
    match (kind, value) {
        (Kind::Text, Value::String(_)) | (Kind::Bool, Value::Boolean(_)) => Ok(()),
        (Kind::Count { max }, Value::Integer(n)) => match u64::try_from(*n) {
            Ok(n) if n >= 1 && n <= *max => Ok(()),
            Ok(n) if n > *max => Err((
                format!("`{key}` must be a positive integer no larger than {max}, got {got}"),
                None,
            )),
            _ => Err((must(), None)),
        },
        (Kind::Integer { min, max }, Value::Integer(n)) => match u64::try_from(*n) {
            Ok(n) if n >= *min && n <= *max => Ok(()),
            _ => Err((must(), None)),
        },
        (Kind::Number { min, max }, Value::Integer(_) | Value::Float(_)) => {
            let number = match value {
                Value::Integer(n) => *n as f64,
                Value::Float(x) => *x,
                _ => f64::NAN,
            };
            if number >= *min && number <= *max {
                Ok(())
            } else {
                Err((must(), None))
            }
        }
        (Kind::Duration, Value::String(text)) => match text.parse::<Duration>() {
            Ok(duration) if duration.as_millis() > 0 => Ok(()),
            Ok(_) => Err((format!("`{key}` must be longer than 0s, got {got}"), None)),
            Err(error) => Err((format!("`{key}`: {error}"), None)),
        },
        (Kind::Duration, Value::Integer(n)) => Err((
            format!("`{key}`: invalid duration {n} (use e.g. \"30s\", \"5m\", \"2h\")"),
            Some(format!(
                "a duration needs a unit: write \"{n}s\" for {n} seconds"
            )),
        )),
        (Kind::TokenCount, Value::Integer(n)) => {
            if *n >= 1 {
                Ok(())
            } else {
                Err((
                    format!("`{key}` must be a positive token count, got {got}"),
                    None,
                ))
            }
        }
        (Kind::TokenCount, Value::String(text)) => match text.parse::<TokenCount>() {
            Ok(count) if count.get() > 0 => Ok(()),
            Ok(_) => Err((
                format!("`{key}` must be a positive token count, got {got}"),
                None,
            )),
            Err(error) => Err((format!("`{key}`: {error}"), None)),
        },
        (Kind::Choice(choices), Value::String(text)) => {
            if choices.contains(&text.as_str()) {
                Ok(())
            } else {
                let suggestion = closest(text, choices)
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                Err((format!("{}{suggestion}", must()), None))
            }
        }
        (Kind::TextList, Value::Array(items)) => {
            if items.iter().all(Value::is_str) {
                Ok(())
            } else {
                Err((must(), None))
            }
        }
        (Kind::TextList, Value::String(text)) => {
            Err((must(), Some(format!("write a TOML array: [\"{text}\"]"))))
        }
        (Kind::PermissionRules, Value::Array(rules)) => rules
            .iter()
            .enumerate()
            .try_for_each(|(index, rule)| check_permission_rule(&format!("{key}[{index}]"), rule)),
        _ => Err((must(), None)),
    }
}
