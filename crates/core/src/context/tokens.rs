//! Counting tokens: the [`TokenCounter`] trait, the default [`Estimator`], and the
//! [`Calibration`] that corrects counts with the input tokens the provider reports.
//!
//! Exact tokenizers (tiktoken for OpenAI models) live outside this crate, which must build
//! for wasm32; the CLI picks one per model (`code_mesh_providers::tokenizer_for`).

/// Counts the tokens a text takes for one model.
pub trait TokenCounter: Send + Sync {
    /// Tokens of `text`.
    fn count(&self, text: &str) -> u64;

    /// Whether counts are the model's own tokenizer's rather than an estimate; exact counts
    /// are corrected less (only the framing of messages and tools is unknown).
    fn is_exact(&self) -> bool {
        false
    }

    /// Makes counts exact from now on if this counter has an exact tokenizer to load (which
    /// may take a moment, so the context manager asks only once a request is big enough for
    /// an estimate's error to matter). Returns whether counts are exact now.
    fn load_exact(&self) -> bool {
        self.is_exact()
    }

    /// A short name for logs, e.g. `estimate` or `tiktoken o200k_base`.
    fn name(&self) -> &str;
}

/// The estimate used when the model's tokenizer is unknown: a token per four ASCII bytes and
/// one per other character (CJK, emoji and accented letters rarely share tokens). Within
/// about 20 % of real tokenizers on English, code and JSON, and corrected per session by
/// [`Calibration`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Estimator;

impl TokenCounter for Estimator {
    fn count(&self, text: &str) -> u64 {
        let mut ascii: u64 = 0;
        let mut other: u64 = 0;
        for byte in text.bytes() {
            if byte < 0x80 {
                ascii += 1;
            } else if byte & 0xC0 != 0x80 {
                // The first byte of a multi-byte character.
                other += 1;
            }
        }
        ascii.div_ceil(4) + other
    }

    fn name(&self) -> &str {
        "estimate"
    }
}

/// How much of a new observation moves the factor (exponential smoothing).
const SMOOTHING: f64 = 0.4;
/// Requests smaller than this teach nothing reliable (fixed framing dominates).
const MIN_SAMPLE_TOKENS: u64 = 200;

/// A per-session correction factor learned from the `input_tokens` providers report for a
/// request against the count made for that same request: smoothed over requests and clamped,
/// so one odd report (a cached prompt, a provider that counts differently) cannot swing it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    factor: f64,
    min: f64,
    max: f64,
    samples: u32,
}

impl Calibration {
    /// A neutral calibration; `exact` counters are trusted to within 20 %, estimates within a
    /// factor of 0.7 to 2.5.
    pub fn new(exact: bool) -> Self {
        let (min, max) = if exact { (0.9, 1.25) } else { (0.7, 2.5) };
        Calibration {
            factor: 1.0,
            min,
            max,
            samples: 0,
        }
    }

    /// The current factor.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// Requests observed so far.
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// `counted` tokens corrected by the factor.
    pub fn apply(&self, counted: u64) -> u64 {
        (counted as f64 * self.factor).ceil() as u64
    }

    /// Learns from one request: the provider reported `reported` input tokens for a request
    /// counted as `counted`.
    pub fn observe(&mut self, counted: u64, reported: u64) {
        if counted < MIN_SAMPLE_TOKENS || reported == 0 {
            return;
        }
        let observed = (reported as f64 / counted as f64).clamp(self.min, self.max);
        self.factor =
            (self.factor + SMOOTHING * (observed - self.factor)).clamp(self.min, self.max);
        self.samples += 1;
    }

    /// The provider refused a request counted as `counted` tokens as longer than `limit`:
    /// the factor becomes at least what makes that request count as over the limit.
    pub fn raise_for_rejection(&mut self, counted: u64, limit: u64) {
        if counted == 0 {
            return;
        }
        let needed = limit as f64 / counted as f64 * 1.1;
        self.factor = self.factor.max(needed).max(self.factor * 1.2).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_ascii_by_four_and_other_characters_one_each() {
        assert_eq!(Estimator.count(""), 0);
        assert_eq!(Estimator.count("abcd"), 1);
        assert_eq!(Estimator.count("abcde"), 2);
        assert_eq!(Estimator.count("日本語"), 3);
        assert_eq!(Estimator.count("café"), 1 + 1);
    }

    #[test]
    fn calibration_moves_towards_reports_smoothed_and_clamped() {
        let mut calibration = Calibration::new(false);
        assert_eq!(calibration.apply(1000), 1000);
        calibration.observe(1000, 1500);
        assert!((calibration.factor() - 1.2).abs() < 1e-9, "{calibration:?}");
        calibration.observe(1000, 1500);
        assert!(
            (calibration.factor() - 1.32).abs() < 1e-9,
            "{calibration:?}"
        );
        // A wild report is clamped before it is smoothed in.
        let mut wild = Calibration::new(false);
        wild.observe(1000, 1_000_000);
        assert!((wild.factor() - 1.6).abs() < 1e-9, "{wild:?}");
        for _ in 0..50 {
            wild.observe(1000, 1_000_000);
        }
        assert!((wild.factor() - 2.5).abs() < 1e-9, "{wild:?}");
        for _ in 0..50 {
            wild.observe(1000, 1);
        }
        assert!((wild.factor() - 0.7).abs() < 1e-9, "{wild:?}");
        assert_eq!(wild.samples(), 101);
    }

    #[test]
    fn tiny_requests_and_missing_reports_teach_nothing() {
        let mut calibration = Calibration::new(false);
        calibration.observe(50, 500);
        calibration.observe(1000, 0);
        assert_eq!(calibration, Calibration::new(false));
    }

    #[test]
    fn exact_counters_are_corrected_within_a_narrow_band() {
        let mut calibration = Calibration::new(true);
        for _ in 0..20 {
            calibration.observe(1000, 3000);
        }
        assert!(
            (calibration.factor() - 1.25).abs() < 1e-3,
            "{calibration:?}"
        );
        assert!(calibration.factor() <= 1.25);
    }

    #[test]
    fn a_rejection_raises_the_factor_past_the_limit() {
        let mut calibration = Calibration::new(false);
        calibration.raise_for_rejection(900, 1000);
        assert!(calibration.apply(900) > 1000, "{calibration:?}");
        let before = calibration.factor();
        calibration.raise_for_rejection(900, 100);
        assert!(calibration.factor() > before);
    }
}
