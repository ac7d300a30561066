use serde::{Deserialize, Serialize};

/// What a tool is offered to the model as.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// How commands the agent runs are confined (`--sandbox`, `[tools] sandbox`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Commands may read the workspace but write nothing.
    ReadOnly,
    /// Commands may write inside the workspace, temp and declared caches only.
    #[default]
    WorkspaceWrite,
    /// No confinement: commands run with the user's full rights.
    Off,
}

impl SandboxMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::WorkspaceWrite => "workspace-write",
            SandboxMode::Off => "off",
        }
    }
}

/// What a tool may do, which decides both its default permission and whether it may run
/// concurrently with other calls of the same step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// Only reads the workspace: allowed by default, runs concurrently with other reads.
    Read,
    /// Changes files: asks by default, runs alone and in order.
    Write,
    /// Runs programs: asks by default, runs alone and in order.
    Execute,
}

impl ToolKind {
    pub fn is_read_only(self) -> bool {
        matches!(self, ToolKind::Read)
    }
}
