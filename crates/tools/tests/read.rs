//! `read`.

use std::fs::{self, File};
use std::io::Write;

use serde_json::json;

use crate::support::Workspace;

#[tokio::test]
async fn lines_are_numbered_and_windows_say_how_to_continue() {
    let workspace = Workspace::new();
    let text: String = (1..=10).map(|n| format!("line {n}\n")).collect();
    workspace.write("ten.txt", text);
    let all = workspace.ok("read", json!({"path": "ten.txt"})).await;
    assert!(all.starts_with("     1\tline 1\n     2\tline 2\n"), "{all}");
    assert!(all.ends_with("    10\tline 10\n"), "{all}");
    let window = workspace
        .ok("read", json!({"path": "ten.txt", "offset": 4, "limit": 2}))
        .await;
    assert_eq!(
        window,
        "     4\tline 4\n     5\tline 5\n\n[showing lines 4-5 of 10; use offset=6 to continue]\n"
    );
    let error = workspace
        .err("read", json!({"path": "ten.txt", "offset": 11}))
        .await;
    assert!(
        error.contains("offset=11 is past the end of `ten.txt`, which has 10 lines"),
        "{error}"
    );
}

#[tokio::test]
async fn a_binary_file_is_refused() {
    let workspace = Workspace::new();
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.resize(12_595, 7);
    workspace.write("x.png", png);
    let error = workspace.err("read", json!({"path": "x.png"})).await;
    assert_eq!(
        error,
        "`x.png` is a binary file (12.3 KiB); read shows text files only; use bash with \
         `file`/`xxd` to inspect it"
    );
}

#[tokio::test]
async fn a_huge_sparse_file_is_read_quickly_and_bounded() {
    let workspace = Workspace::new();
    let path = workspace.path("huge.log");
    let mut file = File::create(&path).unwrap();
    for number in 1..=3000 {
        writeln!(file, "log line {number} with some text").unwrap();
    }
    // 2 GiB in all; everything after the text reads as NUL bytes without using disk.
    file.set_len(2 << 30).unwrap();
    drop(file);

    let started = std::time::Instant::now();
    let text = workspace.ok("read", json!({"path": "huge.log"})).await;
    assert!(
        text.starts_with("     1\tlog line 1 with some text\n"),
        "{}",
        &text[..200]
    );
    assert!(text.len() < 300 * 1024, "{} bytes", text.len());
    assert!(
        text.contains("of a 2.0 GiB file; use offset="),
        "{}",
        &text[text.len() - 300..]
    );

    // Reading on into the NUL bytes stops there instead of scanning 2 GiB.
    let tail = workspace
        .ok("read", json!({"path": "huge.log", "offset": 2999}))
        .await;
    assert!(
        tail.starts_with("  2999\tlog line 2999 with some text\n  3000\t"),
        "{tail}"
    );
    assert!(tail.contains("line 3,001 contains NUL bytes"), "{tail}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn the_output_limit_stops_at_a_line_and_says_where_to_continue() {
    let mut workspace = Workspace::new();
    workspace.context.limits.max_output_bytes = 2000;
    let text: String = (1..=500).map(|n| format!("line number {n}\n")).collect();
    workspace.write("long.txt", text);
    let shown = workspace.ok("read", json!({"path": "long.txt"})).await;
    assert!(shown.len() <= 2000, "{}", shown.len());
    assert!(shown.contains("output limit of"), "{shown}");
    assert!(shown.contains("of 500; use offset="), "{shown}");
}

#[tokio::test]
async fn invalid_utf8_is_shown_lossily_with_a_note() {
    let workspace = Workspace::new();
    workspace.write("latin1.txt", b"caf\xe9 au lait\nplain\n");
    let text = workspace.ok("read", json!({"path": "latin1.txt"})).await;
    assert!(
        text.starts_with("     1\tcaf\u{FFFD} au lait\n     2\tplain\n"),
        "{text}"
    );
    assert!(
        text.contains("`latin1.txt` is not valid UTF-8 (first at line 1)"),
        "{text}"
    );
}

#[tokio::test]
async fn directories_empty_files_and_missing_files_are_explained() {
    let workspace = Workspace::new();
    fs::create_dir(workspace.path("src")).unwrap();
    workspace.write("empty.txt", "");
    let error = workspace.err("read", json!({"path": "src"})).await;
    assert!(error.contains("`src` is a directory"), "{error}");
    assert!(error.contains("`ls`"), "{error}");
    let text = workspace.ok("read", json!({"path": "empty.txt"})).await;
    assert_eq!(text, "`empty.txt` is empty (0 bytes).");
    let error = workspace.err("read", json!({"path": "nope.txt"})).await;
    assert!(error.starts_with("`nope.txt` does not exist"), "{error}");
}

#[tokio::test]
async fn bad_arguments_name_the_field() {
    let workspace = Workspace::new();
    let error = workspace
        .err("read", json!({"path": "a", "offset": "ten"}))
        .await;
    assert!(error.contains("field `offset`"), "{error}");
    assert!(error.contains("{path: string"), "{error}");
    let error = workspace.err("read", json!({"file_path": "a"})).await;
    assert!(error.contains("unknown field `file_path`"), "{error}");
    let error = workspace
        .err("read", json!({"path": "a", "limit": 0}))
        .await;
    assert!(error.contains("`limit` must be at least 1"), "{error}");
}
