//! `edit`.

use serde_json::json;

use crate::support::Workspace;

const SOURCE: &str = "\
use std::io;

fn main() {
    let total = add(1, 2);
    println!(\"{total}\");
}

fn add(a: u32, b: u32) -> u32 {
    a + b
}
";

#[tokio::test]
async fn a_unique_match_is_replaced_and_shown_as_a_diff() {
    let workspace = Workspace::new();
    workspace.write("src/main.rs", SOURCE);
    let text = workspace
        .ok(
            "edit",
            json!({
                "path": "src/main.rs",
                "old_string": "    let total = add(1, 2);",
                "new_string": "    let total = add(1, 2);\n    let twice = total * 2;",
            }),
        )
        .await;
    assert_eq!(
        text,
        "edited `src/main.rs`: replaced 1 occurrence\n\
         @@ -5,0 +5,1 @@\n\
         \x20    3\tfn main() {\n\
         \x20    4\t    let total = add(1, 2);\n\
         +    5\t    let twice = total * 2;\n\
         \x20    6\t    println!(\"{total}\");\n\
         \x20    7\t}\n"
    );
    assert!(
        workspace
            .read("src/main.rs")
            .contains("add(1, 2);\n    let twice")
    );
}

#[tokio::test]
async fn no_match_shows_the_closest_text_with_line_numbers() {
    let workspace = Workspace::new();
    workspace.write("src/main.rs", SOURCE);
    let error = workspace
        .err(
            "edit",
            json!({
                "path": "src/main.rs",
                "old_string": "fn add(a: u32, b: u32) -> u32 {\n    a - b\n}",
                "new_string": "fn add(a: u64, b: u64) -> u64 {\n    a + b\n}",
            }),
        )
        .await;
    assert!(
        error.starts_with("`old_string` was not found in `src/main.rs`."),
        "{error}"
    );
    assert!(error.contains("lines 8-10 ("), "{error}");
    assert!(
        error.contains("     8\tfn add(a: u32, b: u32) -> u32 {\n     9\t    a + b\n    10\t}\n"),
        "{error}"
    );
    assert_eq!(workspace.read("src/main.rs"), SOURCE);
}

#[tokio::test]
async fn a_whitespace_only_difference_is_named() {
    let workspace = Workspace::new();
    workspace.write("src/main.rs", SOURCE);
    let error = workspace
        .err(
            "edit",
            json!({
                "path": "src/main.rs",
                "old_string": "fn main() {\n    let total = add(1,2);",
                "new_string": "fn main() {\n    let total = add(2, 2);",
            }),
        )
        .await;
    assert!(
        error.contains("The only difference from lines 3-4 is whitespace or indentation"),
        "{error}"
    );
    assert_eq!(workspace.read("src/main.rs"), SOURCE);
}

#[tokio::test]
async fn several_matches_are_listed_by_line() {
    let workspace = Workspace::new();
    workspace.write("list.txt", "item\nother\nitem\nmore\nitem\n");
    let error = workspace
        .err(
            "edit",
            json!({"path": "list.txt", "old_string": "item", "new_string": "thing"}),
        )
        .await;
    assert!(
        error.starts_with("`old_string` occurs 3 times in `list.txt` (starting on lines 1, 3, 5)"),
        "{error}"
    );
    assert!(error.contains("replace_all=true"), "{error}");
    let text = workspace
        .ok(
            "edit",
            json!({"path": "list.txt", "old_string": "item", "new_string": "thing", "replace_all": true}),
        )
        .await;
    assert!(
        text.starts_with("edited `list.txt`: replaced 3 occurrences"),
        "{text}"
    );
    assert_eq!(
        workspace.read("list.txt"),
        "thing\nother\nthing\nmore\nthing\n"
    );
}

#[tokio::test]
async fn crlf_line_endings_are_preserved() {
    let workspace = Workspace::new();
    workspace.write("win.txt", "first\r\nsecond\r\nthird\r\n");
    let text = workspace
        .ok(
            "edit",
            json!({"path": "win.txt", "old_string": "first\nsecond", "new_string": "first\nnew\nsecond"}),
        )
        .await;
    assert!(text.contains("(CRLF line endings kept)"), "{text}");
    assert_eq!(
        workspace.read("win.txt"),
        "first\r\nnew\r\nsecond\r\nthird\r\n"
    );
}

#[tokio::test]
async fn an_empty_old_string_creates_a_missing_file() {
    let workspace = Workspace::new();
    let text = workspace
        .ok(
            "edit",
            json!({"path": "new/file.txt", "old_string": "", "new_string": "hello\n"}),
        )
        .await;
    assert_eq!(text, "created `new/file.txt` (6 bytes, 1 line)");
    assert_eq!(workspace.read("new/file.txt"), "hello\n");
    let error = workspace
        .err(
            "edit",
            json!({"path": "new/file.txt", "old_string": "", "new_string": "again\n"}),
        )
        .await;
    assert!(error.contains("already exists and is not empty"), "{error}");
}

#[tokio::test]
async fn identical_strings_binary_and_non_utf8_files_are_refused() {
    let workspace = Workspace::new();
    workspace.write("a.txt", "same\n");
    let error = workspace
        .err(
            "edit",
            json!({"path": "a.txt", "old_string": "same", "new_string": "same"}),
        )
        .await;
    assert!(error.contains("are identical"), "{error}");
    workspace.write("bin.dat", b"ab\0cd");
    let error = workspace
        .err(
            "edit",
            json!({"path": "bin.dat", "old_string": "ab", "new_string": "x"}),
        )
        .await;
    assert!(error.contains("is a binary file"), "{error}");
    workspace.write("latin1.txt", b"ok\ncaf\xe9\n");
    let error = workspace
        .err(
            "edit",
            json!({"path": "latin1.txt", "old_string": "ok", "new_string": "x"}),
        )
        .await;
    assert!(
        error.contains("is not UTF-8 (the first invalid byte is on line 2"),
        "{error}"
    );
    let error = workspace
        .err(
            "edit",
            json!({"path": "missing.txt", "old_string": "a", "new_string": "b"}),
        )
        .await;
    assert!(error.contains("`missing.txt` does not exist"), "{error}");
    assert!(error.contains("use `write`"), "{error}");
}

#[tokio::test]
async fn files_over_ten_mebibytes_are_refused() {
    let workspace = Workspace::new();
    let file = std::fs::File::create(workspace.path("big.txt")).unwrap();
    file.set_len(11 << 20).unwrap();
    let error = workspace
        .err(
            "edit",
            json!({"path": "big.txt", "old_string": "a", "new_string": "b"}),
        )
        .await;
    assert!(
        error.contains("`big.txt` is 11.0 MiB; the editing tools change files up to 10.0 MiB"),
        "{error}"
    );
}

#[tokio::test]
async fn indentation_differences_fall_back_and_keep_the_files_indentation() {
    let workspace = Workspace::new();
    workspace.write("main.go", "func main() {\n\tif ok {\n\t\trun()\n\t}\n}\n");
    let text = workspace
        .ok(
            "edit",
            json!({
                "path": "main.go",
                "old_string": "    if ok {\n        run()\n    }",
                "new_string": "    if ok {\n        run()\n        done()\n    }",
            }),
        )
        .await;
    assert!(
        text.contains(
            "[old_string was not found exactly; it matched one place when ignoring indentation \
             and trailing whitespace; new_string was re-indented to the file's indentation]"
        ),
        "{text}"
    );
    assert_eq!(
        workspace.read("main.go"),
        "func main() {\n\tif ok {\n\t\trun()\n\t\tdone()\n\t}\n}\n"
    );
}

#[tokio::test]
async fn trailing_whitespace_in_the_file_does_not_block_a_match() {
    let workspace = Workspace::new();
    workspace.write("notes.md", "# Title   \nbody \n");
    let text = workspace
        .ok(
            "edit",
            json!({"path": "notes.md", "old_string": "# Title\nbody\n", "new_string": "# New\nbody\n"}),
        )
        .await;
    assert!(
        text.contains("ignoring indentation and trailing whitespace]"),
        "{text}"
    );
    assert!(!text.contains("re-indented"), "{text}");
    assert_eq!(workspace.read("notes.md"), "# New\nbody\n");
}

#[tokio::test]
async fn a_block_is_anchored_on_its_first_and_last_lines() {
    let workspace = Workspace::new();
    workspace.write(
        "calc.py",
        "def total(items):\n    result = 0\n    for item in items:\n        result += item.price\n    return result\n\ndef other():\n    pass\n",
    );
    let text = workspace
        .ok(
            "edit",
            json!({
                "path": "calc.py",
                "old_string": "def total(items):\n    result = 0\n    for item in items:\n        result += item.cost\n    return result",
                "new_string": "def total(items):\n    return sum(item.price for item in items)",
            }),
        )
        .await;
    assert!(
        text.contains("matched one place by its first and last lines"),
        "{text}"
    );
    assert_eq!(
        workspace.read("calc.py"),
        "def total(items):\n    return sum(item.price for item in items)\n\ndef other():\n    pass\n"
    );
}

#[tokio::test]
async fn a_fallback_that_fits_several_places_is_refused() {
    let workspace = Workspace::new();
    let text = "if a {\n\tx += 1\n}\nif b {\n\tx += 1\n}\n";
    workspace.write("twice.go", text);
    let error = workspace
        .err(
            "edit",
            json!({"path": "twice.go", "old_string": "    x += 1\n}", "new_string": "    x += 2\n}"}),
        )
        .await;
    assert!(
        error.starts_with(
            "`old_string` was not found exactly in `twice.go`, and ignoring indentation and \
             trailing whitespace it matches 2 places (starting on lines 2, 5)"
        ),
        "{error}"
    );
    assert_eq!(workspace.read("twice.go"), text);
}
