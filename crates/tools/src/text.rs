//! Text files as the editing tools see them: UTF-8 with or without a byte-order mark, or
//! UTF-16 (little or big endian) with one, decoded to a `String` and encoded back exactly as
//! they were found. Anything else (binary data, legacy 8-bit encodings, UTF-16 without a BOM)
//! is refused, because rewriting it as UTF-8 would silently change every non-ASCII byte.

use code_mesh_core::ToolError;

use crate::files::{count_lines, looks_binary};
use crate::output::{human_size, thousands};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16_LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16_BE_BOM: &[u8] = b"\xFE\xFF";

/// How a text file is stored on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    /// UTF-8 starting with the byte-order mark `EF BB BF`.
    Utf8Bom,
    Utf16Le,
    Utf16Be,
}

impl Encoding {
    /// The encoding of a file starting with `bytes`, judged by its byte-order mark alone.
    pub(crate) fn sniff(bytes: &[u8]) -> Encoding {
        if bytes.starts_with(UTF8_BOM) {
            Encoding::Utf8Bom
        } else if bytes.starts_with(UTF16_LE_BOM) {
            Encoding::Utf16Le
        } else if bytes.starts_with(UTF16_BE_BOM) {
            Encoding::Utf16Be
        } else {
            Encoding::Utf8
        }
    }

    pub(crate) fn is_utf16(self) -> bool {
        matches!(self, Encoding::Utf16Le | Encoding::Utf16Be)
    }

    /// A note for results, empty for plain UTF-8.
    pub(crate) fn kept_note(self) -> &'static str {
        match self {
            Encoding::Utf8 => "",
            Encoding::Utf8Bom => "UTF-8 byte-order mark kept",
            Encoding::Utf16Le => "UTF-16 LE encoding kept",
            Encoding::Utf16Be => "UTF-16 BE encoding kept",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 with a byte-order mark",
            Encoding::Utf16Le => "UTF-16 LE",
            Encoding::Utf16Be => "UTF-16 BE",
        }
    }
}

/// A file's text (without its byte-order mark) and how to write it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub text: String,
    pub encoding: Encoding,
}

/// Decodes a file's bytes for editing; `display` names the file in errors.
pub(crate) fn decode(display: &str, bytes: &[u8]) -> Result<Decoded, ToolError> {
    let encoding = Encoding::sniff(bytes);
    let text = match encoding {
        Encoding::Utf16Le | Encoding::Utf16Be => decode_utf16(display, &bytes[2..], encoding)?,
        Encoding::Utf8 | Encoding::Utf8Bom => {
            let body = if encoding == Encoding::Utf8Bom {
                &bytes[UTF8_BOM.len()..]
            } else {
                bytes
            };
            if looks_binary(body) {
                return Err(ToolError::new(format!(
                    "`{display}` is a binary file ({}); the editing tools change text files only",
                    human_size(bytes.len() as u64)
                )));
            }
            String::from_utf8(body.to_vec()).map_err(|error| {
                let at = error.utf8_error().valid_up_to();
                let line = count_lines(&String::from_utf8_lossy(&body[..at])).max(1);
                ToolError::new(format!(
                    "`{display}` is not UTF-8 (the first invalid byte is on line {}; it is \
                     probably in a legacy encoding such as Latin-1 or Windows-1252); the editing \
                     tools change only UTF-8 and UTF-16 text, so use bash for it (e.g. `sed -i`, \
                     or `iconv` to convert it first)",
                    thousands(line)
                ))
            })?
        }
    };
    Ok(Decoded { text, encoding })
}

fn decode_utf16(display: &str, body: &[u8], encoding: Encoding) -> Result<String, ToolError> {
    if !body.len().is_multiple_of(2) {
        return Err(ToolError::new(format!(
            "`{display}` starts with a UTF-16 byte-order mark but has an odd number of bytes, \
             so it is not valid UTF-16; use bash to inspect it (e.g. `xxd`)"
        )));
    }
    let units = body.chunks_exact(2).map(|pair| match encoding {
        Encoding::Utf16Be => u16::from_be_bytes([pair[0], pair[1]]),
        _ => u16::from_le_bytes([pair[0], pair[1]]),
    });
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|error| {
            ToolError::new(format!(
                "`{display}` starts with a {} byte-order mark but contains an unpaired \
                 surrogate ({:#06x}), so it is not valid UTF-16; use bash to inspect it (e.g. \
                 `xxd`)",
                encoding.name(),
                error.unpaired_surrogate()
            ))
        })
}

/// The bytes of `text` stored in `encoding`, byte-order mark included.
pub(crate) fn encode(text: &str, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Utf8 => text.as_bytes().to_vec(),
        Encoding::Utf8Bom => [UTF8_BOM, text.as_bytes()].concat(),
        Encoding::Utf16Le => {
            let mut bytes = UTF16_LE_BOM.to_vec();
            bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            bytes
        }
        Encoding::Utf16Be => {
            let mut bytes = UTF16_BE_BOM.to_vec();
            bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
            bytes
        }
    }
}

/// The line endings of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineEndings {
    /// `\n` only, or no line break at all.
    Lf,
    /// `\r\n` on every line.
    Crlf,
    /// Both.
    Mixed,
}

impl LineEndings {
    pub(crate) fn of(text: &str) -> LineEndings {
        let crlf = memchr::memmem::find_iter(text.as_bytes(), b"\r\n").count();
        let lf = memchr::memchr_iter(b'\n', text.as_bytes()).count();
        match crlf {
            0 => LineEndings::Lf,
            _ if crlf == lf => LineEndings::Crlf,
            _ => LineEndings::Mixed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_encoding_round_trips() {
        let text = "héllo\r\nwörld 🦀\n";
        for encoding in [
            Encoding::Utf8,
            Encoding::Utf8Bom,
            Encoding::Utf16Le,
            Encoding::Utf16Be,
        ] {
            let bytes = encode(text, encoding);
            let decoded = decode("f", &bytes).unwrap();
            assert_eq!(
                decoded,
                Decoded {
                    text: text.into(),
                    encoding
                },
                "{encoding:?}"
            );
        }
        assert_eq!(&encode("a", Encoding::Utf16Le), b"\xFF\xFEa\0");
        assert_eq!(&encode("a", Encoding::Utf16Be), b"\xFE\xFF\0a");
    }

    #[test]
    fn legacy_and_binary_files_are_refused_with_the_reason() {
        let latin1 = decode("old.txt", b"ok\ncaf\xe9\n").unwrap_err().message;
        assert!(latin1.contains("not UTF-8"), "{latin1}");
        assert!(latin1.contains("line 2"), "{latin1}");
        assert!(latin1.contains("Latin-1"), "{latin1}");
        let binary = decode("a.png", b"PNG\0\x01").unwrap_err().message;
        assert!(binary.contains("binary"), "{binary}");
        let odd = decode("u.txt", b"\xFF\xFEa\0b").unwrap_err().message;
        assert!(odd.contains("odd number of bytes"), "{odd}");
        let surrogate = decode("u.txt", b"\xFF\xFE\x00\xD8a\0").unwrap_err().message;
        assert!(surrogate.contains("unpaired surrogate"), "{surrogate}");
    }

    #[test]
    fn line_endings_are_classified() {
        assert_eq!(LineEndings::of("a\nb"), LineEndings::Lf);
        assert_eq!(LineEndings::of("a\r\nb\r\n"), LineEndings::Crlf);
        assert_eq!(LineEndings::of("a\r\nb\n"), LineEndings::Mixed);
    }
}
