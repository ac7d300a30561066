//! The modal pickers of `/sessions` and `/model`: a list narrowed as the user types, one row
//! selected, and what choosing it means. Pure state; `render::picker` draws it.

use code_mesh_protocol::{SessionId, SessionInfo};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Rows PageUp and PageDown move the selection by.
const PAGE: usize = 10;

/// A stored session as the session picker lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionChoice {
    pub id: SessionId,
    pub title: String,
    /// `provider/model` it last used.
    pub model: String,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
    pub message_count: u64,
    pub cwd: String,
    /// Whether it is the session the UI shows now.
    pub current: bool,
}

impl SessionChoice {
    pub fn new(info: &SessionInfo, current: Option<&SessionId>) -> Self {
        SessionChoice {
            id: info.id.clone(),
            title: info.title.clone(),
            model: info.model.clone(),
            updated_at: info.updated_at,
            message_count: info.message_count,
            cwd: info.cwd.clone(),
            current: current == Some(&info.id),
        }
    }

    /// The title, or a stand-in for a session that never got one (no prompt yet).
    pub fn display_title(&self) -> &str {
        if self.title.trim().is_empty() {
            "(untitled)"
        } else {
            &self.title
        }
    }
}

/// A model the model picker offers; the binary fills them in from the catalogue and the local
/// servers it finds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelChoice {
    /// `provider/model`, as `-m` takes it.
    pub name: String,
    /// The context window in tokens, when known.
    pub context_window: Option<u64>,
    /// US dollars per million input tokens, when known.
    pub input_price: Option<f64>,
    /// US dollars per million output tokens, when known.
    pub output_price: Option<f64>,
    /// Served by a local server (Ollama): free, and only while it runs.
    pub local: bool,
}

impl ModelChoice {
    /// A short price hint: `$0.25/$2 per M`, `local`, or nothing when unknown.
    pub fn price_hint(&self) -> Option<String> {
        if self.local {
            return Some("local".to_owned());
        }
        match (self.input_price, self.output_price) {
            (Some(input), Some(output)) => {
                Some(format!("${}/${} per M", price(input), price(output)))
            }
            (Some(input), None) => Some(format!("${} per M in", price(input))),
            _ => None,
        }
    }
}

/// `0.25`, `15`, `0.075`: as few digits as tell the price.
fn price(usd: f64) -> String {
    let text = format!("{usd:.3}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Something a picker lists: the text a filter is matched against.
pub trait PickerItem {
    fn search_text(&self) -> String;
}

impl PickerItem for SessionChoice {
    fn search_text(&self) -> String {
        format!(
            "{} {} {} {}",
            self.display_title(),
            self.model,
            self.id,
            self.cwd
        )
    }
}

impl PickerItem for ModelChoice {
    fn search_text(&self) -> String {
        if self.local {
            format!("{} local", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// What a key did in a picker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PickerAction {
    /// Nothing for the caller: the filter or the selection changed, or the key meant nothing.
    None,
    /// Esc (or Ctrl-C): close without choosing.
    Close,
    /// Enter on the item at this index of the full list.
    Choose(usize),
    /// Ctrl-F on the item at this index of the full list (the session picker forks it).
    Fork(usize),
}

/// A list, the filter typed so far, and the selected row among those that match.
#[derive(Clone, Debug, PartialEq)]
pub struct Picker<T> {
    items: Vec<T>,
    /// Each item's search text, lower-cased once.
    haystacks: Vec<String>,
    filter: String,
    /// Indices into `items` of those the filter matches, in list order.
    matches: Vec<usize>,
    /// Index into `matches`.
    selected: usize,
}

impl<T: PickerItem> Picker<T> {
    /// A picker over `items` in their order, the first one selected (or `selected` when it is
    /// one of them: the current session, the current model).
    pub fn new(items: Vec<T>, selected: Option<usize>) -> Self {
        let haystacks = items
            .iter()
            .map(|item| item.search_text().to_lowercase())
            .collect();
        let mut picker = Picker {
            matches: (0..items.len()).collect(),
            items,
            haystacks,
            filter: String::new(),
            selected: 0,
        };
        if let Some(index) = selected.filter(|index| *index < picker.items.len()) {
            picker.selected = index;
        }
        picker
    }

    pub fn items(&self) -> &[T] {
        &self.items
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The items the filter matches, with their index in the full list.
    pub fn matches(&self) -> impl ExactSizeIterator<Item = (usize, &T)> {
        self.matches
            .iter()
            .map(|&index| (index, &self.items[index]))
    }

    /// The row selected among the matches (0 when none match).
    pub fn selected_row(&self) -> usize {
        self.selected
    }

    /// The selected item's index in the full list, if any item matches.
    pub fn selected(&self) -> Option<usize> {
        self.matches.get(self.selected).copied()
    }

    /// Replaces the list (more models arrived), keeping the filter and, when it is still
    /// there, the selected item.
    pub fn set_items(&mut self, items: Vec<T>)
    where
        T: PartialEq,
    {
        let selected = self.selected().map(|index| &self.items[index]);
        let keep = selected.and_then(|item| items.iter().position(|other| other == item));
        *self = Picker {
            filter: std::mem::take(&mut self.filter),
            ..Picker::new(items, None)
        };
        self.refilter(keep);
    }

    /// Sets the filter text: every word of it must appear in an item, in any case. The best
    /// (first) match is selected, so Enter right after typing takes it.
    pub fn set_filter(&mut self, filter: &str) {
        self.filter = filter.to_owned();
        self.refilter(None);
    }

    fn refilter(&mut self, keep: Option<usize>) {
        let words: Vec<String> = self
            .filter
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        self.matches = (0..self.items.len())
            .filter(|&index| {
                words
                    .iter()
                    .all(|word| self.haystacks[index].contains(word.as_str()))
            })
            .collect();
        // `keep` stays selected while it matches; else the best (first) match.
        self.selected = keep
            .and_then(|index| self.matches.iter().position(|&m| m == index))
            .unwrap_or(0);
    }

    /// Moves the selection by `rows` (negative: up), stopping at the ends.
    pub fn move_selection(&mut self, rows: isize) {
        let last = self.matches.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(rows).min(last);
    }

    /// Takes in one key.
    pub fn key(&mut self, key: KeyEvent) -> PickerAction {
        let control = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return PickerAction::Close,
            KeyCode::Char('c') if control => return PickerAction::Close,
            KeyCode::Enter => {
                return self
                    .selected()
                    .map_or(PickerAction::None, PickerAction::Choose);
            }
            KeyCode::Char('f') if control => {
                return self
                    .selected()
                    .map_or(PickerAction::None, PickerAction::Fork);
            }
            KeyCode::Up => self.move_selection(-1),
            KeyCode::Char('p') if control => self.move_selection(-1),
            KeyCode::Down => self.move_selection(1),
            KeyCode::Char('n') if control => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-(PAGE as isize)),
            KeyCode::PageDown => self.move_selection(PAGE as isize),
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.move_selection(isize::MAX),
            KeyCode::Backspace => {
                let mut filter = self.filter.clone();
                filter.pop();
                self.set_filter(&filter);
            }
            KeyCode::Char('u') if control => self.set_filter(""),
            KeyCode::Char(c) if !control => {
                let filter = format!("{}{c}", self.filter);
                self.set_filter(&filter);
            }
            _ => {}
        }
        PickerAction::None
    }

    /// Adds pasted text to the filter (on one line).
    pub fn paste(&mut self, text: &str) {
        let filter = format!("{}{}", self.filter, text.replace(['\n', '\r'], " "));
        self.set_filter(&filter);
    }
}

/// The picker on screen, if any.
#[derive(Clone, Debug, PartialEq)]
pub enum OpenPicker {
    Sessions {
        picker: Picker<SessionChoice>,
        /// Milliseconds since the Unix epoch when it opened, for "3 h ago".
        now_ms: u64,
    },
    Models {
        picker: Picker<ModelChoice>,
        /// `provider/model` the session uses now.
        current: String,
    },
}

/// "just now", "5 min ago", "3 h ago", "2 days ago", "5 weeks ago", "4 months ago".
pub fn ago(now_ms: u64, then_ms: u64) -> String {
    let minutes = now_ms.saturating_sub(then_ms) / 60_000;
    let hours = minutes / 60;
    let days = hours / 24;
    match () {
        () if minutes < 1 => "just now".to_owned(),
        () if minutes < 60 => format!("{minutes} min ago"),
        () if hours < 24 => format!("{hours} h ago"),
        () if days == 1 => "yesterday".to_owned(),
        () if days < 14 => format!("{days} days ago"),
        () if days < 60 => format!("{} weeks ago", days / 7),
        () if days < 730 => format!("{} months ago", days / 30),
        () => format!("{} years ago", days / 365),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pretty_assertions::assert_eq;

    fn model(name: &str) -> ModelChoice {
        ModelChoice {
            name: name.into(),
            ..ModelChoice::default()
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_text(picker: &mut Picker<ModelChoice>, text: &str) {
        for c in text.chars() {
            picker.key(key(KeyCode::Char(c)));
        }
    }

    fn names(picker: &Picker<ModelChoice>) -> Vec<&str> {
        picker.matches().map(|(_, m)| m.name.as_str()).collect()
    }

    fn models() -> Picker<ModelChoice> {
        Picker::new(
            vec![
                model("anthropic/claude-sonnet-4-5"),
                model("openai/gpt-4.1"),
                model("openai/gpt-5-mini"),
                ModelChoice {
                    local: true,
                    ..model("ollama/qwen3-coder:30b")
                },
            ],
            None,
        )
    }

    #[test]
    fn typing_narrows_the_list_to_items_with_every_word() {
        let mut picker = models();
        type_text(&mut picker, "GPT");
        assert_eq!(names(&picker), ["openai/gpt-4.1", "openai/gpt-5-mini"]);
        type_text(&mut picker, " mini");
        assert_eq!(names(&picker), ["openai/gpt-5-mini"]);
        picker.key(key(KeyCode::Backspace));
        picker.key(key(KeyCode::Backspace));
        picker.key(key(KeyCode::Backspace));
        picker.key(key(KeyCode::Backspace));
        picker.key(key(KeyCode::Backspace));
        assert_eq!(picker.filter(), "GPT");
        assert_eq!(names(&picker).len(), 2);
        // Local models are found by the word "local".
        picker.set_filter("local");
        assert_eq!(names(&picker), ["ollama/qwen3-coder:30b"]);
        picker.set_filter("nothing like this");
        assert!(names(&picker).is_empty());
        assert_eq!(picker.key(key(KeyCode::Enter)), PickerAction::None);
    }

    #[test]
    fn the_selection_stops_at_the_ends_and_typing_selects_the_best_match() {
        let mut picker = models();
        picker.key(key(KeyCode::Up));
        assert_eq!(picker.selected(), Some(0));
        picker.key(key(KeyCode::Down));
        picker.key(key(KeyCode::Down));
        assert_eq!(picker.selected(), Some(2));
        picker.key(key(KeyCode::PageDown));
        assert_eq!(picker.selected(), Some(3));
        picker.key(key(KeyCode::Home));
        picker.key(key(KeyCode::Down));
        picker.key(key(KeyCode::Down));
        // Typing selects the first match.
        type_text(&mut picker, "openai");
        assert_eq!(picker.selected(), Some(1));
        assert_eq!(picker.selected_row(), 0);
        picker.key(key(KeyCode::Down));
        assert_eq!(picker.selected(), Some(2));
        picker.set_filter("claude");
        assert_eq!(picker.selected(), Some(0));
        assert_eq!(picker.key(key(KeyCode::Enter)), PickerAction::Choose(0));
    }

    #[test]
    fn enter_chooses_ctrl_f_forks_and_esc_closes() {
        let mut picker = models();
        picker.key(key(KeyCode::Down));
        assert_eq!(picker.key(key(KeyCode::Enter)), PickerAction::Choose(1));
        assert_eq!(
            picker.key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)),
            PickerAction::Fork(1)
        );
        assert_eq!(picker.key(key(KeyCode::Esc)), PickerAction::Close);
        assert_eq!(
            picker.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            PickerAction::Close
        );
    }

    #[test]
    fn new_items_keep_the_filter_and_the_selected_item() {
        let mut picker = models();
        picker.set_filter("o");
        picker.move_selection(2);
        let selected = picker.items()[picker.selected().unwrap()].name.clone();
        let mut more: Vec<ModelChoice> = picker.items().to_vec();
        more.insert(0, model("ollama/llama3.2"));
        picker.set_items(more);
        assert_eq!(picker.filter(), "o");
        assert_eq!(picker.items()[picker.selected().unwrap()].name, selected);
    }

    #[test]
    fn a_preselected_item_starts_selected() {
        let picker = Picker::new(vec![model("a/x"), model("b/y")], Some(1));
        assert_eq!(picker.selected(), Some(1));
        let picker = Picker::new(vec![model("a/x")], Some(7));
        assert_eq!(picker.selected(), Some(0));
    }

    #[test]
    fn prices_and_ages_read_short() {
        let mut choice = ModelChoice {
            input_price: Some(0.25),
            output_price: Some(2.0),
            ..model("openai/gpt-5-mini")
        };
        assert_eq!(choice.price_hint().unwrap(), "$0.25/$2 per M");
        choice.input_price = None;
        assert_eq!(choice.price_hint(), None);
        choice.local = true;
        assert_eq!(choice.price_hint().unwrap(), "local");
        let minute = 60_000;
        assert_eq!(ago(10 * minute, 10 * minute), "just now");
        assert_eq!(ago(50 * minute, 5 * minute), "45 min ago");
        assert_eq!(ago(5 * 60 * minute, 0), "5 h ago");
        assert_eq!(ago(30 * 60 * minute, 0), "yesterday");
        assert_eq!(ago(3 * 24 * 60 * minute, 0), "3 days ago");
        assert_eq!(ago(21 * 24 * 60 * minute, 0), "3 weeks ago");
        assert_eq!(ago(0, 5 * minute), "just now");
    }
}
