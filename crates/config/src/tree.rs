//! One layer of configuration as a tree whose every table and value remembers where it was
//! written, and the deep merge of layers.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Value;

use crate::error::{ConfigError, Origin};
use crate::schema;

/// A table or value together with where it was set.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) origin: Origin,
    pub(crate) kind: NodeKind,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// Keys in the order they were written.
    Table(Vec<(String, Node)>),
    /// A scalar or an array; arrays are replaced as a whole, never merged.
    Value(Value),
}

/// The merged tree turned into plain TOML, with the origin of every leaf and table.
pub(crate) struct Flattened {
    pub(crate) table: toml::Table,
    pub(crate) leaves: BTreeMap<String, Origin>,
    pub(crate) tables: BTreeMap<String, Origin>,
}

impl Node {
    pub(crate) fn empty_table(origin: Origin) -> Node {
        Node {
            origin,
            kind: NodeKind::Table(Vec::new()),
        }
    }

    /// A TOML value as a node; inline tables become tables, so they merge deeply.
    pub(crate) fn from_value(value: Value, origin: &Origin) -> Node {
        let kind = match value {
            Value::Table(table) => NodeKind::Table(
                table
                    .into_iter()
                    .map(|(key, value)| (key, Node::from_value(value, origin)))
                    .collect(),
            ),
            other => NodeKind::Value(other),
        };
        Node {
            origin: origin.clone(),
            kind,
        }
    }

    /// A tree holding `value` at `path`, every level set by `origin`.
    pub(crate) fn at_path(path: &[String], value: Value, origin: &Origin) -> Node {
        path.iter()
            .rev()
            .fold(Node::from_value(value, origin), |node, key| Node {
                origin: origin.clone(),
                kind: NodeKind::Table(vec![(key.clone(), node)]),
            })
    }

    /// Lays `over` on top of `self`: tables merge key by key, anything else replaces.
    pub(crate) fn merge(&mut self, over: Node) {
        match (&mut self.kind, over.kind) {
            (NodeKind::Table(base), NodeKind::Table(children)) => {
                for (key, child) in children {
                    match base.iter_mut().find(|(name, _)| *name == key) {
                        Some((_, existing)) => existing.merge(child),
                        None => base.push((key, child)),
                    }
                }
            }
            (_, kind) => {
                *self = Node {
                    origin: over.origin,
                    kind,
                }
            }
        }
    }

    /// The node at `path` below this table, if there is one.
    pub(crate) fn find(&self, path: &[&str]) -> Option<&Node> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        match &self.kind {
            NodeKind::Table(children) => children
                .iter()
                .find(|(name, _)| name == first)
                .and_then(|(_, child)| child.find(rest)),
            NodeKind::Value(_) => None,
        }
    }

    /// This node as plain TOML.
    pub(crate) fn into_value(self) -> Value {
        match self.kind {
            NodeKind::Value(value) => value,
            NodeKind::Table(children) => Value::Table(
                children
                    .into_iter()
                    .map(|(key, node)| (key, node.into_value()))
                    .collect(),
            ),
        }
    }

    pub(crate) fn flatten(self) -> Flattened {
        let mut flattened = Flattened {
            table: toml::Table::new(),
            leaves: BTreeMap::new(),
            tables: BTreeMap::new(),
        };
        if let NodeKind::Table(children) = self.kind {
            flattened.table = flatten_table(children, &mut Vec::new(), &mut flattened);
        }
        flattened
    }
}

fn flatten_table(
    children: Vec<(String, Node)>,
    path: &mut Vec<String>,
    out: &mut Flattened,
) -> toml::Table {
    let mut table = toml::Table::new();
    for (key, node) in children {
        path.push(key.clone());
        let value = match node.kind {
            NodeKind::Table(grandchildren) => {
                out.tables.insert(schema::dotted(path), node.origin);
                Value::Table(flatten_table(grandchildren, path, out))
            }
            NodeKind::Value(value) => {
                out.leaves.insert(schema::dotted(path), node.origin);
                value
            }
        };
        path.pop();
        table.insert(key, value);
    }
    table
}

/// Parses a config file into a tree whose nodes carry `path:line`.
pub(crate) fn parse_file(path: &Path, text: &str) -> Result<Node, ConfigError> {
    let lines = LineIndex::new(text);
    let document = toml_edit::Document::parse(text).map_err(|error| {
        let (line, column) = error
            .span()
            .map(|span| lines.line_and_column(text, span.start))
            .unwrap_or((1, 1));
        ConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message: one_line(error.message()),
        }
    })?;
    let file = FileContext { path, lines };
    let root_origin = file.origin(Some(0));
    let mut root = Node::empty_table(root_origin.clone());
    if let Some(table) = document.as_item().as_table() {
        root = file.table(table, root_origin);
    }
    Ok(root)
}

struct FileContext<'a> {
    path: &'a Path,
    lines: LineIndex,
}

impl FileContext<'_> {
    fn origin(&self, offset: Option<usize>) -> Origin {
        Origin::File {
            path: self.path.to_owned(),
            line: offset.map_or(1, |offset| self.lines.line(offset)),
        }
    }

    fn table(&self, table: &toml_edit::Table, origin: Origin) -> Node {
        let mut children = Vec::new();
        for (name, _) in table.iter() {
            let Some((key, item)) = table.get_key_value(name) else {
                continue;
            };
            let offset = key.span().or_else(|| item.span()).map(|span| span.start);
            let origin = offset.map_or_else(|| origin.clone(), |offset| self.origin(Some(offset)));
            let node = match item {
                toml_edit::Item::None => continue,
                toml_edit::Item::Value(value) => self.value(value, origin),
                toml_edit::Item::Table(table) => self.table(table, origin),
                toml_edit::Item::ArrayOfTables(array) => Node {
                    origin,
                    kind: NodeKind::Value(Value::Array(
                        array
                            .iter()
                            .map(|table| Value::Table(plain_table(table.get_values())))
                            .collect(),
                    )),
                },
            };
            children.push((name.to_owned(), node));
        }
        Node {
            origin,
            kind: NodeKind::Table(children),
        }
    }

    fn value(&self, value: &toml_edit::Value, origin: Origin) -> Node {
        let toml_edit::Value::InlineTable(inline) = value else {
            return Node {
                origin,
                kind: NodeKind::Value(plain_value(value)),
            };
        };
        let mut children = Vec::new();
        for (name, value) in inline.iter() {
            let child_origin = inline
                .key(name)
                .and_then(toml_edit::Key::span)
                .map_or_else(|| origin.clone(), |span| self.origin(Some(span.start)));
            children.push((name.to_owned(), self.value(value, child_origin)));
        }
        Node {
            origin,
            kind: NodeKind::Table(children),
        }
    }
}

/// A `toml_edit` value as a plain TOML value.
fn plain_value(value: &toml_edit::Value) -> Value {
    match value {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(n) => Value::Integer(*n.value()),
        toml_edit::Value::Float(x) => Value::Float(*x.value()),
        toml_edit::Value::Boolean(b) => Value::Boolean(*b.value()),
        toml_edit::Value::Datetime(d) => Value::Datetime(*d.value()),
        toml_edit::Value::Array(array) => Value::Array(array.iter().map(plain_value).collect()),
        toml_edit::Value::InlineTable(table) => Value::Table(plain_table(table.get_values())),
    }
}

fn plain_table(values: Vec<(Vec<&toml_edit::Key>, &toml_edit::Value)>) -> toml::Table {
    let mut root = Node::empty_table(Origin::Default);
    for (keys, value) in values {
        let path: Vec<String> = keys.iter().map(|key| key.get().to_owned()).collect();
        root.merge(Node::at_path(&path, plain_value(value), &Origin::Default));
    }
    root.flatten().table
}

/// Collapses a multi-line parser message to one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Byte offset → line (and column) lookups.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self { starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset)
    }

    fn line_and_column(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = text
            .get(start..offset.min(text.len()))
            .map_or(1, |prefix| prefix.chars().count() + 1);
        (line, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &str) -> BTreeMap<String, usize> {
        let node = parse_file(Path::new("/f.toml"), text).unwrap();
        let flattened = node.flatten();
        flattened
            .leaves
            .into_iter()
            .chain(flattened.tables)
            .map(|(key, origin)| match origin {
                Origin::File { line, .. } => (key, line),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn every_key_knows_its_line() {
        let text = "\
# comment
[agents]
max_count = 3

[providers.local]
base_url = \"http://x\"
headers = { \"X-Title\" = \"t\",
  Other = \"o\" }

[memory]
session.deep = 1
";
        let lines = lines_of(text);
        assert_eq!(lines["agents"], 2);
        assert_eq!(lines["agents.max_count"], 3);
        assert_eq!(lines["providers.local"], 5);
        assert_eq!(lines["providers.local.base_url"], 6);
        assert_eq!(lines["providers.local.headers"], 7);
        assert_eq!(lines["providers.local.headers.X-Title"], 7);
        assert_eq!(lines["providers.local.headers.Other"], 8);
        assert_eq!(lines["memory.session.deep"], 11);
    }

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\nbé = 2\n";
        let index = LineIndex::new(text);
        assert_eq!(index.line_and_column(text, 0), (1, 1));
        assert_eq!(index.line_and_column(text, 6), (2, 1));
        assert_eq!(index.line_and_column(text, 9), (2, 3));
    }
}
