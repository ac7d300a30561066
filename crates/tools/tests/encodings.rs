//! Line endings and encodings survive every editing tool; other encodings are refused.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::support::Workspace;

fn utf16le(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

fn utf16be(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFE, 0xFF];
    bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    bytes
}

fn bytes(workspace: &Workspace, relative: &str) -> Vec<u8> {
    std::fs::read(workspace.path(relative)).unwrap()
}

#[tokio::test]
async fn utf16_files_are_read_decoded_and_edited_in_their_encoding() {
    let workspace = Workspace::new();
    workspace.write("le.txt", utf16le("Grüße\r\nzweite Zeile\r\n"));
    workspace.write("be.txt", utf16be("first\nsecond\n"));
    let read = workspace.ok("read", json!({"path": "le.txt"})).await;
    assert!(
        read.starts_with("     1\tGrüße\n     2\tzweite Zeile\n"),
        "{read}"
    );
    assert!(read.contains("is UTF-16 LE text, shown decoded"), "{read}");
    let text = workspace
        .ok(
            "edit",
            json!({"path": "le.txt", "old_string": "zweite", "new_string": "dritte"}),
        )
        .await;
    assert!(
        text.contains("(CRLF line endings kept, UTF-16 LE encoding kept)"),
        "{text}"
    );
    assert_eq!(
        bytes(&workspace, "le.txt"),
        utf16le("Grüße\r\ndritte Zeile\r\n")
    );
    workspace
        .ok(
            "multiedit",
            json!({"path": "be.txt", "edits": [{"old_string": "first", "new_string": "1st"}]}),
        )
        .await;
    workspace
        .ok(
            "apply_patch",
            json!({"patch": "*** Begin Patch\n*** Update File: be.txt\n@@\n 1st\n-second\n+2nd\n*** End Patch"}),
        )
        .await;
    assert_eq!(bytes(&workspace, "be.txt"), utf16be("1st\n2nd\n"));
}

#[tokio::test]
async fn a_utf8_byte_order_mark_is_kept() {
    let workspace = Workspace::new();
    workspace.write("bom.cs", "\u{FEFF}class A {}\r\n");
    let text = workspace
        .ok(
            "edit",
            json!({"path": "bom.cs", "old_string": "class A", "new_string": "class B"}),
        )
        .await;
    assert!(text.contains("UTF-8 byte-order mark kept"), "{text}");
    workspace
        .ok(
            "apply_patch",
            json!({"patch": "*** Begin Patch\n*** Update File: bom.cs\n@@\n class B {}\n+class C {}\n*** End Patch"}),
        )
        .await;
    assert_eq!(
        workspace.read("bom.cs"),
        "\u{FEFF}class B {}\r\nclass C {}\r\n"
    );
}

#[tokio::test]
async fn crlf_survives_apply_patch_and_mixed_files_keep_each_lines_ending() {
    let workspace = Workspace::new();
    workspace.write("win.txt", "a\r\nb\r\nc\r\n");
    workspace
        .ok(
            "apply_patch",
            json!({"patch": "*** Begin Patch\n*** Update File: win.txt\n@@\n a\n-b\n+B\n+B2\n c\n*** End Patch"}),
        )
        .await;
    assert_eq!(workspace.read("win.txt"), "a\r\nB\r\nB2\r\nc\r\n");
    workspace.write("mixed.txt", "one\r\ntwo\nthree\r\n");
    workspace
        .ok(
            "apply_patch",
            json!({"patch": "*** Begin Patch\n*** Update File: mixed.txt\n@@\n-one\n+1\n two\n three\n*** End Patch"}),
        )
        .await;
    assert_eq!(workspace.read("mixed.txt"), "1\r\ntwo\nthree\r\n");
}

#[tokio::test]
async fn legacy_encodings_are_refused_by_every_editing_tool() {
    let workspace = Workspace::new();
    workspace.write("latin1.txt", b"caf\xe9\n");
    let attempts = [
        (
            "edit",
            json!({"path": "latin1.txt", "old_string": "caf", "new_string": "bar"}),
        ),
        (
            "multiedit",
            json!({"path": "latin1.txt", "edits": [{"old_string": "caf", "new_string": "bar"}]}),
        ),
        (
            "apply_patch",
            json!({"patch": "*** Begin Patch\n*** Update File: latin1.txt\n@@\n+x\n*** End Patch"}),
        ),
    ];
    for (tool, arguments) in attempts {
        let error = workspace.err(tool, arguments).await;
        assert!(
            error.contains("`latin1.txt` is not UTF-8") && error.contains("legacy encoding"),
            "{tool}: {error}"
        );
    }
    assert_eq!(bytes(&workspace, "latin1.txt"), b"caf\xe9\n");
}
