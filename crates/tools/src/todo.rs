//! `todo`: the agent's task list for the session.
//!
//! A call with `todos` replaces the whole list (as Claude Code's TodoWrite does) and returns
//! it; a call without arguments returns the current list. Each session (`context.session_id`)
//! has its own list. With a directory (the CLI passes `<data dir>/todos`) the list is kept in
//! `<dir>/<session id>.json`, written atomically, so a resumed session (`-c`) finds it again;
//! without one it lives as long as the tool.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use code_mesh_core::{Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{SessionId, ToolKind, ToolSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::args;

/// Items a list may hold.
const MAX_ITEMS: usize = 100;
/// Characters one item may hold.
const MAX_CONTENT: usize = 1000;

const DESCRIPTION: &str = "\
Keeps your task list for this session. Call it with `todos` to replace the whole list (send \
every item each time, with its current status); call it with no arguments to see the list.

Use it for work with three or more steps, or when the user gives several tasks: write the \
steps down first, mark one `in_progress` before starting it, mark it `completed` as soon as it \
is done (not in batches), and add steps you discover. Skip it for a single trivial change. \
The list is shown to the user and kept with the session.";

/// One item of the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TodoItem {
    pub content: String,
    pub status: TodoStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<TodoPriority>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TodoStatus {
    Pending,
    InProgress,
    Completed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TodoPriority {
    High,
    Medium,
    Low,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TodoArgs {
    #[serde(default)]
    todos: Option<Vec<TodoItem>>,
}

/// The session task list tool.
#[derive(Debug, Default)]
pub struct TodoTool {
    dir: Option<PathBuf>,
    /// Lists by session when there is no directory; with one, only a lock so two calls of
    /// one step do not interleave.
    lists: Mutex<HashMap<SessionId, Vec<TodoItem>>>,
}

impl TodoTool {
    /// A tool keeping each session's list in `dir/<session>.json`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TodoTool {
            dir: Some(dir.into()),
            lists: Mutex::default(),
        }
    }

    /// A tool keeping the lists in memory only.
    pub fn in_memory() -> Self {
        TodoTool::default()
    }

    fn file(&self, session: &SessionId) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        // Session ids are UUIDs; anything else is made safe as a file name.
        let name: String = session
            .0
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = if name.is_empty() {
            "default".into()
        } else {
            name
        };
        Some(dir.join(format!("{name}.json")))
    }
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "todos": {
                "type": "array",
                "description": "The complete new list, replacing the old one. Omit it to read \
                    the current list.",
                "maxItems": MAX_ITEMS,
                "items": {
                    "type": "object",
                    "properties": {
                        "content": {"type": "string", "description": "What to do, in one line."},
                        "status": {
                            "type": "string",
                            "enum": ["pending", "in_progress", "completed"],
                            "description": "Where the item stands."
                        },
                        "priority": {
                            "type": "string",
                            "enum": ["high", "medium", "low"],
                            "description": "How much it matters (optional)."
                        }
                    },
                    "required": ["content", "status"],
                    "additionalProperties": false
                }
            }
        },
        "required": [],
        "additionalProperties": false
    })
}

fn load(path: &Path) -> Result<Vec<TodoItem>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
            format!(
                "the saved list `{}` is not valid ({error}); write a new list with `todos`",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(format!(
            "cannot read the saved list `{}`: {error}",
            path.display()
        )),
    }
}

fn save(path: &Path, items: &[TodoItem]) -> Result<(), String> {
    let fail = |error: &dyn std::fmt::Display| {
        format!(
            "cannot save the list to `{}`: {error}; the list was not changed",
            path.display()
        )
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|error| fail(&error))?;
    let json = serde_json::to_vec_pretty(items).map_err(|error| fail(&error))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|error| fail(&error))?;
    std::io::Write::write_all(&mut file, &json).map_err(|error| fail(&error))?;
    file.persist(path).map_err(|error| fail(&error.error))?;
    Ok(())
}

/// The list as the model and the user read it.
fn render(items: &[TodoItem]) -> String {
    if items.is_empty() {
        return "The todo list is empty.".into();
    }
    let count = |status| items.iter().filter(|item| item.status == status).count();
    let mut text = format!(
        "{} ({} completed, {} in progress, {} pending):\n",
        crate::output::plural(items.len() as u64, "todo", "todos"),
        count(TodoStatus::Completed),
        count(TodoStatus::InProgress),
        count(TodoStatus::Pending)
    );
    for item in items {
        let mark = match item.status {
            TodoStatus::Pending => "[ ]",
            TodoStatus::InProgress => "[~]",
            TodoStatus::Completed => "[x]",
        };
        let priority = match item.priority {
            Some(TodoPriority::High) => " (high)",
            Some(TodoPriority::Medium) => " (medium)",
            Some(TodoPriority::Low) => " (low)",
            None => "",
        };
        let _ = writeln!(text, "{mark} {}{priority}", item.content);
    }
    text.pop();
    text
}

#[async_trait]
impl Tool for TodoTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "todo".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    /// `Read`: it changes no project file, only the session's own list.
    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        match arguments.get("todos").and_then(Value::as_array) {
            Some(items) => format!("update the todo list ({} items)", items.len()),
            None => "read the todo list".into(),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: TodoArgs = args::parse("todo", arguments, &schema)?;
        let session = context.session_id.clone();
        let file = self.file(&session);
        // Held across the file work so two calls of one step cannot interleave.
        let mut lists = self.lists.lock().await;
        let Some(items) = arguments.todos else {
            // The file is the truth when there is one: another process may have written it.
            let items = match file {
                Some(path) => tokio::task::spawn_blocking(move || load(&path))
                    .await
                    .map_err(|error| ToolError::new(format!("internal error: {error}")))?
                    .map_err(ToolError::new)?,
                None => lists.get(&session).cloned().unwrap_or_default(),
            };
            return Ok(ToolOutput::from(render(&items)));
        };
        if items.len() > MAX_ITEMS {
            return Err(args::invalid(
                "todo",
                format!("the list has {} items; keep it to {MAX_ITEMS}", items.len()),
                &schema,
            ));
        }
        for (index, item) in items.iter().enumerate() {
            if item.content.trim().is_empty() {
                return Err(args::invalid(
                    "todo",
                    format!("item {} has an empty `content`; say what to do", index + 1),
                    &schema,
                ));
            }
            if item.content.chars().count() > MAX_CONTENT {
                return Err(args::invalid(
                    "todo",
                    format!(
                        "item {} is longer than {MAX_CONTENT} characters; keep items to one line",
                        index + 1
                    ),
                    &schema,
                ));
            }
        }
        if let Some(path) = file {
            let saved = items.clone();
            tokio::task::spawn_blocking(move || save(&path, &saved))
                .await
                .map_err(|error| ToolError::new(format!("internal error: {error}")))?
                .map_err(ToolError::new)?;
        }
        let text = render(&items);
        if self.dir.is_none() {
            lists.insert(session, items);
        }
        Ok(ToolOutput::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_render_as_checklists() {
        let items = vec![
            TodoItem {
                content: "parse".into(),
                status: TodoStatus::Completed,
                priority: None,
            },
            TodoItem {
                content: "wire".into(),
                status: TodoStatus::InProgress,
                priority: Some(TodoPriority::High),
            },
            TodoItem {
                content: "test".into(),
                status: TodoStatus::Pending,
                priority: None,
            },
        ];
        assert_eq!(
            render(&items),
            "3 todos (1 completed, 1 in progress, 1 pending):\n[x] parse\n[~] wire (high)\n[ ] test"
        );
        assert_eq!(render(&[]), "The todo list is empty.");
    }
}
