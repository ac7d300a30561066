//! Pruning: old tool outputs sent as a one-line marker of what was dropped.
//!
//! The rule is a pure function of the stored history and `pruned_through`, so a resumed
//! session rebuilds exactly the view the model saw: every tool output longer than
//! [`PRUNE_MIN_BYTES`] in a message up to `pruned_through` is replaced by [`marker`].

use code_mesh_protocol::{Message, Part, Role, ToolResult};

/// Outputs this short stay: a marker would save nothing.
pub(crate) const PRUNE_MIN_BYTES: usize = 512;
/// The most recent tool messages (the current step's results and the one before) are never
/// pruned: the model is acting on them, and dropping them invites it to run them again.
pub(crate) const PROTECTED_TOOL_MESSAGES: usize = 2;

/// Whether pruning replaces this output.
pub(crate) fn is_prunable(result: &ToolResult) -> bool {
    result.output.len() > PRUNE_MIN_BYTES
}

/// What a pruned output is sent as.
pub(crate) fn marker(result: &ToolResult) -> String {
    format!(
        "[output pruned to fit the context window: {} bytes of `{}` output; run the call again \
         if you need it]",
        thousands(result.output.len() as u64),
        result.name
    )
}

/// Replaces the prunable outputs of `message`; returns how many.
pub(crate) fn prune_message(message: &mut Message) -> u32 {
    let mut pruned = 0;
    for part in &mut message.parts {
        if let Part::ToolResult(result) = part
            && is_prunable(result)
        {
            result.output = marker(result);
            pruned += 1;
        }
    }
    pruned
}

/// Outputs pruning would replace in `message`.
pub(crate) fn prunable_outputs(message: &Message) -> u32 {
    message.tool_results().filter(|r| is_prunable(r)).count() as u32
}

/// The tool messages of `view` pruning may still take, oldest first: not pruned yet (seq
/// after `pruned_through`), holding a prunable output, and not among the most recent
/// [`PROTECTED_TOOL_MESSAGES`] tool messages.
pub(crate) fn candidates(view: &[Message], pruned_through: u64) -> Vec<u64> {
    let tool_messages: Vec<&Message> = view.iter().filter(|m| m.role == Role::Tool).collect();
    let open = tool_messages.len().saturating_sub(PROTECTED_TOOL_MESSAGES);
    tool_messages[..open]
        .iter()
        .filter(|m| m.seq > pruned_through && prunable_outputs(m) > 0)
        .map(|m| m.seq)
        .collect()
}

/// `12,345`.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::ToolCall;

    use super::*;

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

    fn result(id: &str, bytes: usize) -> Part {
        Part::ToolResult(ToolResult {
            call_id: id.into(),
            name: "bash".into(),
            output: "x".repeat(bytes),
            is_error: false,
        })
    }

    fn call(id: &str) -> Part {
        Part::ToolCall(ToolCall::new(id, "bash", "{}"))
    }

    fn exchange(seq: u64, id: &str, bytes: usize) -> [Message; 2] {
        [
            message(seq, Role::Assistant, vec![call(id)]),
            message(seq + 1, Role::Tool, vec![result(id, bytes)]),
        ]
    }

    #[test]
    fn the_marker_says_what_was_dropped_and_what_to_do() {
        let Part::ToolResult(big) = result("c", 12_345) else {
            unreachable!()
        };
        assert_eq!(
            marker(&big),
            "[output pruned to fit the context window: 12,345 bytes of `bash` output; run the \
             call again if you need it]"
        );
    }

    #[test]
    fn pruning_takes_old_large_outputs_and_spares_the_latest_exchanges() {
        let mut view = vec![message(
            1,
            Role::User,
            vec![Part::Text { text: "go".into() }],
        )];
        view.extend(exchange(2, "a", 5000));
        view.extend(exchange(4, "b", 100)); // too small to be worth a marker
        view.extend(exchange(6, "c", 5000));
        view.extend(exchange(8, "d", 5000)); // protected: the one before the latest
        view.extend(exchange(10, "e", 5000)); // protected: the latest
        assert_eq!(candidates(&view, 0), vec![3, 7]);
        assert_eq!(candidates(&view, 3), vec![7]);
        assert_eq!(candidates(&view, 7), Vec::<u64>::new());
    }

    #[test]
    fn only_outputs_worth_a_marker_are_replaced() {
        let mut tool = message(3, Role::Tool, vec![result("a", 5000), result("b", 10)]);
        assert_eq!(prune_message(&mut tool), 1);
        let outputs: Vec<&str> = tool.tool_results().map(|r| r.output.as_str()).collect();
        assert!(outputs[0].starts_with("[output pruned"));
        assert_eq!(outputs[1], "x".repeat(10));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
