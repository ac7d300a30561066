//! The names of the tests a run reported as passed and as failed, for comparing two runs of
//! the same suite (the swarm's baseline against a candidate).
//!
//! Fed every line the [`super::parse::OutputParser`] reads (already without colours). Formats
//! that name each test: libtest (`test x ... ok|FAILED`), go (`--- PASS|FAIL: x`), TAP
//! (`ok 1 - x`, `not ok 1 - x`), pytest's verbose lines (`file.py::x PASSED|FAILED|ERROR`) and its
//! short summary (`FAILED file.py::x - msg`, `ERROR file.py::x`), jest's verbose `✓`/`✕`
//! lines. A runner that prints counts only (pytest `-q`) names failures through its short
//! summary and no passing test; comparisons then fall back on failures and counts.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

/// Names kept per set; a suite larger than this is compared by what was kept.
const MAX_NAMES: usize = 200_000;

/// Tests a run named as passed and as failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TestNames {
    pub(crate) passed: BTreeSet<String>,
    pub(crate) failed: BTreeSet<String>,
}

#[expect(
    clippy::expect_used,
    reason = "constant patterns, all covered by the tests below"
)]
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid constant pattern")
}

static LIBTEST: LazyLock<Regex> = LazyLock::new(|| regex(r"^test (.+) \.\.\. (ok|FAILED)$"));
static GO: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*--- (PASS|FAIL): (\S+)"));
static TAP: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*(ok|not ok) \d+ - (.*?)(\s+# (?i:skip|todo).*)?$"));
static PYTEST_VERBOSE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(\S+\.py::\S+) (PASSED|FAILED|ERROR)\b"));
static PYTEST_SHORT: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(FAILED|ERROR) (\S+\.py(?:::\S+)?)(?: - .*)?$"));
static JEST: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s+(✓|✕|√|×) (.+?)(?: \(\d+ ?m?s\))?$"));

impl TestNames {
    /// Reads one line of output.
    pub(crate) fn observe(&mut self, line: &str) {
        let (name, passed) = if let Some(c) = LIBTEST.captures(line) {
            (c[1].to_string(), &c[2] == "ok")
        } else if let Some(c) = GO.captures(line) {
            (c[2].to_string(), &c[1] == "PASS")
        } else if let Some(c) = TAP.captures(line) {
            if c.get(3).is_some() {
                return;
            }
            (c[2].to_string(), &c[1] == "ok")
        } else if let Some(c) = PYTEST_VERBOSE.captures(line) {
            (c[1].to_string(), &c[2] == "PASSED")
        } else if let Some(c) = PYTEST_SHORT.captures(line) {
            (c[2].to_string(), false)
        } else if let Some(c) = JEST.captures(line) {
            (c[2].to_string(), matches!(&c[1], "✓" | "√"))
        } else {
            return;
        };
        self.record(name, passed);
    }

    fn record(&mut self, name: String, passed: bool) {
        // A test reported both ways (a retry, or the verbose line and the summary) counts as
        // failed if it ever failed.
        if passed {
            if !self.failed.contains(&name) && self.passed.len() < MAX_NAMES {
                self.passed.insert(name);
            }
        } else {
            self.passed.remove(&name);
            if self.failed.len() < MAX_NAMES {
                self.failed.insert(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(output: &str) -> TestNames {
        let mut names = TestNames::default();
        output.lines().for_each(|line| names.observe(line));
        names
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_format_names_its_tests() {
        let found = names(
            "test calc::adds ... ok\ntest calc::subs ... FAILED\ntest slow ... ignored\n\
             --- PASS: TestAdd (0.00s)\n    --- FAIL: TestSub/neg (0.01s)\n\
             ok 1 - tap adds\nnot ok 2 - tap subs\nok 3 - tap skipped # SKIP later\n\
             tests/test_a.py::test_one PASSED [ 50%]\ntests/test_a.py::test_two FAILED [100%]\n\
             FAILED tests/test_b.py::test_three - assert 1 == 2\nERROR tests/test_c.py\n\
             \x20   ✓ jest adds (3 ms)\n    ✕ jest subs (1 ms)\n",
        );
        assert_eq!(
            found.passed,
            set(&[
                "calc::adds",
                "TestAdd",
                "tap adds",
                "tests/test_a.py::test_one",
                "jest adds"
            ])
        );
        assert_eq!(
            found.failed,
            set(&[
                "calc::subs",
                "TestSub/neg",
                "tap subs",
                "tests/test_a.py::test_two",
                "tests/test_b.py::test_three",
                "tests/test_c.py",
                "jest subs"
            ])
        );
    }

    #[test]
    fn a_test_that_failed_once_stays_failed() {
        let found = names(
            "tests/t.py::test_x FAILED\nok 1 - tests/t.py::test_x\n\
             FAILED tests/t.py::test_x - boom\n",
        );
        assert!(found.passed.is_empty());
        assert_eq!(found.failed, set(&["tests/t.py::test_x"]));
    }
}
