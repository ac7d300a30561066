//! Typed arguments: deserialising what the model wrote, with errors that name the field.

use code_mesh_core::{PermissionTarget, ToolError};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Deserialises `arguments` into `T`; on failure the error names the tool, the field at
/// fault, what serde expected there and the full argument signature from `schema`.
pub(crate) fn parse<T: DeserializeOwned>(
    tool: &str,
    arguments: Value,
    schema: &Value,
) -> Result<T, ToolError> {
    // Some models send `null` for "no arguments"; the schema's required fields still apply.
    let arguments = match arguments {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other,
    };
    serde_path_to_error::deserialize(arguments).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        let at = if field == "." || field.is_empty() {
            String::new()
        } else {
            let about = property_summary(schema, &field)
                .map(|summary| format!(" ({summary})"))
                .unwrap_or_default();
            format!("field `{field}`{about}: ")
        };
        invalid(tool, format!("{at}{inner}"), schema)
    })
}

/// An "invalid arguments" error for a check serde cannot express (ranges, empty strings).
pub(crate) fn invalid(tool: &str, problem: impl std::fmt::Display, schema: &Value) -> ToolError {
    ToolError::new(format!(
        "invalid arguments for `{tool}`: {problem}. Expected arguments: {}",
        signature(schema)
    ))
}

/// `{path: string, offset?: integer, limit?: integer}`: required fields first, as declared.
pub(crate) fn signature(schema: &Value) -> String {
    let Some(properties) = schema["properties"].as_object() else {
        return "{}".to_string();
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<(bool, String)> = properties
        .iter()
        .map(|(name, property)| {
            let is_required = required.contains(&name.as_str());
            let kind = type_name(property);
            let mark = if is_required { "" } else { "?" };
            (is_required, format!("{name}{mark}: {kind}"))
        })
        .collect();
    fields.sort_by_key(|(is_required, _)| !is_required);
    let fields: Vec<String> = fields.into_iter().map(|(_, field)| field).collect();
    format!("{{{}}}", fields.join(", "))
}

fn type_name(property: &Value) -> String {
    match property["type"].as_str() {
        Some("array") => format!("array of {}", type_name(&property["items"])),
        Some(kind) => kind.to_string(),
        None => "value".to_string(),
    }
}

/// "integer, optional: The 1-based line number ..." for the top-level field `field`.
fn property_summary(schema: &Value, field: &str) -> Option<String> {
    let name = field.split(['.', '[']).next()?;
    let property = schema["properties"].get(name)?;
    let required = schema["required"]
        .as_array()
        .is_some_and(|names| names.iter().any(|n| n == name));
    let presence = if required { "required" } else { "optional" };
    let description = property["description"].as_str().unwrap_or_default();
    let description = description
        .split_terminator(". ")
        .next()
        .unwrap_or_default();
    Some(format!(
        "{}, {presence}: {}",
        type_name(property),
        description.trim_end_matches('.')
    ))
}

/// The string field `name` of possibly invalid arguments, for `summarize`.
pub(crate) fn str_field<'a>(arguments: &'a Value, name: &str) -> Option<&'a str> {
    arguments.get(name).and_then(Value::as_str)
}

/// The `path` argument as a permission target, `default` when absent (a call without a
/// valid path has no target: only rules without a pattern apply, and it fails anyway).
pub(crate) fn path_target(arguments: &Value, default: Option<&str>) -> PermissionTarget {
    match str_field(arguments, "path").or(default) {
        Some(path) => PermissionTarget::Paths(vec![path.to_owned()]),
        None => PermissionTarget::None,
    }
}

/// `text` in backticks, shortened to its first line and `max` characters.
pub(crate) fn quoted_excerpt(text: &str, max: usize) -> String {
    let mut lines = text.trim().lines();
    let first = lines.next().unwrap_or_default();
    let more_lines = lines.count();
    let mut excerpt: String = first.chars().take(max).collect();
    if excerpt.len() < first.len() || more_lines > 0 {
        excerpt.push('…');
    }
    format!("`{excerpt}`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only parsed")]
    struct Args {
        path: String,
        #[serde(default)]
        limit: Option<u64>,
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "description": "How many lines to show. More text."},
                "path": {"type": "string", "description": "The file to read."},
            },
            "required": ["path"],
            "additionalProperties": false,
        })
    }

    #[test]
    fn wrong_type_names_the_field_and_what_it_expects() {
        let error = parse::<Args>("read", json!({"path": "a", "limit": "ten"}), &schema())
            .unwrap_err()
            .message;
        assert!(error.starts_with("invalid arguments for `read`: field `limit`"));
        assert!(error.contains("integer, optional: How many lines to show"));
        assert!(error.contains("invalid type: string \"ten\""));
        assert!(error.ends_with("Expected arguments: {path: string, limit?: integer}"));
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let missing = parse::<Args>("read", json!({}), &schema()).unwrap_err();
        assert!(
            missing.message.contains("missing field `path`"),
            "{missing}"
        );
        let unknown = parse::<Args>("read", json!({"path": "a", "file": "b"}), &schema())
            .unwrap_err()
            .message;
        assert!(unknown.contains("unknown field `file`"), "{unknown}");
        assert!(unknown.contains("`path`"), "{unknown}");
    }

    #[test]
    fn null_arguments_mean_an_empty_object() {
        let error = parse::<Args>("read", Value::Null, &schema()).unwrap_err();
        assert!(error.message.contains("missing field `path`"));
    }

    #[test]
    fn file_tools_and_bash_give_permission_targets() {
        let registry = crate::builtin_tools();
        let target = |name: &str, arguments: Value| {
            registry.get(name).unwrap().permission_target(&arguments)
        };
        let paths =
            |list: &[&str]| PermissionTarget::Paths(list.iter().map(|p| (*p).to_owned()).collect());
        for name in ["read", "write", "edit", "glob", "grep", "ls"] {
            assert_eq!(
                target(name, json!({"path": "src/.env", "pattern": "x"})),
                paths(&["src/.env"]),
                "{name}"
            );
        }
        for name in ["glob", "grep", "ls"] {
            assert_eq!(
                target(name, json!({"pattern": "x"})),
                paths(&["."]),
                "{name}"
            );
        }
        assert_eq!(target("read", json!({})), PermissionTarget::None);
        assert_eq!(
            target("bash", json!({"command": "cat .env && ls"})),
            PermissionTarget::Command("cat .env && ls".into())
        );
        assert_eq!(
            target("bash", json!({"command": 3})),
            PermissionTarget::None
        );
    }

    #[test]
    fn excerpts_are_one_line_and_bounded() {
        assert_eq!(quoted_excerpt("cargo test", 20), "`cargo test`");
        assert_eq!(quoted_excerpt("make\nmake install", 20), "`make…`");
        assert_eq!(quoted_excerpt("abcdef", 3), "`abc…`");
    }
}
