//! `todo`: replace-the-list semantics, per session, persisted across tool instances.

use code_mesh_core::Tool;
use code_mesh_protocol::SessionId;
use code_mesh_tools::TodoTool;
use serde_json::{Value, json};

use crate::support::Workspace;

async fn call(
    tool: &TodoTool,
    workspace: &Workspace,
    session: &str,
    arguments: Value,
) -> Result<String, String> {
    let mut context = workspace.context.clone();
    context.session_id = SessionId(session.into());
    tool.call(arguments, &context)
        .await
        .map(|output| output.text)
        .map_err(|error| error.message)
}

#[tokio::test]
async fn the_list_is_replaced_kept_per_session_and_found_again_by_a_new_process() {
    let workspace = Workspace::new();
    let dir = workspace.outside().join("todos");
    let first = TodoTool::new(&dir);
    let written = call(
        &first,
        &workspace,
        "ses_1",
        json!({"todos": [
            {"content": "Write the parser", "status": "completed"},
            {"content": "Wire the tool", "status": "in_progress", "priority": "high"},
            {"content": "Test it", "status": "pending"}
        ]}),
    )
    .await
    .unwrap();
    let expected = "3 todos (1 completed, 1 in progress, 1 pending):\n[x] Write the parser\n[~] Wire the tool (high)\n[ ] Test it";
    assert_eq!(written, expected);
    assert!(dir.join("ses_1.json").is_file());

    // Another registry (a later `code-mesh run -c`) reads the same session's list.
    let second = TodoTool::new(&dir);
    assert_eq!(
        call(&second, &workspace, "ses_1", json!({})).await.unwrap(),
        expected
    );
    assert_eq!(
        call(&second, &workspace, "ses_2", json!({})).await.unwrap(),
        "The todo list is empty."
    );

    // Replacing, not merging.
    let replaced = call(
        &second,
        &workspace,
        "ses_1",
        json!({"todos": [{"content": "Ship", "status": "pending"}]}),
    )
    .await
    .unwrap();
    assert_eq!(
        replaced,
        "1 todo (0 completed, 0 in progress, 1 pending):\n[ ] Ship"
    );
    assert_eq!(
        call(&first, &workspace, "ses_1", json!(null))
            .await
            .unwrap(),
        replaced
    );
}

#[tokio::test]
async fn invalid_items_are_refused_and_the_list_kept() {
    let workspace = Workspace::new();
    let tool = TodoTool::in_memory();
    call(
        &tool,
        &workspace,
        "s",
        json!({"todos": [{"content": "a", "status": "pending"}]}),
    )
    .await
    .unwrap();
    let error = call(
        &tool,
        &workspace,
        "s",
        json!({"todos": [{"content": "b", "status": "done"}]}),
    )
    .await
    .unwrap_err();
    assert!(error.contains("unknown variant `done`"), "{error}");
    let error = call(
        &tool,
        &workspace,
        "s",
        json!({"todos": [{"content": " ", "status": "pending"}]}),
    )
    .await
    .unwrap_err();
    assert!(error.contains("item 1 has an empty `content`"), "{error}");
    assert_eq!(
        call(&tool, &workspace, "s", json!({})).await.unwrap(),
        "1 todo (0 completed, 0 in progress, 1 pending):\n[ ] a"
    );
}
