//! Short texts made from engine data: a tool call's one-line summary, token counts, costs.

/// The argument fields that say best what a call is about, most telling first.
const TELLING_FIELDS: &[&str] = &["command", "path", "file_path", "pattern", "url", "query"];

/// Longest summary kept; the block's title must fit one line of a small terminal.
const SUMMARY_CHARS: usize = 200;

/// One line saying what a tool call is about: its command, path or pattern when the arguments
/// have one, else its string fields, else the raw text.
pub fn arguments_summary(arguments: &str) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(arguments) else {
        return one_line(arguments, SUMMARY_CHARS);
    };
    for name in TELLING_FIELDS {
        if let Some(serde_json::Value::String(value)) = fields.get(*name) {
            return one_line(value, SUMMARY_CHARS);
        }
    }
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::String(text) => Some(format!("{key}={text}")),
            serde_json::Value::Number(number) => Some(format!("{key}={number}")),
            serde_json::Value::Bool(flag) => Some(format!("{key}={flag}")),
            _ => None,
        })
        .collect();
    one_line(&parts.join(" "), SUMMARY_CHARS)
}

/// The text on one line (newlines as spaces, runs of whitespace squeezed), cut to `max`
/// characters with an ellipsis.
pub fn one_line(text: &str, max: usize) -> String {
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if squeezed.chars().count() <= max {
        return squeezed;
    }
    let mut cut: String = squeezed.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `1 old tool output`, `3 old tool outputs`.
pub fn count_label(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Tokens as people read them: `950`, `12.3k`, `1.2M`.
pub fn tokens(count: u64) -> String {
    match count {
        0..1_000 => count.to_string(),
        1_000..1_000_000 => format!("{:.1}k", count as f64 / 1_000.0),
        _ => format!("{:.1}M", count as f64 / 1_000_000.0),
    }
}

/// A cost in dollars with enough digits to see small ones.
pub fn cost(usd: f64) -> String {
    if usd < 0.01 {
        format!("${usd:.4}")
    } else {
        format!("${usd:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_prefers_the_command_or_path() {
        assert_eq!(
            arguments_summary(r#"{"command":"cargo test\n  --all","timeout":5}"#),
            "cargo test --all"
        );
        assert_eq!(
            arguments_summary(r#"{"path":"src/lib.rs","old_string":"a"}"#),
            "src/lib.rs"
        );
        assert_eq!(
            arguments_summary(r#"{"limit":3,"all":true}"#),
            "all=true limit=3"
        );
        assert_eq!(arguments_summary("not json"), "not json");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(one_line("abcdef", 4), "abc…");
    }

    #[test]
    fn tokens_and_costs_read_naturally() {
        assert_eq!(tokens(950), "950");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(tokens(1_250_000), "1.2M");
        assert_eq!(cost(0.00123), "$0.0012");
        assert_eq!(cost(1.5), "$1.50");
    }
}
