//! Summaries: where to cut the history, what the summariser is sent, and the summary that
//! comes back — with the user's own words and the files touched filled in mechanically, never
//! paraphrased.

use std::collections::BTreeMap;

use code_mesh_protocol::{Message, Part, Role};

use super::tokens::TokenCounter;

/// The summariser's instructions.
pub(crate) const SUMMARY_SYSTEM: &str = "\
You summarise a coding agent's conversation so the agent can go on with the task from the \
summary alone. Write Markdown with exactly these four sections, each a short list of facts:

## Goal
What the user wants done overall, and the current sub-task.

## Discoveries
What was learned about the code and the environment: file locations, how things work, \
commands that build and test the project, errors met and their causes. Be concrete: names, \
paths, line numbers, exact commands.

## Done
What was changed or finished, with file paths.

## Open items
What remains to do, what was about to happen next, and unresolved problems.

Do not quote the user's messages and do not list files: both are added to your summary \
verbatim. Do not invent anything that is not in the conversation. Write nothing before the \
first section.";

/// The model's sections, in the summary's order, with the mechanical ones between them.
const MODEL_SECTIONS: [&str; 4] = ["Goal", "Discoveries", "Done", "Open items"];

/// Most bytes of one tool output the summariser is shown.
const TRANSCRIPT_OUTPUT_BYTES: usize = 1500;

/// Where the history may be cut: after message `seq` (everything up to and including it is
/// summarised) when the next message is not a tool result (a call never loses its result),
/// and when something not yet summarised would be covered. `to_end` also allows cutting after
/// the last message (`/compact`); otherwise at least the last message stays whole.
pub(crate) fn cut_points(history: &[Message], summarized_through: u64, to_end: bool) -> Vec<u64> {
    let mut cuts = Vec::new();
    for (index, message) in history.iter().enumerate() {
        if message.seq <= summarized_through {
            continue;
        }
        match history.get(index + 1) {
            Some(next) if next.role != Role::Tool => cuts.push(message.seq),
            None if to_end => cuts.push(message.seq),
            _ => {}
        }
    }
    cuts
}

/// The cut points to try for an automatic summary, best first: just before the latest user
/// prompt (it and its turn stay whole), then later ones inside the turn, keeping less.
pub(crate) fn automatic_cuts(history: &[Message], summarized_through: u64) -> Vec<u64> {
    let latest_user = history
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map_or(0, |m| m.seq);
    cut_points(history, summarized_through, false)
        .into_iter()
        .filter(|cut| *cut + 1 >= latest_user || next_seq(history, *cut) >= latest_user)
        .collect()
}

fn next_seq(history: &[Message], seq: u64) -> u64 {
    history
        .iter()
        .find(|m| m.seq > seq)
        .map_or(u64::MAX, |m| m.seq)
}

/// The user's own words in each user message up to `through`, oldest first (without the
/// notices Code Mesh appends to a prompt).
pub(crate) fn user_prompts(history: &[Message], through: u64) -> Vec<String> {
    history
        .iter()
        .filter(|m| m.role == Role::User && m.seq <= through)
        .filter_map(|m| {
            let text: String = m
                .parts
                .iter()
                .filter_map(|part| match part {
                    Part::Text { text } if !text.starts_with("\n\n[Code Mesh notices]") => {
                        Some(text.as_str())
                    }
                    _ => None,
                })
                .collect();
            (!text.trim().is_empty()).then_some(text)
        })
        .collect()
}

/// What the agent did to a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Touch {
    pub read: bool,
    pub changed: bool,
}

/// Files the file tools read or changed successfully in the messages after `after` up to
/// `through`, by path as the model wrote it.
pub(crate) fn files_touched(
    history: &[Message],
    after: u64,
    through: u64,
) -> BTreeMap<String, Touch> {
    let within = |m: &&Message| m.seq > after && m.seq <= through;
    let mut failed = std::collections::HashSet::new();
    for message in history.iter().filter(within) {
        for result in message.tool_results() {
            if result.is_error {
                failed.insert(result.call_id.as_str());
            }
        }
    }
    let mut files: BTreeMap<String, Touch> = BTreeMap::new();
    for message in history.iter().filter(within) {
        for call in message.tool_calls() {
            if failed.contains(call.call_id.as_str()) {
                continue;
            }
            let Ok(arguments) = serde_json::from_str::<serde_json::Value>(&call.arguments) else {
                continue;
            };
            let path = arguments["path"].as_str().map(str::to_owned);
            match (call.name.as_str(), path) {
                ("read", Some(path)) => files.entry(path).or_default().read = true,
                ("write" | "edit" | "multiedit", Some(path)) => {
                    files.entry(path).or_default().changed = true;
                }
                ("apply_patch", _) => {
                    for path in patch_paths(arguments["patch"].as_str().unwrap_or_default()) {
                        files.entry(path).or_default().changed = true;
                    }
                }
                _ => {}
            }
        }
    }
    files
}

/// The files a patch in `apply_patch`'s format adds, updates, deletes or moves to.
fn patch_paths(patch: &str) -> Vec<String> {
    patch
        .lines()
        .filter_map(|line| {
            [
                "*** Add File:",
                "*** Update File:",
                "*** Delete File:",
                "*** Move to:",
            ]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix))
            .map(|path| path.trim().to_owned())
        })
        .filter(|path| !path.is_empty())
        .collect()
}

/// The conversation as plain text for the summariser: the earlier summary, then each
/// message, tool outputs shortened.
pub(crate) fn transcript(previous: Option<&str>, messages: &[Message]) -> String {
    let mut out = String::new();
    if let Some(previous) = previous {
        out.push_str("[summary of the conversation before this point]\n");
        out.push_str(previous);
        out.push_str("\n\n");
    }
    for message in messages {
        for part in &message.parts {
            match (message.role, part) {
                (Role::User, Part::Text { text }) => {
                    out.push_str(&format!("[user]\n{}\n\n", text.trim_end()));
                }
                (_, Part::Text { text }) if !text.trim().is_empty() => {
                    out.push_str(&format!("[assistant]\n{}\n\n", text.trim_end()));
                }
                (_, Part::ToolCall(call)) => {
                    out.push_str(&format!(
                        "[assistant calls `{}`] {}\n\n",
                        call.name, call.arguments
                    ));
                }
                (_, Part::ToolResult(result)) => {
                    let status = if result.is_error { " (failed)" } else { "" };
                    out.push_str(&format!(
                        "[`{}` result{status}]\n{}\n\n",
                        result.name,
                        clip(&result.output, TRANSCRIPT_OUTPUT_BYTES)
                    ));
                }
                _ => {}
            }
        }
    }
    out
}

/// `transcript` cut in the middle (keeping a third from the start and the rest from the end,
/// where the latest work is) until it counts at most `max_tokens`.
pub(crate) fn fit_transcript(
    transcript: String,
    max_tokens: u64,
    counter: &dyn TokenCounter,
) -> String {
    let mut text = transcript;
    for _ in 0..8 {
        let tokens = counter.count(&text);
        if tokens <= max_tokens {
            return text;
        }
        let keep = (text.len() as u128 * u128::from(max_tokens) * 9
            / 10
            / u128::from(tokens.max(1))) as usize;
        text = cut_middle(&text, keep);
    }
    text
}

fn cut_middle(text: &str, keep: usize) -> String {
    if keep >= text.len() {
        return text.to_owned();
    }
    let mut head_end = keep / 3;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - (keep - keep / 3);
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[… {} bytes of the conversation left out …]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[… {} more bytes]", &text[..end], text.len() - end)
}

/// What the summariser is asked.
pub(crate) fn request_text(transcript: &str) -> String {
    format!(
        "Summarise the conversation below with the four sections.\n\n<conversation>\n{transcript}\n</conversation>"
    )
}

/// The summary as the model will see it: a note that it is lossy, the model's sections, and
/// the user's messages and the files touched filled in mechanically.
pub(crate) fn assemble(
    model_text: &str,
    prompts: &[String],
    files: &BTreeMap<String, Touch>,
) -> String {
    let sections = parse_sections(model_text);
    let section = |name: &str| {
        sections
            .get(name)
            .map(|text| text.trim())
            .filter(|text| !text.is_empty())
            .unwrap_or("(none recorded)")
            .to_owned()
    };
    let mut out = String::from(
        "[Context summary] The earlier part of this conversation was replaced by this summary \
         to fit the model's context window. It is lossy: file contents, command outputs and \
         details are gone. Read a file again before editing it (edits of files read before \
         this summary are refused until they are read again) and run commands again rather \
         than trusting remembered output. The user's messages are quoted verbatim.\n\n",
    );
    out.push_str(&format!("## Goal\n{}\n\n", section("Goal")));
    out.push_str("## Instructions\nThe user's messages so far, verbatim, oldest first:\n");
    if prompts.is_empty() {
        out.push_str("(none)\n");
    }
    for (index, prompt) in prompts.iter().enumerate() {
        out.push_str(&format!("\n### User message {}\n{}\n", index + 1, prompt));
    }
    out.push('\n');
    out.push_str(&format!("## Discoveries\n{}\n\n", section("Discoveries")));
    out.push_str(&format!("## Done\n{}\n\n", section("Done")));
    out.push_str("## Files touched\n");
    if files.is_empty() {
        out.push_str("(none)\n");
    }
    for (path, touch) in files {
        let what = match (touch.read, touch.changed) {
            (true, true) => "read, changed",
            (false, true) => "changed",
            _ => "read",
        };
        out.push_str(&format!("- `{path}`: {what}\n"));
    }
    out.push('\n');
    out.push_str(&format!("## Open items\n{}", section("Open items")));
    if let Some(extra) = sections.get("") {
        let extra = extra.trim();
        if !extra.is_empty() {
            out.push_str(&format!("\n\n## Notes\n{extra}"));
        }
    }
    out
}

/// The model's text by section name; text under no known heading goes under "".
fn parse_sections(text: &str) -> BTreeMap<String, String> {
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = Some(String::new());
    for line in text.lines() {
        if let Some(heading) = heading(line) {
            current = MODEL_SECTIONS
                .iter()
                .find(|name| name.eq_ignore_ascii_case(&heading))
                .map(|name| (*name).to_owned());
            // Sections the summary fills itself ("Instructions", "Files touched") and
            // unknown ones are dropped.
            continue;
        }
        if let Some(name) = &current {
            let entry = sections.entry(name.clone()).or_default();
            entry.push_str(line);
            entry.push('\n');
        }
    }
    sections
}

/// `## Goal`, `**Goal:**` or `Goal:` on a line of its own, as `Goal`.
fn heading(line: &str) -> Option<String> {
    let trimmed = line.trim();
    let stripped = if let Some(rest) = trimmed.strip_prefix('#') {
        rest.trim_start_matches('#').trim()
    } else if trimmed.starts_with("**") && trimmed.ends_with("**") && trimmed.len() > 4 {
        trimmed.trim_matches('*').trim()
    } else if MODEL_SECTIONS
        .iter()
        .any(|name| trimmed.eq_ignore_ascii_case(&format!("{name}:")))
    {
        trimmed
    } else {
        return None;
    };
    Some(stripped.trim_end_matches(':').trim().to_owned())
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{ToolCall, ToolResult};
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::context::tokens::Estimator;

    fn message(seq: u64, role: Role, parts: Vec<Part>) -> Message {
        Message {
            seq,
            role,
            parts,
            model: None,
            usage: None,
            interrupted: false,
            created_at: 0,
        }
    }

    fn text(text: &str) -> Part {
        Part::Text { text: text.into() }
    }

    fn call(id: &str, name: &str, arguments: &str) -> Part {
        Part::ToolCall(ToolCall::new(id, name, arguments))
    }

    fn result(id: &str, name: &str, output: &str, is_error: bool) -> Part {
        Part::ToolResult(ToolResult {
            call_id: id.into(),
            name: name.into(),
            output: output.into(),
            is_error,
        })
    }

    /// Two turns: the first reads, edits, and fails one edit; the second is one step in.
    fn history() -> Vec<Message> {
        vec![
            message(
                1,
                Role::User,
                vec![text("Fix `add`.\nDo NOT touch main.rs!")],
            ),
            message(
                2,
                Role::Assistant,
                vec![
                    call("a", "read", r#"{"path":"src/lib.rs"}"#),
                    call("b", "read", r#"{"path":"README.md"}"#),
                ],
            ),
            message(
                3,
                Role::Tool,
                vec![
                    result("a", "read", "fn add", false),
                    result("b", "read", "# readme", false),
                ],
            ),
            message(
                4,
                Role::Assistant,
                vec![call("c", "edit", r#"{"path":"src/lib.rs"}"#)],
            ),
            message(5, Role::Tool, vec![result("c", "edit", "edited", false)]),
            message(
                6,
                Role::Assistant,
                vec![call("d", "edit", r#"{"path":"src/main.rs"}"#)],
            ),
            message(7, Role::Tool, vec![result("d", "edit", "no match", true)]),
            message(8, Role::Assistant, vec![text("Fixed.")]),
            message(
                9,
                Role::User,
                vec![
                    text("now add tests"),
                    text("\n\n[Code Mesh notices]\n- a file changed"),
                ],
            ),
            message(
                10,
                Role::Assistant,
                vec![call("e", "bash", r#"{"command":"ls"}"#)],
            ),
            message(11, Role::Tool, vec![result("e", "bash", "src", false)]),
        ]
    }

    #[test]
    fn cuts_never_separate_a_call_from_its_result() {
        let history = history();
        let cuts = cut_points(&history, 0, false);
        assert_eq!(cuts, vec![1, 3, 5, 7, 8, 9]);
        for cut in &cuts {
            let next = history.iter().find(|m| m.seq == cut + 1).unwrap();
            assert_ne!(next.role, Role::Tool, "cut after {cut}");
        }
        assert_eq!(cut_points(&history, 0, true).last(), Some(&11));
        assert_eq!(cut_points(&history, 7, false), vec![8, 9]);
    }

    #[test]
    fn automatic_cuts_keep_the_latest_prompt_whole_first() {
        assert_eq!(automatic_cuts(&history(), 0), vec![8, 9]);
        // Nothing new before the latest prompt: only cuts inside its turn remain.
        assert_eq!(automatic_cuts(&history(), 8), vec![9]);
        assert_eq!(automatic_cuts(&history(), 9), Vec::<u64>::new());
    }

    #[test]
    fn user_prompts_are_verbatim_without_notices() {
        assert_eq!(
            user_prompts(&history(), 11),
            vec![
                "Fix `add`.\nDo NOT touch main.rs!".to_owned(),
                "now add tests".to_owned()
            ]
        );
        assert_eq!(user_prompts(&history(), 8).len(), 1);
    }

    #[test]
    fn files_touched_come_from_successful_file_tool_calls() {
        let files = files_touched(&history(), 0, 11);
        let listed: Vec<(&str, Touch)> = files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
        assert_eq!(
            listed,
            vec![
                (
                    "README.md",
                    Touch {
                        read: true,
                        changed: false
                    }
                ),
                (
                    "src/lib.rs",
                    Touch {
                        read: true,
                        changed: true
                    }
                ),
            ]
        );
        let patch = message(
            1,
            Role::Assistant,
            vec![call(
                "p",
                "apply_patch",
                &serde_json::json!({"patch": "*** Begin Patch\n*** Update File: a.rs\n*** Move to: b.rs\n@@\n*** Add File: c.rs\n+x\n*** End Patch"}).to_string(),
            )],
        );
        let files = files_touched(&[patch], 0, 1);
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a.rs", "b.rs", "c.rs"]);
    }

    #[test]
    fn the_summary_quotes_every_user_message_verbatim_and_lists_files() {
        let history = history();
        let model = "## Goal\nFix add.\n\n## Instructions\nThe user said fix add (paraphrased).\n\n\
                     ## Discoveries\n- add is in src/lib.rs\n\n## Done\n- edited src/lib.rs\n\n\
                     ## Files touched\n- wrong.rs\n\n## Open items\n- tests";
        let summary = assemble(
            model,
            &user_prompts(&history, 11),
            &files_touched(&history, 0, 11),
        );
        assert!(
            summary.contains("Fix `add`.\nDo NOT touch main.rs!"),
            "{summary}"
        );
        assert!(
            summary.contains("### User message 2\nnow add tests\n"),
            "{summary}"
        );
        assert!(!summary.contains("paraphrased"), "{summary}");
        assert!(!summary.contains("wrong.rs"), "{summary}");
        assert!(
            summary.contains("- `src/lib.rs`: read, changed"),
            "{summary}"
        );
        assert!(summary.contains("- `README.md`: read"), "{summary}");
        assert!(
            summary.contains("## Discoveries\n- add is in src/lib.rs"),
            "{summary}"
        );
        assert!(summary.contains("## Open items\n- tests"), "{summary}");
        assert!(summary.contains("lossy"), "{summary}");
        assert!(summary.contains("Read a file again before editing it"));
    }

    #[test]
    fn a_summary_without_headings_keeps_the_text_as_notes() {
        let summary = assemble("just some prose", &[], &BTreeMap::new());
        assert!(summary.contains("## Goal\n(none recorded)"), "{summary}");
        assert!(summary.ends_with("## Notes\njust some prose"), "{summary}");
        let bold = assemble("**Goal:**\nship it\nDone:\n- x", &[], &BTreeMap::new());
        assert!(bold.contains("## Goal\nship it"), "{bold}");
        assert!(bold.contains("## Done\n- x"), "{bold}");
    }

    #[test]
    fn the_transcript_is_cut_in_the_middle_to_fit() {
        let history = history();
        let transcript = transcript(Some("old summary"), &history);
        assert!(
            transcript.starts_with("[summary of the conversation before this point]\nold summary")
        );
        assert!(transcript.contains("[assistant calls `read`] {\"path\":\"src/lib.rs\"}"));
        assert!(transcript.contains("[`edit` result (failed)]\nno match"));
        let long = format!("START {} END", "word ".repeat(10_000));
        let fitted = fit_transcript(long, 500, &Estimator);
        assert!(Estimator.count(&fitted) <= 500);
        assert!(fitted.starts_with("START"));
        assert!(fitted.ends_with("END"));
        assert!(fitted.contains("bytes of the conversation left out"));
    }
}
