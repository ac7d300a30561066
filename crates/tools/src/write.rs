//! `write`: creates or replaces a whole file, atomically.

use std::fs;
use std::io;

use async_trait::async_trait;
use code_mesh_core::{Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking;
use crate::files::{check_writable, count_lines, create_parents, write_atomically};
use crate::output::{human_size, plural, thousands};
use crate::paths::PathPolicy;
use crate::stamps;

const DESCRIPTION: &str = "\
Writes a file: creates it, or replaces its whole content if it exists.

Usage:
- `path` is relative to the working directory, or absolute, inside the workspace. Missing \
parent directories are created.
- `content` is the complete new content of the file; end it with a newline as text files \
usually do.
- The write is atomic (a temporary file is renamed over the target) and an existing file \
keeps its permissions.
- To change part of an existing file, prefer `edit`: it sends only the change and cannot drop \
the rest by accident. Read an existing file before overwriting it.
- Don't create documentation or README files unless the user asked for them.";

/// Writes a whole file: `{path, content}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    content: String,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "The file to write, relative to the working directory or absolute."
            },
            "content": {
                "type": "string",
                "description": "The complete content of the file."
            }
        },
        "required": ["path", "content"],
        "additionalProperties": false
    })
}

#[async_trait]
impl Tool for WriteTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "write".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Write
    }

    fn summarize(&self, arguments: &Value) -> String {
        match args::str_field(arguments, "path") {
            Some(path) => match args::str_field(arguments, "content") {
                Some(content) => format!("write {path} ({})", human_size(content.len() as u64)),
                None => format!("write {path}"),
            },
            None => "write a file".into(),
        }
    }

    fn permission_target(&self, arguments: &Value) -> code_mesh_core::PermissionTarget {
        args::path_target(arguments, None)
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let arguments: WriteArgs = args::parse("write", arguments, &schema())?;
        let owned = context.clone();
        blocking::to_completion(context, move || write_file(&owned, &arguments))
            .await
            .map(ToolOutput::from)
    }
}

fn write_file(context: &ToolContext, arguments: &WriteArgs) -> Result<String, ToolError> {
    let policy = PathPolicy::new(context);
    let path = policy.resolve(&arguments.path)?;
    let display = policy.display(&path);
    let existing = match fs::metadata(&path) {
        Ok(metadata) => {
            check_writable(&display, &metadata)?;
            Some(metadata)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(ToolError::new(format!(
                "cannot access `{display}`: {error}"
            )));
        }
    };
    let content = arguments.content.as_bytes();
    let size = format!(
        "{}, {}",
        plural(content.len() as u64, "byte", "bytes"),
        plural(count_lines(&arguments.content), "line", "lines")
    );
    match existing {
        Some(metadata) => {
            let before = metadata.len();
            if before == content.len() as u64 && fs::read(&path).is_ok_and(|old| old == content) {
                stamps::record_contents(context, &path, content);
                return Ok(format!(
                    "`{display}` already has exactly this content ({size}); nothing was written"
                ));
            }
            write_atomically(&display, &path, content, Some(metadata.permissions()))?;
            stamps::record_contents(context, &path, content);
            Ok(format!(
                "overwrote `{display}` ({size}; it had {} bytes before)",
                thousands(before)
            ))
        }
        None => {
            create_parents(&display, &path)?;
            write_atomically(&display, &path, content, None)?;
            stamps::record_contents(context, &path, content);
            Ok(format!("created `{display}` ({size})"))
        }
    }
}
