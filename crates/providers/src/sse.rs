//! A small server-sent events decoder, following the WHATWG `text/event-stream` rules.
//!
//! Bytes go in as they arrive from the network, in chunks of any size; whole events come
//! out. Lines end in LF, CRLF or a lone CR (also when the CR and LF arrive in different
//! chunks); `data:` lines of one event are joined with `\n`; a blank line ends an event;
//! lines starting with `:` are comments. Lines are split on bytes before they are decoded, so
//! a UTF-8 character split across chunks is reassembled. Unlike a browser, [`SseDecoder::finish`]
//! dispatches a final event that lacks its blank-line terminator, because some servers end
//! the body right after the last `data:` line.

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name; empty when the event had none (a browser's `message`).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen so far in the stream, if any.
    pub id: Option<String>,
}

/// Turns a byte stream into [`SseEvent`]s.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a LF at the start of the next one belongs to it.
    after_cr: bool,
    /// At least one line was seen (the byte-order mark is only stripped from the first).
    started: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk of the body and returns the events it completed.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while !chunk.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if let Some(rest) = chunk.strip_prefix(b"\n") {
                    chunk = rest;
                    continue;
                }
            }
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    let (head, tail) = chunk.split_at(end);
                    self.line.extend_from_slice(head);
                    self.after_cr = tail.first() == Some(&b'\r');
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line, &mut events);
                    chunk = tail.get(1..).unwrap_or_default();
                }
                None => {
                    self.line.extend_from_slice(chunk);
                    break;
                }
            }
        }
        events
    }

    /// Ends the stream: an unterminated last line and event are dispatched rather than lost.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut events);
        }
        self.after_cr = false;
        self.dispatch(&mut events);
        events.pop()
    }

    fn process_line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        let mut line = line;
        if !self.started {
            self.started = true;
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => value.clone_into(&mut self.event),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            // `retry:` only matters to browsers reconnecting; other fields are ignored.
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        if self.has_data {
            events.push(SseEvent {
                event: std::mem::take(&mut self.event),
                data: std::mem::take(&mut self.data),
                id: self.last_id.clone(),
            });
        } else {
            self.event.clear();
        }
        self.has_data = false;
    }
}

/// Decodes a whole body at once (tests and non-streamed bodies).
pub fn decode_all(body: &[u8]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    let mut events = decoder.push(body);
    events.extend(decoder.finish());
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|event| event.data.as_str()).collect()
    }

    /// Feeds `body` in chunks of `size` bytes.
    fn decode_in_chunks(body: &[u8], size: usize) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        for chunk in body.chunks(size) {
            events.extend(decoder.push(chunk));
        }
        events.extend(decoder.finish());
        events
    }

    #[test]
    fn lf_events_are_separated_by_blank_lines() {
        let events = decode_all(b"data: one\n\ndata: two\n\n");
        assert_eq!(data(&events), ["one", "two"]);
    }

    #[test]
    fn crlf_and_lone_cr_end_lines() {
        let events = decode_all(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n");
        assert_eq!(data(&events), ["a", "b", "c"]);
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        let body = b"data: a\r\n\r\ndata: b\r\n\r\n";
        for size in 1..body.len() {
            assert_eq!(
                data(&decode_in_chunks(body, size)),
                ["a", "b"],
                "size {size}"
            );
        }
    }

    #[test]
    fn multiple_data_lines_are_joined_with_newlines() {
        let events = decode_all(b"data: first\ndata:second\ndata:  third\n\n");
        assert_eq!(data(&events), ["first\nsecond\n third"]);
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let events = decode_all(b": keep-alive\n\n:ping\nretry: 10\nfoo: bar\ndata: x\n\n");
        assert_eq!(data(&events), ["x"]);
    }

    #[test]
    fn event_names_and_ids_are_kept() {
        let events = decode_all(b"event: error\nid: 7\ndata: {}\n\ndata: next\n\n");
        assert_eq!(
            events,
            [
                SseEvent {
                    event: "error".into(),
                    data: "{}".into(),
                    id: Some("7".into()),
                },
                SseEvent {
                    event: String::new(),
                    data: "next".into(),
                    id: Some("7".into()),
                },
            ]
        );
    }

    #[test]
    fn an_event_name_without_data_is_not_dispatched() {
        let events = decode_all(b"event: ping\n\ndata: x\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "");
    }

    #[test]
    fn final_event_is_flushed_at_eof_without_blank_line() {
        assert_eq!(data(&decode_all(b"data: a\n\ndata: last")), ["a", "last"]);
        assert_eq!(data(&decode_all(b"data: a\n\ndata: last\n")), ["a", "last"]);
        assert_eq!(
            data(&decode_all(b"data: a\n\ndata: last\r\n")),
            ["a", "last"]
        );
    }

    #[test]
    fn utf8_split_across_chunks_is_reassembled() {
        let body = "data: héllo → 世界 🦀\n\n".as_bytes();
        for size in 1..body.len() {
            assert_eq!(
                data(&decode_in_chunks(body, size)),
                ["héllo → 世界 🦀"],
                "size {size}"
            );
        }
    }

    #[test]
    fn byte_order_mark_is_stripped_from_the_first_line() {
        assert_eq!(data(&decode_all("\u{feff}data: x\n\n".as_bytes())), ["x"]);
    }

    #[test]
    fn empty_data_field_dispatches_an_empty_event() {
        assert_eq!(data(&decode_all(b"data\n\ndata:\n\n")), ["", ""]);
    }
}
