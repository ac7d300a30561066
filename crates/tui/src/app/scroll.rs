//! The conversation view's position. Kept as a distance from the bottom, so the view follows
//! a streaming answer at 0 and stays on the same lines while scrolled up as more arrive.

/// Where the conversation view is scrolled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scroll {
    /// Lines between the last line shown and the conversation's end; 0 follows the bottom.
    from_bottom: usize,
    /// The conversation's height in lines at the last layout.
    total: usize,
    /// The view's height at the last layout, for a page's length.
    height: usize,
}

impl Scroll {
    pub fn follows_bottom(&self) -> bool {
        self.from_bottom == 0
    }

    pub fn up(&mut self, lines: usize) {
        let most = self.total.saturating_sub(self.height);
        self.from_bottom = (self.from_bottom + lines).min(most);
    }

    pub fn down(&mut self, lines: usize) {
        self.from_bottom = self.from_bottom.saturating_sub(lines);
    }

    /// A page, less a line kept for context.
    fn page(&self) -> usize {
        self.height.saturating_sub(1).max(1)
    }

    pub fn page_up(&mut self) {
        self.up(self.page());
    }

    pub fn page_down(&mut self) {
        self.down(self.page());
    }

    pub fn to_bottom(&mut self) {
        self.from_bottom = 0;
    }

    /// Lays the view out over a conversation of `total` lines in `height` rows and returns the
    /// first line to show. Lines added below while scrolled up push the distance up by as
    /// much, so what is being read does not move.
    pub fn layout(&mut self, total: usize, height: usize) -> usize {
        if self.from_bottom > 0 && total > self.total {
            self.from_bottom += total - self.total;
        }
        self.total = total;
        self.height = height;
        self.from_bottom = self.from_bottom.min(total.saturating_sub(height));
        total.saturating_sub(height + self.from_bottom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_bottom_until_scrolled_up() {
        let mut scroll = Scroll::default();
        assert_eq!(scroll.layout(100, 10), 90);
        assert_eq!(scroll.layout(120, 10), 110);
        scroll.page_up();
        assert_eq!(scroll.layout(120, 10), 101);
        // New lines below do not move what is being read.
        assert_eq!(scroll.layout(130, 10), 101);
        scroll.page_down();
        assert_eq!(scroll.layout(130, 10), 110);
        scroll.down(100);
        assert!(scroll.follows_bottom());
        assert_eq!(scroll.layout(130, 10), 120);
    }

    #[test]
    fn cannot_scroll_past_the_top() {
        let mut scroll = Scroll::default();
        scroll.layout(15, 10);
        scroll.up(100);
        assert_eq!(scroll.layout(15, 10), 0);
        assert_eq!(scroll.layout(5, 10), 0);
    }
}
