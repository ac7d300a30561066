//! Keeping what goes back to the model bounded and readable.

use std::collections::VecDeque;

/// "512 B", "12.3 KiB", "2.0 GiB".
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// `12345` as "12,345".
pub(crate) fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// "1 line" / "3 lines".
pub(crate) fn plural(count: u64, one: &str, many: &str) -> String {
    let word = if count == 1 { one } else { many };
    format!("{} {word}", thousands(count))
}

/// `line` cut to `max_chars` characters, with a marker saying how long it was.
pub(crate) fn clip_line(line: &str, max_chars: usize) -> String {
    match line.char_indices().nth(max_chars) {
        None => line.to_string(),
        Some((cut, _)) => format!(
            "{}… [line cut: {} bytes in total]",
            &line[..cut],
            thousands(line.len() as u64)
        ),
    }
}

/// Cuts `text` to at most `max` bytes, at a line end when one is near, and appends `note`
/// (formatted with the number of bytes dropped) when something was cut. Returns whether it cut.
pub(crate) fn truncate_end(text: &mut String, max: usize, note: impl Fn(u64) -> String) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    if let Some(newline) = text[..cut].rfind('\n')
        && newline >= cut / 2
    {
        cut = newline + 1;
    }
    let dropped = (text.len() - cut) as u64;
    text.truncate(cut);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&note(dropped));
    true
}

/// A byte stream reduced to its first and last parts: the head fills first, then the tail
/// keeps the most recent bytes; everything between is counted and dropped.
#[derive(Debug)]
pub(crate) struct HeadTail {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_capacity: usize,
    tail_capacity: usize,
    dropped: u64,
}

impl HeadTail {
    /// Keeps at most `capacity` bytes: half from the start, half from the end.
    pub(crate) fn new(capacity: usize) -> Self {
        let head_capacity = capacity / 2;
        HeadTail {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_capacity,
            tail_capacity: capacity - head_capacity,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        if self.head.len() < self.head_capacity {
            let take = bytes.len().min(self.head_capacity - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.is_empty() {
            return;
        }
        if bytes.len() >= self.tail_capacity {
            self.dropped += (self.tail.len() + bytes.len() - self.tail_capacity) as u64;
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_capacity..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_capacity);
        self.tail.drain(..overflow);
        self.dropped += overflow as u64;
        self.tail.extend(bytes);
    }

    /// Bytes dropped from the middle so far.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The kept text (invalid UTF-8 replaced) with `marker(bytes dropped)` as a line where
    /// bytes were dropped; cuts move to line boundaries when one is near, so no line is shown
    /// half.
    pub(crate) fn finish(self, marker: impl FnOnce(u64) -> String) -> String {
        let HeadTail {
            mut head,
            tail,
            mut dropped,
            ..
        } = self;
        let mut tail: Vec<u8> = tail.into();
        if dropped == 0 {
            head.extend_from_slice(&tail);
            return String::from_utf8_lossy(&head).into_owned();
        }
        // End the head at a line end when one is in its last quarter, else at a char end.
        let head_end = match memchr::memrchr(b'\n', &head) {
            Some(newline) if newline + 1 >= head.len() - head.len() / 4 => newline + 1,
            _ => complete_utf8_prefix(&head),
        };
        dropped += (head.len() - head_end) as u64;
        head.truncate(head_end);
        // Start the tail after a line end when one is in its first quarter, else at a char
        // start.
        let tail_start = match memchr::memchr(b'\n', &tail) {
            Some(newline) if newline < tail.len() / 4 => newline + 1,
            _ => tail
                .iter()
                .take(3)
                .take_while(|&&byte| byte & 0b1100_0000 == 0b1000_0000)
                .count(),
        };
        dropped += tail_start as u64;
        tail.drain(..tail_start);
        let mut text = String::from_utf8_lossy(&head).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&marker(dropped));
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&tail));
        text
    }
}

/// The length of `bytes` without a UTF-8 sequence cut off at its end.
fn complete_utf8_prefix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Err(error) if error.error_len().is_none() => error.valid_up_to(),
        _ => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_ls_h() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(12_595), "12.3 KiB");
        assert_eq!(human_size(2 << 30), "2.0 GiB");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(plural(1, "line", "lines"), "1 line");
        assert_eq!(plural(2000, "line", "lines"), "2,000 lines");
    }

    #[test]
    fn long_lines_are_clipped_on_char_boundaries() {
        assert_eq!(clip_line("short", 10), "short");
        let clipped = clip_line(&"é".repeat(10), 3);
        assert!(clipped.starts_with("ééé… [line cut: 20 bytes"), "{clipped}");
    }

    #[test]
    fn truncate_end_prefers_line_ends_and_notes_the_cut() {
        let mut text = "line one\nline two\nline three\n".to_string();
        assert!(truncate_end(&mut text, 22, |dropped| format!(
            "[{dropped} cut]"
        )));
        assert_eq!(text, "line one\nline two\n[11 cut]");
        let mut short = "ok".to_string();
        assert!(!truncate_end(&mut short, 10, |_| unreachable!()));
    }

    fn marker(dropped: u64) -> String {
        format!("[… {} omitted …]", human_size(dropped))
    }

    #[test]
    fn head_tail_keeps_everything_when_it_fits() {
        let mut kept = HeadTail::new(100);
        kept.push(b"hello ");
        kept.push(b"world");
        assert_eq!(kept.dropped(), 0);
        assert_eq!(kept.finish(marker), "hello world");
    }

    #[test]
    fn head_tail_keeps_both_ends_of_a_long_stream() {
        let mut kept = HeadTail::new(40);
        for number in 1..=1000 {
            kept.push(format!("{number}\n").as_bytes());
        }
        assert!(kept.dropped() > 3000);
        let text = kept.finish(marker);
        assert!(text.starts_with("1\n2\n3\n"), "{text}");
        assert!(text.ends_with("999\n1000\n"), "{text}");
        assert!(text.contains(" omitted …]\n"), "{text}");
    }

    #[test]
    fn head_tail_does_not_split_characters() {
        let mut kept = HeadTail::new(11);
        kept.push("ééééééééééééééééééééé".as_bytes());
        let text = kept.finish(marker);
        assert!(!text.contains('\u{FFFD}'), "{text}");
        assert!(text.starts_with("éé"));
        assert!(text.ends_with("éé"));
    }

    #[test]
    fn head_tail_handles_one_huge_chunk() {
        let mut kept = HeadTail::new(10);
        kept.push(&[b'a'; 1000]);
        kept.push(b"bcdef");
        assert_eq!(kept.dropped(), 995);
    }
}
