//! `read`: a text file's lines, numbered like `cat -n`, bounded however large the file is.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use async_trait::async_trait;
use code_mesh_core::{CancellationToken, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking::{self, CANCELLED};
use crate::editable::MAX_EDIT_BYTES;
use crate::files::{BINARY_PROBE_BYTES, looks_binary};
use crate::output::{human_size, thousands};
use crate::paths::PathPolicy;
use crate::stamps;
use crate::text::{self, Encoding};

/// Lines shown when the call gives no `limit`.
const DEFAULT_LIMIT: u64 = 2000;
/// Characters of one line shown before it is cut.
const MAX_LINE_CHARS: usize = 2000;
/// Bytes of one line kept to show its first `MAX_LINE_CHARS` characters.
const MAX_LINE_BYTES: usize = MAX_LINE_CHARS * 4;
/// Output of one call, at most; the context's `max_output_bytes` may lower it.
const MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// Room kept for the notes after the lines.
const NOTE_RESERVE: usize = 512;
/// Bytes of the file one call scans, at most, counting the lines skipped to reach `offset`.
const MAX_SCAN_BYTES: u64 = 64 * 1024 * 1024;
const READ_BUFFER_BYTES: usize = 64 * 1024;

const DESCRIPTION: &str = "\
Reads a text file and returns its lines numbered like `cat -n`: the line number, a tab, then \
the line.

Usage:
- `path` is relative to the working directory, or absolute; it must be inside the workspace \
(or a directory in `tools.allowed_paths`).
- By default up to 2000 lines are returned from the start of the file. For long files pass \
`offset` (the 1-based line to start at) and `limit` (how many lines); when the output stops \
early it says which `offset` continues.
- Lines longer than 2000 characters are cut.
- The line-number prefix is not part of the file: never copy it into `edit`'s old_string.
- Binary files are refused (use `bash` with `file` or `xxd`); directories are refused (use \
`ls`). To find files, use `glob`; to search contents, use `grep`.
- Read a file before editing or overwriting it. When several files may be relevant, read them \
in parallel in one step rather than one after another.";

/// Reads a text file: `{path, offset?, limit?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    path: String,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "The file to read, relative to the working directory or absolute."
            },
            "offset": {
                "type": "integer",
                "minimum": 1,
                "description": "The 1-based line number to start reading at. Default: 1. Only \
                    needed for files too long to read at once."
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "description": "How many lines to return at most. Default: 2000."
            }
        },
        "required": ["path"],
        "additionalProperties": false
    })
}

#[async_trait]
impl Tool for ReadTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        let Some(path) = args::str_field(arguments, "path") else {
            return "read a file".into();
        };
        let offset = arguments.get("offset").and_then(Value::as_u64);
        let limit = arguments.get("limit").and_then(Value::as_u64);
        match (offset, limit) {
            (None, None) => format!("read {path}"),
            (offset, limit) => {
                let first = offset.unwrap_or(1).max(1);
                let last = first + limit.unwrap_or(DEFAULT_LIMIT).max(1) - 1;
                format!("read {path} (lines {first}-{last})")
            }
        }
    }

    fn permission_target(&self, arguments: &Value) -> code_mesh_core::PermissionTarget {
        args::path_target(arguments, None)
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: ReadArgs = args::parse("read", arguments, &schema)?;
        if arguments.limit == Some(0) {
            return Err(args::invalid(
                "read",
                "`limit` must be at least 1 (it is how many lines to return)",
                &schema,
            ));
        }
        let request = Request {
            // Offset 0 is a common slip for "from the start"; it means line 1.
            offset: arguments.offset.unwrap_or(1).max(1),
            limit: arguments.limit.unwrap_or(DEFAULT_LIMIT),
            budget: MAX_OUTPUT_BYTES
                .min(context.limits.max_output_bytes)
                .saturating_sub(NOTE_RESERVE),
        };
        let owned = context.clone();
        blocking::cancellable(context, move |cancel| {
            read_file(&owned, &arguments.path, &request, cancel)
        })
        .await
        .map(ToolOutput::from)
    }
}

#[derive(Clone, Copy, Debug)]
struct Request {
    offset: u64,
    limit: u64,
    /// Bytes of numbered lines to return at most (at least one line is always shown).
    budget: usize,
}

fn read_file(
    context: &ToolContext,
    raw: &str,
    request: &Request,
    cancel: &CancellationToken,
) -> Result<String, ToolError> {
    let policy = PathPolicy::new(context);
    let (path, metadata) = policy.resolve_existing(raw)?;
    let display = policy.display(&path);
    if metadata.is_dir() {
        return Err(ToolError::new(format!(
            "`{display}` is a directory; read shows files. Use `ls` to list it or `glob` to find \
             files in it"
        )));
    }
    if !metadata.is_file() {
        return Err(ToolError::new(format!(
            "`{display}` is not a regular file (it is a device, socket or pipe); read shows \
             regular files only"
        )));
    }
    let size = metadata.len();
    if size == 0 {
        let stamp = stamps::stamp(&metadata, Some(stamps::content_hash(b"")));
        context.files.record(&path, stamp);
        return Ok(format!("`{display}` is empty (0 bytes)."));
    }
    let open_error = |error: io::Error| ToolError::new(format!("cannot read `{display}`: {error}"));
    let mut file = File::open(&path).map_err(open_error)?;
    let mut probe = Vec::with_capacity(BINARY_PROBE_BYTES);
    (&mut file)
        .take(BINARY_PROBE_BYTES as u64)
        .read_to_end(&mut probe)
        .map_err(open_error)?;
    if Encoding::sniff(&probe).is_utf16() {
        drop(file);
        return read_utf16(context, &path, &display, &metadata, request, cancel);
    }
    if looks_binary(&probe) {
        return Err(ToolError::new(format!(
            "`{display}` is a binary file ({}); read shows text files only; use bash with \
             `file`/`xxd` to inspect it",
            human_size(size)
        )));
    }
    let mut reader = BufReader::with_capacity(
        READ_BUFFER_BYTES,
        Hashing {
            inner: io::Cursor::new(probe).chain(file),
            hasher: stamps::Hasher::default(),
            bytes: 0,
        },
    );
    let scan = scan_lines(&mut reader, request, cancel).map_err(open_error)?;
    // The hash stands for the file only when every byte of it went through the reader.
    let hashed = reader.get_ref();
    let hash = (scan.total_lines.is_some() && hashed.bytes == size).then(|| hashed.hasher.finish());
    let out = render(&display, size, request, scan)?;
    context.files.record(&path, stamps::stamp(&metadata, hash));
    Ok(out)
}

/// A UTF-16 file with a byte-order mark: decoded whole, then shown like any other.
fn read_utf16(
    context: &ToolContext,
    path: &std::path::Path,
    display: &str,
    metadata: &std::fs::Metadata,
    request: &Request,
    cancel: &CancellationToken,
) -> Result<String, ToolError> {
    if metadata.len() > MAX_EDIT_BYTES {
        return Err(ToolError::new(format!(
            "`{display}` is UTF-16 text of {}; read decodes UTF-16 files up to {}; use bash \
             (e.g. `iconv -f UTF-16 -t UTF-8 {display} | sed -n '1,200p'`)",
            human_size(metadata.len()),
            human_size(MAX_EDIT_BYTES)
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|error| ToolError::new(format!("cannot read `{display}`: {error}")))?;
    let decoded = text::decode(display, &bytes)?;
    let scan = scan_lines(io::Cursor::new(decoded.text.as_bytes()), request, cancel)
        .map_err(|error| ToolError::new(format!("cannot read `{display}`: {error}")))?;
    let mut out = render(display, metadata.len(), request, scan)?;
    out.push_str(&format!(
        "\n[`{display}` is {} text, shown decoded; edit, multiedit and apply_patch keep its \
         encoding]\n",
        decoded.encoding.name()
    ));
    let hash = (bytes.len() as u64 == metadata.len()).then(|| stamps::content_hash(&bytes));
    context.files.record(path, stamps::stamp(metadata, hash));
    Ok(out)
}

/// A reader that hashes what passes through it, so a whole read also stamps the content.
struct Hashing<R> {
    inner: R,
    hasher: stamps::Hasher,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..count]);
        self.bytes += count as u64;
        Ok(count)
    }
}

/// Why the scan stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    EndOfFile,
    Limit,
    OutputFull,
    ScanLimit,
    /// This line has a NUL byte: binary data from here on.
    Binary(u64),
    Cancelled,
}

#[derive(Debug)]
struct Scan {
    text: String,
    /// First and last line shown; `last < first` when none was.
    first: u64,
    last: u64,
    stop: Stop,
    /// The number of lines in the file, when the scan reached its end.
    total_lines: Option<u64>,
    /// Lines read (shown or skipped) before the scan stopped.
    lines_read: u64,
    invalid_utf8_at: Option<u64>,
}

enum LineRead {
    /// A line of this many bytes, terminator included.
    Line(u64),
    EndOfFile,
    ScanLimit,
    Cancelled,
    /// The kept part of the line has a NUL byte; the rest of it was not read.
    Binary,
}

/// Streams `reader` line by line, formatting the requested window and keeping at most
/// `MAX_LINE_BYTES` of any line in memory.
fn scan_lines<R: BufRead>(
    mut reader: R,
    request: &Request,
    cancel: &CancellationToken,
) -> io::Result<Scan> {
    let mut scan = Scan {
        text: String::new(),
        first: request.offset,
        last: request.offset - 1,
        stop: Stop::EndOfFile,
        total_lines: None,
        lines_read: 0,
        invalid_utf8_at: None,
    };
    let mut scan_left = MAX_SCAN_BYTES;
    let mut kept = Vec::with_capacity(256);
    loop {
        let number = scan.lines_read + 1;
        let keep = number >= request.offset;
        let length = match next_line(&mut reader, &mut kept, keep, &mut scan_left, cancel)? {
            LineRead::Line(length) => length,
            LineRead::EndOfFile => {
                scan.total_lines = Some(scan.lines_read);
                scan.stop = Stop::EndOfFile;
                return Ok(scan);
            }
            LineRead::ScanLimit => {
                scan.stop = Stop::ScanLimit;
                return Ok(scan);
            }
            LineRead::Cancelled => {
                scan.stop = Stop::Cancelled;
                return Ok(scan);
            }
            LineRead::Binary => {
                scan.stop = Stop::Binary(number);
                return Ok(scan);
            }
        };
        scan.lines_read = number;
        if !keep {
            continue;
        }
        let line = format_line(number, &kept, length, &mut scan.invalid_utf8_at);
        if scan.last >= scan.first && scan.text.len() + line.len() > request.budget {
            scan.stop = Stop::OutputFull;
            break;
        }
        scan.text.push_str(&line);
        scan.last = number;
        if scan.last + 1 - scan.first >= request.limit {
            scan.stop = Stop::Limit;
            break;
        }
    }
    // Count the lines left, within the same scan budget, to say how long the file is.
    let mut more = 0;
    loop {
        match next_line(&mut reader, &mut kept, false, &mut scan_left, cancel)? {
            LineRead::Line(_) => more += 1,
            LineRead::EndOfFile => {
                scan.total_lines = Some(scan.lines_read + more);
                break;
            }
            LineRead::ScanLimit | LineRead::Cancelled | LineRead::Binary => break,
        }
    }
    Ok(scan)
}

/// Reads one line, keeping its first `MAX_LINE_BYTES` in `kept` when `keep`.
fn next_line<R: BufRead>(
    reader: &mut R,
    kept: &mut Vec<u8>,
    keep: bool,
    scan_left: &mut u64,
    cancel: &CancellationToken,
) -> io::Result<LineRead> {
    kept.clear();
    let mut length = 0u64;
    loop {
        if *scan_left == 0 {
            return Ok(LineRead::ScanLimit);
        }
        if cancel.is_cancelled() {
            return Ok(LineRead::Cancelled);
        }
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(if length > 0 {
                LineRead::Line(length)
            } else {
                LineRead::EndOfFile
            });
        }
        let window = &available[..available
            .len()
            .min(usize::try_from(*scan_left).unwrap_or(usize::MAX))];
        let (used, complete) = match memchr::memchr(b'\n', window) {
            Some(newline) => (newline + 1, true),
            None => (window.len(), false),
        };
        if keep && kept.len() < MAX_LINE_BYTES {
            let room = MAX_LINE_BYTES - kept.len();
            let taken = &window[..used.min(room)];
            if memchr::memchr(0, taken).is_some() {
                return Ok(LineRead::Binary);
            }
            kept.extend_from_slice(taken);
        }
        reader.consume(used);
        length += used as u64;
        *scan_left -= used as u64;
        if complete {
            return Ok(LineRead::Line(length));
        }
    }
}

/// `{number:>6}\t{line}\n`, the line without its terminator and cut at `MAX_LINE_CHARS`.
fn format_line(number: u64, kept: &[u8], length: u64, invalid_utf8_at: &mut Option<u64>) -> String {
    let whole = length == kept.len() as u64;
    let mut bytes = kept;
    if whole {
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    }
    if number == 1 {
        bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    }
    let text: Cow<'_, str> = match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        // Only the kept part ends mid-character: not an encoding problem.
        Err(error) if !whole && error.error_len().is_none() => {
            Cow::Owned(String::from_utf8_lossy(&bytes[..error.valid_up_to()]).into_owned())
        }
        Err(_) => {
            invalid_utf8_at.get_or_insert(number);
            String::from_utf8_lossy(bytes)
        }
    };
    let cut_at = text
        .char_indices()
        .nth(MAX_LINE_CHARS)
        .map(|(index, _)| index);
    match cut_at {
        None if whole => format!("{number:>6}\t{text}\n"),
        cut_at => {
            let shown = &text[..cut_at.unwrap_or(text.len())];
            format!(
                "{number:>6}\t{shown}… [line cut at {} characters; it is {} bytes long]\n",
                thousands(MAX_LINE_CHARS as u64),
                thousands(length)
            )
        }
    }
}

/// The numbered lines and the notes that say what was left out and how to read on.
fn render(display: &str, size: u64, request: &Request, scan: Scan) -> Result<String, ToolError> {
    let shown_any = scan.last >= scan.first;
    let mut out = scan.text;
    let mut notes: Vec<String> = Vec::new();
    let of_what = match scan.total_lines {
        Some(total) => thousands(total),
        None => format!("a {} file", human_size(size)),
    };
    let next = scan.last + 1;
    match scan.stop {
        Stop::Cancelled => return Err(ToolError::new(CANCELLED)),
        Stop::EndOfFile if !shown_any => {
            let total = scan.lines_read;
            return Err(ToolError::new(format!(
                "offset={} is past the end of `{display}`, which has {}; use an offset between \
                 1 and {total}",
                request.offset,
                crate::output::plural(total, "line", "lines"),
            )));
        }
        Stop::EndOfFile => {
            if scan.first > 1 {
                notes.push(format!("end of file: `{display}` has {} lines", of_what));
            }
        }
        Stop::Limit | Stop::OutputFull if scan.total_lines == Some(scan.last) => {}
        Stop::Limit => notes.push(format!(
            "showing lines {}-{} of {of_what}; use offset={next} to continue",
            thousands(scan.first),
            thousands(scan.last)
        )),
        Stop::OutputFull => notes.push(format!(
            "output limit of {} reached: showing lines {}-{} of {of_what}; use offset={next} to \
             continue (with a smaller limit if lines are long)",
            human_size(request.budget as u64),
            thousands(scan.first),
            thousands(scan.last)
        )),
        Stop::ScanLimit if !shown_any => {
            return Err(ToolError::new(format!(
                "read scans at most {} per call and reached only line {} of `{display}` ({}), \
                 before offset={}; use bash for text this far into the file, e.g. `sed -n \
                 '{},{}p' {display}`",
                human_size(MAX_SCAN_BYTES),
                thousands(scan.lines_read),
                human_size(size),
                request.offset,
                request.offset,
                request.offset + request.limit.min(DEFAULT_LIMIT) - 1,
            )));
        }
        Stop::ScanLimit => notes.push(format!(
            "stopped after scanning {} of this {} file: showing lines {}-{}; use offset={next} \
             to continue, or bash (`sed`, `tail -c`) for text further in",
            human_size(MAX_SCAN_BYTES),
            human_size(size),
            thousands(scan.first),
            thousands(scan.last)
        )),
        Stop::Binary(line) if !shown_any => {
            return Err(ToolError::new(format!(
                "line {} of `{display}` contains NUL bytes: from there on the file looks binary \
                 ({} in total); use bash with `xxd` to inspect it",
                thousands(line),
                human_size(size)
            )));
        }
        Stop::Binary(line) => notes.push(format!(
            "line {} contains NUL bytes: the rest of `{display}` looks binary and is not shown; \
             use bash with `xxd` to inspect it",
            thousands(line)
        )),
    }
    if let Some(line) = scan.invalid_utf8_at {
        notes.push(format!(
            "`{display}` is not valid UTF-8 (first at line {}): invalid bytes are shown as \
             U+FFFD (�), so `edit` cannot change this file; use bash for it",
            thousands(line)
        ));
    }
    for note in notes {
        out.push_str(&format!("\n[{note}]\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &[u8], offset: u64, limit: u64, budget: usize) -> Scan {
        let request = Request {
            offset,
            limit,
            budget,
        };
        scan_lines(text, &request, &CancellationToken::new()).unwrap()
    }

    #[test]
    fn lines_are_numbered_like_cat_n() {
        let result = scan(b"one\r\ntwo\nthree", 1, 10, 1000);
        assert_eq!(result.text, "     1\tone\n     2\ttwo\n     3\tthree\n");
        assert_eq!(result.stop, Stop::EndOfFile);
        assert_eq!(result.total_lines, Some(3));
    }

    #[test]
    fn a_window_knows_the_total_when_the_rest_is_scanned() {
        let text: String = (1..=10).map(|n| format!("l{n}\n")).collect();
        let result = scan(text.as_bytes(), 3, 2, 1000);
        assert_eq!(result.text, "     3\tl3\n     4\tl4\n");
        assert_eq!(result.stop, Stop::Limit);
        assert_eq!(result.total_lines, Some(10));
        let rendered = render(
            "f",
            50,
            &Request {
                offset: 3,
                limit: 2,
                budget: 1000,
            },
            result,
        );
        assert!(
            rendered
                .unwrap()
                .contains("[showing lines 3-4 of 10; use offset=5 to continue]")
        );
    }

    #[test]
    fn output_budget_stops_at_a_whole_line() {
        let text: String = (1..=100).map(|n| format!("line {n}\n")).collect();
        let result = scan(text.as_bytes(), 1, 2000, 50);
        assert_eq!(result.stop, Stop::OutputFull);
        assert_eq!(result.last, 3);
        assert!(result.text.len() <= 50);
    }

    #[test]
    fn long_lines_are_cut_without_holding_them() {
        let mut text = vec![b'x'; 100_000];
        text.extend_from_slice(b"\nshort\n");
        let result = scan(&text, 1, 10, 100_000);
        let first = result.text.lines().next().unwrap();
        assert!(first.contains("… [line cut at 2,000 characters; it is 100,001 bytes long]"));
        assert_eq!(
            first.len(),
            7 + 2000 + "… [line cut at 2,000 characters; it is 100,001 bytes long]".len()
        );
        assert!(result.text.ends_with("     2\tshort\n"));
    }

    #[test]
    fn invalid_utf8_is_shown_lossily_and_remembered() {
        let result = scan(b"ok\nbad \xff byte\n", 1, 10, 1000);
        assert!(result.text.contains("bad \u{FFFD} byte"));
        assert_eq!(result.invalid_utf8_at, Some(2));
    }

    #[test]
    fn nul_bytes_stop_the_output() {
        let result = scan(b"text\n\0\0\0\nmore\n", 1, 10, 1000);
        assert_eq!(result.stop, Stop::Binary(2));
        assert_eq!(result.text, "     1\ttext\n");
    }

    #[test]
    fn a_bom_is_not_shown() {
        let result = scan(b"\xEF\xBB\xBFfirst\n", 1, 10, 1000);
        assert_eq!(result.text, "     1\tfirst\n");
    }
}
