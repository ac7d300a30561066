//! `grep`.

use serde_json::json;

use crate::support::Workspace;

#[tokio::test]
async fn matches_are_grouped_by_file_with_line_numbers() {
    let workspace = Workspace::new();
    workspace.write("src/b.rs", "fn beta() {}\nfn main() {}\n");
    workspace.write("src/a.rs", "// nothing\nfn alpha() {}\n");
    workspace.write("notes.txt", "fn in text\n");
    let text = workspace
        .ok("grep", json!({"pattern": r"fn \w+\(", "include": "*.rs"}))
        .await;
    assert_eq!(
        text,
        "3 matches in 2 files\n\
         src/a.rs:2: fn alpha() {}\n\
         src/b.rs:1: fn beta() {}\n\
         src/b.rs:2: fn main() {}\n"
    );
}

#[tokio::test]
async fn gitignored_hidden_and_binary_files_are_skipped() {
    let workspace = Workspace::new();
    workspace.write(".gitignore", "build/\n");
    workspace.write("build/out.txt", "needle\n");
    workspace.write(".hidden/secret.txt", "needle\n");
    workspace.write("image.bin", b"needle\0\x01\x02");
    workspace.write("src/kept.txt", "a needle here\n");
    let text = workspace.ok("grep", json!({"pattern": "needle"})).await;
    assert_eq!(text, "1 match in 1 file\nsrc/kept.txt:1: a needle here\n");
}

#[tokio::test]
async fn an_invalid_regex_quotes_the_error_and_suggests_escaping() {
    let workspace = Workspace::new();
    let error = workspace.err("grep", json!({"pattern": "fn main("})).await;
    assert!(error.starts_with("invalid regex `fn main(`: "), "{error}");
    assert!(error.contains("unclosed group"), "{error}");
    assert!(error.contains("escape them with a backslash"), "{error}");
}

#[tokio::test]
async fn context_case_and_a_single_file_are_supported() {
    let workspace = Workspace::new();
    workspace.write(
        "poem.txt",
        "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\nthree again\n",
    );
    let text = workspace
        .ok(
            "grep",
            json!({"pattern": "three", "path": "poem.txt", "case_insensitive": true, "context": 1}),
        )
        .await;
    assert_eq!(
        text,
        "2 matches in 1 file\n\
         poem.txt-2- two\n\
         poem.txt:3: THREE\n\
         poem.txt-4- four\n\
         --\n\
         poem.txt-7- seven\n\
         poem.txt:8: three again\n"
    );
    let text = workspace.ok("grep", json!({"pattern": "Three"})).await;
    assert!(text.contains("case-sensitive"), "{text}");
}

#[tokio::test]
async fn results_are_capped_at_max_results() {
    let workspace = Workspace::new();
    let text: String = (0..50).map(|n| format!("hit {n}\n")).collect();
    workspace.write("hits.txt", text);
    let text = workspace
        .ok("grep", json!({"pattern": "hit", "max_results": 10}))
        .await;
    assert!(
        text.starts_with("10 matches in 1 file (stopped at max_results)\n"),
        "{text}"
    );
    assert_eq!(text.matches("hits.txt:").count(), 10);
    assert!(text.contains("raise max_results"), "{text}");
    let error = workspace
        .err("grep", json!({"pattern": "hit", "max_results": 0}))
        .await;
    assert!(error.contains("`max_results` is 0"), "{error}");
}
