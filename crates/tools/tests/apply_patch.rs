//! `apply_patch`.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::support::Workspace;

const LIB: &str = "\
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

pub fn sub(a: i32, b: i32) -> i32 {
    a - b
}
";

fn patch(body: &str) -> serde_json::Value {
    json!({"patch": format!("*** Begin Patch\n{body}*** End Patch\n")})
}

#[tokio::test]
async fn adds_updates_moves_and_deletes_in_one_patch() {
    let workspace = Workspace::new();
    workspace.write("src/lib.rs", LIB);
    workspace.write("src/old.rs", "fn old() {}\n");
    workspace.write("obsolete.txt", "bye\n");
    let text = workspace
        .ok(
            "apply_patch",
            patch(
                "*** Add File: src/mul.rs\n\
                 +pub fn mul(a: i32, b: i32) -> i32 {\n\
                 +    a * b\n\
                 +}\n\
                 *** Update File: src/lib.rs\n\
                 @@ pub fn sub(a: i32, b: i32) -> i32 {\n\
                 -    a - b\n\
                 +    a.saturating_sub(b)\n\
                 \x20}\n\
                 *** Update File: src/old.rs\n\
                 *** Move to: src/renamed.rs\n\
                 @@\n\
                 -fn old() {}\n\
                 +fn renamed() {}\n\
                 *** Delete File: obsolete.txt\n",
            ),
        )
        .await;
    assert_eq!(
        text,
        "applied the patch (4 file sections):\n\
         - added `src/mul.rs` (3 lines)\n\
         - updated `src/lib.rs` (1 hunk: +1 -1)\n\
         - moved `src/old.rs` to `src/renamed.rs` (1 hunk: +1 -1)\n\
         - deleted `obsolete.txt`\n"
    );
    assert_eq!(
        workspace.read("src/mul.rs"),
        "pub fn mul(a: i32, b: i32) -> i32 {\n    a * b\n}\n"
    );
    assert_eq!(
        workspace.read("src/lib.rs"),
        LIB.replace("    a - b", "    a.saturating_sub(b)")
    );
    assert_eq!(workspace.read("src/renamed.rs"), "fn renamed() {}\n");
    assert!(!workspace.path("src/old.rs").exists());
    assert!(!workspace.path("obsolete.txt").exists());
}

#[tokio::test]
async fn one_failing_hunk_changes_no_file() {
    let workspace = Workspace::new();
    workspace.write("src/lib.rs", LIB);
    workspace.write("a.txt", "alpha\n");
    let error = workspace
        .err(
            "apply_patch",
            patch(
                "*** Update File: a.txt\n\
                 @@\n\
                 -alpha\n\
                 +ALPHA\n\
                 *** Add File: b.txt\n\
                 +new\n\
                 *** Update File: src/lib.rs\n\
                 @@\n\
                 -    a * b\n\
                 +    b * a\n",
            ),
        )
        .await;
    assert!(
        error.starts_with(
            "nothing was changed: `*** Update File: src/lib.rs` (patch line 8): the hunk for \
             `src/lib.rs` (patch line 9): its context and removed lines were not found"
        ),
        "{error}"
    );
    assert_eq!(workspace.read("a.txt"), "alpha\n");
    assert!(!workspace.path("b.txt").exists());
    assert_eq!(workspace.read("src/lib.rs"), LIB);
}

#[tokio::test]
async fn ambiguous_context_is_refused_and_a_header_resolves_it() {
    let workspace = Workspace::new();
    let twice = "fn a() {\n    let x = 1;\n}\n\nfn b() {\n    let x = 1;\n}\n";
    workspace.write("twice.rs", twice);
    let error = workspace
        .err(
            "apply_patch",
            patch("*** Update File: twice.rs\n@@\n-    let x = 1;\n+    let x = 2;\n"),
        )
        .await;
    assert!(
        error.contains("match 2 places (starting on lines 2, 6)"),
        "{error}"
    );
    assert_eq!(workspace.read("twice.rs"), twice);
    workspace
        .ok(
            "apply_patch",
            patch("*** Update File: twice.rs\n@@ fn b() {\n-    let x = 1;\n+    let x = 2;\n"),
        )
        .await;
    assert_eq!(
        workspace.read("twice.rs"),
        "fn a() {\n    let x = 1;\n}\n\nfn b() {\n    let x = 2;\n}\n"
    );
}

#[tokio::test]
async fn whitespace_insensitive_hunks_keep_the_files_indentation() {
    let workspace = Workspace::new();
    workspace.write("tabs.go", "func main() {\n\tfmt.Println(\"hi\")  \n}\n");
    let text = workspace
        .ok(
            "apply_patch",
            patch(
                "*** Update File: tabs.go\n@@\n func main() {\n-    fmt.Println(\"hi\")\n+    \
                 fmt.Println(\"hello\")\n }\n",
            ),
        )
        .await;
    assert!(
        text.contains("hunk 1 matched ignoring indentation"),
        "{text}"
    );
    assert_eq!(
        workspace.read("tabs.go"),
        "func main() {\n\tfmt.Println(\"hello\")\n}\n"
    );
}

#[tokio::test]
async fn grammar_errors_say_where_and_what_was_expected() {
    let workspace = Workspace::new();
    workspace.write("a.txt", "a\n");
    let error = workspace
        .err(
            "apply_patch",
            json!({"patch": "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+b\n"}),
        )
        .await;
    assert_eq!(
        error,
        "invalid patch, nothing was changed: line 1: expected `*** Begin Patch` as the first \
         line, found `--- a/a.txt`; fix the patch and send it whole again"
    );
    let error = workspace
        .err(
            "apply_patch",
            patch("*** Update File: a.txt\n@@\n-a\n+b\nstray line\n"),
        )
        .await;
    assert!(
        error.contains("line 6: in `*** Update File: a.txt` expected a hunk line"),
        "{error}"
    );
    assert_eq!(workspace.read("a.txt"), "a\n");
}

#[tokio::test]
async fn unsafe_or_conflicting_targets_are_refused() {
    let workspace = Workspace::new();
    workspace.write("a.txt", "a\n");
    let outside = workspace
        .err("apply_patch", patch("*** Add File: ../escape.txt\n+x\n"))
        .await;
    assert!(
        outside.starts_with("nothing was changed: `*** Add File: ../escape.txt`"),
        "{outside}"
    );
    assert!(outside.contains("outside"), "{outside}");
    assert!(!workspace.root.parent().unwrap().join("escape.txt").exists());
    let exists = workspace
        .err("apply_patch", patch("*** Add File: a.txt\n+x\n"))
        .await;
    assert!(
        exists.contains("already exists; use `*** Update File: a.txt`"),
        "{exists}"
    );
    let twice = workspace
        .err(
            "apply_patch",
            patch("*** Delete File: a.txt\n*** Update File: ./a.txt\n@@\n-a\n+b\n"),
        )
        .await;
    assert!(
        twice.contains("already changed by the section on patch line 2"),
        "{twice}"
    );
    let missing = workspace
        .err("apply_patch", patch("*** Delete File: nope.txt\n"))
        .await;
    assert!(missing.contains("`nope.txt` does not exist"), "{missing}");
    assert_eq!(workspace.read("a.txt"), "a\n");
}

#[tokio::test]
async fn summary_and_permission_targets_list_every_file() {
    let registry = code_mesh_tools::builtin_tools();
    let tool = registry.get("apply_patch").unwrap();
    let arguments = patch(
        "*** Add File: a.txt\n+x\n*** Update File: b.txt\n*** Move to: c.txt\n@@\n-y\n+z\n\
         *** Delete File: d.txt\n",
    );
    assert_eq!(
        tool.summarize(&arguments),
        "apply a patch: add a.txt, move b.txt to c.txt, delete d.txt"
    );
    assert_eq!(
        tool.permission_target(&arguments),
        code_mesh_core::PermissionTarget::Paths(vec![
            "a.txt".into(),
            "b.txt".into(),
            "c.txt".into(),
            "d.txt".into()
        ])
    );
}
