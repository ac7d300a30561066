//! The session title, derived from the first user prompt.

/// Longest title, in characters, the ellipsis included.
pub const TITLE_MAX_CHARS: usize = 60;

/// The title for a session whose first prompt is `text`: its first non-blank line, trimmed,
/// cut to [`TITLE_MAX_CHARS`] characters (on a character boundary, ending in "…" when cut).
/// Empty when the prompt has no text.
pub fn title_from_prompt(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("");
    if line.chars().count() <= TITLE_MAX_CHARS {
        return line.to_owned();
    }
    let mut title: String = line.chars().take(TITLE_MAX_CHARS - 1).collect();
    title.truncate(title.trim_end().len());
    title.push('…');
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_prompt_is_its_own_title() {
        assert_eq!(title_from_prompt("  fix the build \nmore"), "fix the build");
    }

    #[test]
    fn leading_blank_lines_are_skipped() {
        assert_eq!(title_from_prompt("\n   \n  hello\n"), "hello");
    }

    #[test]
    fn empty_prompt_gives_empty_title() {
        assert_eq!(title_from_prompt(""), "");
        assert_eq!(title_from_prompt(" \n\t\n"), "");
    }

    #[test]
    fn exactly_sixty_chars_are_kept_whole() {
        let line = "é".repeat(60);
        assert_eq!(title_from_prompt(&line), line);
    }

    #[test]
    fn long_line_is_cut_on_a_char_boundary_with_an_ellipsis() {
        let title = title_from_prompt(&"日本".repeat(40));
        assert_eq!(title.chars().count(), 60);
        assert_eq!(title, format!("{}日…", "日本".repeat(29)));
    }

    #[test]
    fn whitespace_before_the_cut_is_dropped() {
        let line = format!("{} {}", "a".repeat(58), "b".repeat(10));
        assert_eq!(title_from_prompt(&line), format!("{}…", "a".repeat(58)));
    }
}
