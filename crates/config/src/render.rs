//! The effective configuration as text, for `code-mesh config show [--origin]`.

use std::collections::BTreeMap;

use code_mesh_protocol::config::Config;
use toml::Value;

use crate::error::Origin;
use crate::schema::{self, ROOT, Shape};

/// The configuration as a TOML file.
pub(crate) fn render(config: &Config) -> String {
    toml::to_string(config)
        .unwrap_or_else(|error| format!("# cannot render the configuration: {error}\n"))
}

/// Every leaf as `key = value   # origin`, in schema order.
pub(crate) fn render_with_origins(config: &Config, origins: &BTreeMap<String, Origin>) -> String {
    let lines: Vec<(String, String)> = effective_leaves(config)
        .into_iter()
        .map(|(key, value)| {
            let origin = origins.get(&key).unwrap_or(&Origin::Default).to_string();
            (format!("{key} = {value}"), origin)
        })
        .collect();
    let width = lines
        .iter()
        .map(|(line, _)| line.chars().count())
        .filter(|len| *len <= MAX_ALIGN)
        .max()
        .unwrap_or(0);
    lines
        .into_iter()
        .map(|(line, origin)| format!("{line:<width$}   # {origin}\n"))
        .collect()
}

/// Longer lines are not padded, so one long array does not push every comment right.
const MAX_ALIGN: usize = 56;

/// Every leaf of the effective configuration as (dotted key, TOML value), in schema order.
pub(crate) fn effective_leaves(config: &Config) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Ok(Value::Table(table)) = Value::try_from(config) {
        collect(Some(&ROOT), &table, &mut Vec::new(), &mut out);
    }
    out
}

fn collect(
    shape: Option<&Shape>,
    table: &toml::Table,
    path: &mut Vec<String>,
    out: &mut Vec<(String, Value)>,
) {
    let known = shape.map(Shape::field_names).unwrap_or_default();
    let ordered = known
        .iter()
        .filter_map(|name| table.get_key_value(*name))
        .chain(
            table
                .iter()
                .filter(|(key, _)| !known.contains(&key.as_str())),
        );
    for (key, value) in ordered {
        path.push(key.clone());
        match value {
            Value::Table(inner) => collect(shape.and_then(|s| s.child(key)), inner, path, out),
            leaf => out.push((schema::dotted(path), leaf.clone())),
        }
        path.pop();
    }
}
