//! `multiedit`.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::support::Workspace;

const CONFIG: &str = "\
[server]
host = \"localhost\"
port = 8080

[client]
retries = 3
";

#[tokio::test]
async fn edits_apply_in_order_to_the_text_the_earlier_ones_left() {
    let workspace = Workspace::new();
    workspace.write("app.toml", CONFIG);
    let text = workspace
        .ok(
            "multiedit",
            json!({
                "path": "app.toml",
                "edits": [
                    {"old_string": "port = 8080", "new_string": "port = 9090\ntls = true"},
                    {"old_string": "tls = true", "new_string": "tls = false"},
                    {"old_string": "3", "new_string": "5"},
                ],
            }),
        )
        .await;
    assert!(
        text.starts_with("edited `app.toml`: applied 3 edits (3 replacements)\nedits[0]:\n"),
        "{text}"
    );
    assert!(text.contains("edits[2]:\n"), "{text}");
    assert_eq!(
        workspace.read("app.toml"),
        "[server]\nhost = \"localhost\"\nport = 9090\ntls = false\n\n[client]\nretries = 5\n"
    );
}

#[tokio::test]
async fn a_failing_edit_writes_nothing_and_is_named_with_the_closest_text() {
    let workspace = Workspace::new();
    workspace.write("app.toml", CONFIG);
    let error = workspace
        .err(
            "multiedit",
            json!({
                "path": "app.toml",
                "edits": [
                    {"old_string": "port = 8080", "new_string": "port = 9090"},
                    {"old_string": "retries = 4", "new_string": "retries = 5"},
                ],
            }),
        )
        .await;
    assert!(
        error.starts_with(
            "edits[1] (edit 2 of 2) failed, so nothing was written to `app.toml` (line numbers \
             are in the text as the earlier edits left it): `old_string` was not found"
        ),
        "{error}"
    );
    assert!(error.contains("     6\tretries = 3"), "{error}");
    assert_eq!(workspace.read("app.toml"), CONFIG);
}

#[tokio::test]
async fn ambiguity_in_any_edit_writes_nothing() {
    let workspace = Workspace::new();
    workspace.write("list.txt", "a\nitem\nb\nitem\n");
    let error = workspace
        .err(
            "multiedit",
            json!({
                "path": "list.txt",
                "edits": [
                    {"old_string": "a\n", "new_string": "A\n"},
                    {"old_string": "item", "new_string": "thing"},
                ],
            }),
        )
        .await;
    assert!(
        error.starts_with("edits[1] (edit 2 of 2) failed"),
        "{error}"
    );
    assert!(error.contains("occurs 2 times"), "{error}");
    assert_eq!(workspace.read("list.txt"), "a\nitem\nb\nitem\n");
    workspace
        .ok(
            "multiedit",
            json!({
                "path": "list.txt",
                "edits": [
                    {"old_string": "a\n", "new_string": "A\n"},
                    {"old_string": "item", "new_string": "thing", "replace_all": true},
                ],
            }),
        )
        .await;
    assert_eq!(workspace.read("list.txt"), "A\nthing\nb\nthing\n");
}

#[tokio::test]
async fn a_new_file_starts_from_the_first_edit() {
    let workspace = Workspace::new();
    let text = workspace
        .ok(
            "multiedit",
            json!({
                "path": "new/notes.md",
                "edits": [
                    {"old_string": "", "new_string": "# Notes\n\nTODO\n"},
                    {"old_string": "TODO", "new_string": "Done."},
                ],
            }),
        )
        .await;
    assert!(text.starts_with("created `new/notes.md`"), "{text}");
    assert_eq!(workspace.read("new/notes.md"), "# Notes\n\nDone.\n");
    let error = workspace
        .err(
            "multiedit",
            json!({"path": "missing.md", "edits": [{"old_string": "a", "new_string": "b"}]}),
        )
        .await;
    assert!(error.contains("`missing.md` does not exist"), "{error}");
}

#[tokio::test]
async fn invalid_edit_lists_are_refused_before_touching_the_file() {
    let workspace = Workspace::new();
    workspace.write("f.txt", "x\n");
    let empty = workspace
        .err("multiedit", json!({"path": "f.txt", "edits": []}))
        .await;
    assert!(empty.contains("`edits` is empty"), "{empty}");
    let same = workspace
        .err(
            "multiedit",
            json!({"path": "f.txt", "edits": [{"old_string": "x", "new_string": "x"}]}),
        )
        .await;
    assert!(same.contains("edits[0] has identical"), "{same}");
    let late_empty = workspace
        .err(
            "multiedit",
            json!({"path": "f.txt", "edits": [
                {"old_string": "x", "new_string": "y"},
                {"old_string": "", "new_string": "z"},
            ]}),
        )
        .await;
    assert!(
        late_empty.contains("edits[1] has an empty old_string"),
        "{late_empty}"
    );
    assert_eq!(workspace.read("f.txt"), "x\n");
}

#[tokio::test]
async fn crlf_is_kept_across_all_edits() {
    let workspace = Workspace::new();
    workspace.write("win.txt", "one\r\ntwo\r\nthree\r\n");
    let text = workspace
        .ok(
            "multiedit",
            json!({"path": "win.txt", "edits": [
                {"old_string": "one\ntwo", "new_string": "one\n1.5\ntwo"},
                {"old_string": "three\n", "new_string": "three\nfour\n"},
            ]}),
        )
        .await;
    assert!(text.contains("(CRLF line endings kept)"), "{text}");
    assert_eq!(
        workspace.read("win.txt"),
        "one\r\n1.5\r\ntwo\r\nthree\r\nfour\r\n"
    );
}
