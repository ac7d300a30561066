//! Token counters per model: exact counts with OpenAI's BPE encodings (tiktoken's ranks,
//! through `tiktoken-rs`) for OpenAI models, the engine's calibrated estimate for the rest.
//!
//! The encodings are large (o200k_base is 3.6 MB of ranks) and take 60–150 ms of CPU to load,
//! which a short task should not pay: a counter estimates until the context manager finds a
//! request past half the window and asks for exact counts ([`TokenCounter::load_exact`]); the
//! encoding is then loaded, once per process, and every count is exact from then on.

use std::sync::{Arc, OnceLock};

use code_mesh_core::{Estimator, TokenCounter};
use tiktoken_rs::CoreBPE;

/// An OpenAI BPE encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, GPT-4.5, GPT-5, the o-series and gpt-oss.
    O200kBase,
    /// GPT-4 and GPT-3.5 (and the embedding models of their time).
    Cl100kBase,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    fn cell(self) -> &'static OnceLock<Option<CoreBPE>> {
        static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        match self {
            Encoding::O200kBase => &O200K,
            Encoding::Cl100kBase => &CL100K,
        }
    }

    /// The encoding if it is loaded already; never waits.
    fn loaded(self) -> Option<&'static CoreBPE> {
        self.cell().get().and_then(Option::as_ref)
    }

    /// The loaded encoding, loading it (or waiting for a load under way) if needed; `None` if
    /// it failed to load (the estimate is used then).
    fn bpe(self) -> Option<&'static CoreBPE> {
        let cell = self.cell();
        let load = || match self {
            Encoding::O200kBase => tiktoken_rs::o200k_base(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base(),
        };
        cell.get_or_init(|| match load() {
            Ok(bpe) => Some(bpe),
            Err(error) => {
                tracing::warn!(%error, encoding = self.name(), "cannot load the tokenizer; estimating instead");
                None
            }
        })
        .as_ref()
    }
}

/// The encoding of an OpenAI model, by its name (a gateway prefix like `openai/` is ignored);
/// `None` for other models.
pub fn encoding_for_model(model: &str) -> Option<Encoding> {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let o200k = [
        "gpt-4o",
        "chatgpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "gpt-oss",
        "o1",
        "o3",
        "o4",
        "codex-",
    ];
    let cl100k = [
        "gpt-4",
        "gpt-3.5",
        "gpt-35",
        "text-embedding-3",
        "text-embedding-ada-002",
    ];
    let starts = |prefix: &&str| {
        name.strip_prefix(*prefix).is_some_and(|rest| {
            rest.is_empty()
                || !rest.starts_with(|c: char| c.is_ascii_alphanumeric())
                || prefix.ends_with('-')
        })
    };
    if o200k.iter().any(starts) {
        Some(Encoding::O200kBase)
    } else if cl100k.iter().any(starts) {
        Some(Encoding::Cl100kBase)
    } else {
        None
    }
}

/// Exact counts with an OpenAI encoding, once it is loaded (see the module's doc).
#[derive(Clone, Copy, Debug)]
pub struct Tiktoken {
    encoding: Encoding,
    name: &'static str,
}

impl Tiktoken {
    pub fn new(encoding: Encoding) -> Self {
        Tiktoken {
            encoding,
            name: match encoding {
                Encoding::O200kBase => "tiktoken o200k_base",
                Encoding::Cl100kBase => "tiktoken cl100k_base",
            },
        }
    }

    /// Loads the encoding now, waiting for it; false when it cannot be loaded.
    pub fn load(&self) -> bool {
        self.encoding.bpe().is_some()
    }
}

impl TokenCounter for Tiktoken {
    fn count(&self, text: &str) -> u64 {
        match self.encoding.loaded() {
            Some(bpe) => bpe.encode_ordinary(text).len() as u64,
            None => Estimator.count(text),
        }
    }

    fn is_exact(&self) -> bool {
        self.encoding.loaded().is_some()
    }

    fn load_exact(&self) -> bool {
        self.load()
    }

    fn name(&self) -> &str {
        self.name
    }
}

/// The token counter for `model` of `provider`: tiktoken for OpenAI models (whoever serves
/// them, once a request is big enough to make loading worth it), the calibrated estimate for
/// every other model.
pub fn tokenizer_for(provider: &str, model: &str) -> Arc<dyn TokenCounter> {
    // Anthropic, Google and Ollama's own models are never OpenAI's, whatever their names.
    if matches!(provider, "anthropic" | "google" | "gemini") {
        return Arc::new(Estimator);
    }
    match encoding_for_model(model) {
        Some(encoding) => Arc::new(Tiktoken::new(encoding)),
        None => Arc::new(Estimator),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_models_get_their_encoding() {
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1-nano",
            "gpt-5",
            "o3-mini",
            "o1",
            "openai/gpt-4o",
            "gpt-oss-20b",
        ] {
            assert_eq!(
                encoding_for_model(model),
                Some(Encoding::O200kBase),
                "{model}"
            );
        }
        for model in ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "gpt-4-0613"] {
            assert_eq!(
                encoding_for_model(model),
                Some(Encoding::Cl100kBase),
                "{model}"
            );
        }
        for model in [
            "claude-sonnet-4-5",
            "llama3.1",
            "gemini-2.5-pro",
            "o3de",
            "gpt4all",
            "test-model",
        ] {
            assert_eq!(encoding_for_model(model), None, "{model}");
        }
    }

    #[test]
    fn tiktoken_counts_exactly() {
        let counter = Tiktoken::new(Encoding::O200kBase);
        assert!(counter.load());
        assert!(counter.is_exact());
        // Reference counts from OpenAI's tiktoken.
        assert_eq!(counter.count("hello world"), 2);
        let cl100k = Tiktoken::new(Encoding::Cl100kBase);
        assert!(cl100k.load());
        assert_eq!(cl100k.count("hello world"), 2);
        assert_eq!(counter.count(""), 0);
    }

    #[test]
    fn other_providers_and_models_are_estimated() {
        assert_eq!(tokenizer_for("anthropic", "gpt-4o").name(), "estimate");
        assert_eq!(tokenizer_for("ollama", "llama3.1").name(), "estimate");
        assert_eq!(
            tokenizer_for("openai", "gpt-4o").name(),
            "tiktoken o200k_base"
        );
        assert!(!tokenizer_for("openai", "test-model").is_exact());
    }
}
