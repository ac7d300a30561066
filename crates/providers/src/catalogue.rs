//! The model catalogue: context windows, output limits, prices and capabilities per
//! `provider/model`, and the costs they give ([`PricedProvider`]).
//!
//! Three layers, each overriding the one below field by field: the catalogue built into the
//! binary (`data/model-catalogue.json`, from litellm; see `data/README.md`), a catalogue file
//! named by `[providers] catalogue` (same shape), and `[providers.<name>.model_info.<model>]`
//! in config. Prices are kept in US dollars per million tokens.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use code_mesh_core::{ModelRequest, Provider, ProviderError, ProviderStream, StreamEvent};
use code_mesh_protocol::Usage;
use code_mesh_protocol::config::{ModelInfoConfig, ProvidersConfig};
use futures::StreamExt;
use serde::Deserialize;

/// The catalogue shipped in the binary.
const BUILTIN_JSON: &str = include_str!("../data/model-catalogue.json");

/// What is known about one model. Every field may be unknown.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelInfo {
    /// Context window in tokens.
    pub context: Option<u64>,
    /// Most tokens generated in one answer.
    pub max_output: Option<u64>,
    /// US dollars per million input tokens.
    pub input_price: Option<f64>,
    /// US dollars per million output tokens (reasoning included).
    pub output_price: Option<f64>,
    /// US dollars per million input tokens read from the prompt cache.
    pub cache_read_price: Option<f64>,
    /// US dollars per million input tokens written to the prompt cache.
    pub cache_write_price: Option<f64>,
    /// Whether the model calls tools.
    pub tools: Option<bool>,
    /// Whether the model reads images.
    pub images: Option<bool>,
    /// Whether the model reasons before answering.
    pub reasoning: Option<bool>,
    /// Whether the provider caches prompt prefixes for this model.
    pub prompt_caching: Option<bool>,
    /// Whether the model streams its answers. Unknown means yes: every API Code Mesh speaks
    /// streams; a catalogue file can say `"supports_native_streaming": false`.
    pub streaming: Option<bool>,
    /// Only the OpenAI Responses API serves this model (litellm's `mode = "responses"`).
    pub responses_only: Option<bool>,
}

impl ModelInfo {
    /// Takes every field `over` knows.
    pub fn merge(&mut self, over: &ModelInfo) {
        fn take<T: Copy>(into: &mut Option<T>, from: Option<T>) {
            if from.is_some() {
                *into = from;
            }
        }
        take(&mut self.context, over.context);
        take(&mut self.max_output, over.max_output);
        take(&mut self.input_price, over.input_price);
        take(&mut self.output_price, over.output_price);
        take(&mut self.cache_read_price, over.cache_read_price);
        take(&mut self.cache_write_price, over.cache_write_price);
        take(&mut self.tools, over.tools);
        take(&mut self.images, over.images);
        take(&mut self.reasoning, over.reasoning);
        take(&mut self.prompt_caching, over.prompt_caching);
        take(&mut self.streaming, over.streaming);
        take(&mut self.responses_only, over.responses_only);
    }

    /// What `usage` cost, when the input and output prices are known. `usage.input_tokens`
    /// includes cache reads and writes; those are charged at their own prices, or at the
    /// input price when the model has none.
    pub fn cost(&self, usage: &Usage) -> Option<f64> {
        let input = self.input_price?;
        let output = self.output_price?;
        let cache_read = self.cache_read_price.unwrap_or(input);
        let cache_write = self.cache_write_price.unwrap_or(input);
        let uncached = usage
            .input_tokens
            .saturating_sub(usage.cache_read_tokens)
            .saturating_sub(usage.cache_write_tokens);
        let dollars = uncached as f64 * input
            + usage.cache_read_tokens as f64 * cache_read
            + usage.cache_write_tokens as f64 * cache_write
            + usage.output_tokens as f64 * output;
        Some(dollars / 1_000_000.0)
    }

    fn from_config(config: &ModelInfoConfig) -> ModelInfo {
        ModelInfo {
            context: config.context.map(|c| c.get()),
            max_output: config.max_output.map(|c| c.get()),
            input_price: config.input_price,
            output_price: config.output_price,
            cache_read_price: config.cache_read_price,
            cache_write_price: config.cache_write_price,
            ..ModelInfo::default()
        }
    }
}

/// One entry of a catalogue file, with litellm's field names and per-token prices.
#[derive(Deserialize)]
struct RawEntry {
    max_input_tokens: Option<u64>,
    max_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
    input_cost_per_token: Option<f64>,
    output_cost_per_token: Option<f64>,
    cache_read_input_token_cost: Option<f64>,
    cache_creation_input_token_cost: Option<f64>,
    supports_function_calling: Option<bool>,
    supports_vision: Option<bool>,
    supports_reasoning: Option<bool>,
    supports_prompt_caching: Option<bool>,
    supports_native_streaming: Option<bool>,
    mode: Option<String>,
}

/// Per token to per million, rounded to a millionth of a dollar so that `3e-06` shows as 3.
fn per_million(per_token: Option<f64>) -> Option<f64> {
    per_token
        .filter(|price| price.is_finite() && *price >= 0.0)
        .map(|price| (price * 1e12).round() / 1e6)
}

impl From<RawEntry> for ModelInfo {
    fn from(raw: RawEntry) -> ModelInfo {
        ModelInfo {
            context: raw.max_input_tokens.or(raw.max_tokens),
            max_output: raw.max_output_tokens,
            input_price: per_million(raw.input_cost_per_token),
            output_price: per_million(raw.output_cost_per_token),
            cache_read_price: per_million(raw.cache_read_input_token_cost),
            cache_write_price: per_million(raw.cache_creation_input_token_cost),
            tools: raw.supports_function_calling,
            images: raw.supports_vision,
            reasoning: raw.supports_reasoning,
            prompt_caching: raw.supports_prompt_caching,
            streaming: raw.supports_native_streaming,
            responses_only: raw.mode.map(|mode| mode == "responses"),
        }
    }
}

/// Models by `provider/model`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalogue {
    models: BTreeMap<String, ModelInfo>,
}

impl Catalogue {
    /// The catalogue built into the binary, parsed once.
    pub fn builtin() -> &'static Catalogue {
        static BUILTIN: OnceLock<Catalogue> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Catalogue::from_json(BUILTIN_JSON).unwrap_or_else(|error| {
                // The tests parse it; this only guards against a broken build.
                tracing::error!(%error, "the built-in model catalogue does not parse");
                Catalogue::default()
            })
        })
    }

    /// Reads a catalogue file: a JSON object of `provider/model` keys whose values use
    /// litellm's field names (see `data/README.md`). The error says what is wrong.
    pub fn from_json(text: &str) -> Result<Catalogue, String> {
        let raw: BTreeMap<String, RawEntry> =
            serde_json::from_str(text).map_err(|error| error.to_string())?;
        Ok(Catalogue {
            models: raw
                .into_iter()
                .map(|(key, entry)| (normalize_key(&key), ModelInfo::from(entry)))
                .collect(),
        })
    }

    /// The built-in catalogue, then `file` (the text of `[providers] catalogue`) over it,
    /// then the `model_info` tables of `config` over both.
    pub fn configured(config: &ProvidersConfig, file: Option<&str>) -> Result<Catalogue, String> {
        let mut catalogue = Catalogue::builtin().clone();
        if let Some(text) = file {
            catalogue.merge(&Catalogue::from_json(text)?);
        }
        for (provider, settings) in &config.named {
            for (model, info) in &settings.model_info {
                catalogue.merge_model(provider, model, &ModelInfo::from_config(info));
            }
        }
        Ok(catalogue)
    }

    /// Takes what `over` knows, field by field.
    pub fn merge(&mut self, over: &Catalogue) {
        for (key, info) in &over.models {
            self.models.entry(key.clone()).or_default().merge(info);
        }
    }

    /// Merges `info` into the entry of `provider/model`.
    pub fn merge_model(&mut self, provider: &str, model: &str, info: &ModelInfo) {
        let key = normalize_key(&format!("{provider}/{model}"));
        self.models.entry(key).or_default().merge(info);
    }

    /// The model `model` of `provider`. Tolerates `gemini` for `google` and Gemini's
    /// `models/` prefix; a model named like `anthropic/claude-sonnet-4-5` (as OpenRouter and
    /// other gateways name them) is also looked up under its own name.
    pub fn get(&self, provider: &str, model: &str) -> Option<&ModelInfo> {
        self.models
            .get(&normalize_key(&format!("{provider}/{model}")))
            .or_else(|| {
                model
                    .contains('/')
                    .then(|| self.models.get(&normalize_key(model)))
                    .flatten()
            })
    }

    /// Every model, by `provider/model`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ModelInfo)> {
        self.models.iter().map(|(key, info)| (key.as_str(), info))
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// `provider/model` as the catalogue keys it: `google` for `gemini`, no `models/` prefix.
fn normalize_key(key: &str) -> String {
    let (provider, model) = key.split_once('/').unwrap_or(("", key));
    let provider = match provider {
        "gemini" => "google",
        other => other,
    };
    let model = model.strip_prefix("models/").unwrap_or(model);
    format!("{provider}/{model}")
}

/// A provider whose usage reports carry their cost, from the catalogue price of the model
/// that answered (the request's model at this provider).
pub struct PricedProvider {
    inner: Arc<dyn Provider>,
    catalogue: Arc<Catalogue>,
}

impl PricedProvider {
    pub fn new(inner: Arc<dyn Provider>, catalogue: Arc<Catalogue>) -> Self {
        PricedProvider { inner, catalogue }
    }
}

#[async_trait]
impl Provider for PricedProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        let info = self
            .catalogue
            .get(self.inner.name(), &request.model)
            .cloned();
        let stream = self.inner.stream(request).await?;
        let Some(info) = info else {
            return Ok(stream);
        };
        Ok(stream
            .map(move |item| match item {
                Ok(StreamEvent::Usage(mut usage)) if usage.cost_usd.is_none() => {
                    usage.cost_usd = info.cost(&usage);
                    Ok(StreamEvent::Usage(usage))
                }
                other => other,
            })
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn the_builtin_catalogue_parses_with_prices_per_million() {
        let catalogue = Catalogue::builtin();
        assert_eq!(catalogue.len(), 321);
        let sonnet = catalogue.get("anthropic", "claude-sonnet-4-5").unwrap();
        assert_eq!(
            sonnet,
            &ModelInfo {
                context: Some(200_000),
                max_output: Some(64_000),
                input_price: Some(3.0),
                output_price: Some(15.0),
                cache_read_price: Some(0.3),
                cache_write_price: Some(3.75),
                tools: Some(true),
                images: Some(true),
                reasoning: Some(true),
                prompt_caching: Some(true),
                streaming: None,
                responses_only: Some(false),
            }
        );
        let mini = catalogue.get("openai", "gpt-5-mini").unwrap();
        assert_eq!(mini.input_price, Some(0.25));
        assert_eq!(mini.cache_write_price, None);
    }

    #[test]
    fn lookups_tolerate_gemini_naming_and_gateway_model_names() {
        let catalogue = Catalogue::builtin();
        let flash = catalogue.get("google", "gemini-2.5-flash").unwrap();
        assert_eq!(flash.context, Some(1_048_576));
        assert_eq!(catalogue.get("gemini", "gemini-2.5-flash"), Some(flash));
        assert_eq!(
            catalogue.get("google", "models/gemini-2.5-flash"),
            Some(flash)
        );
        assert_eq!(
            catalogue.get("openrouter", "anthropic/claude-sonnet-4-5"),
            catalogue.get("anthropic", "claude-sonnet-4-5")
        );
        assert!(
            catalogue
                .get("groq", "openai/gpt-oss-120b")
                .is_some_and(|m| m.context.is_some())
        );
        assert_eq!(catalogue.get("local", "gpt-5-mini"), None);
    }

    #[test]
    fn cost_charges_cache_reads_and_writes_at_their_own_prices() {
        let sonnet = Catalogue::builtin()
            .get("anthropic", "claude-sonnet-4-5")
            .unwrap();
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 200_000,
            cache_write_tokens: 100_000,
            ..Usage::default()
        };
        // 700k × $3 + 200k × $0.30 + 100k × $3.75 + 100k × $15, per million.
        let cost = sonnet.cost(&usage).unwrap();
        assert!((cost - (2.1 + 0.06 + 0.375 + 1.5)).abs() < 1e-9, "{cost}");

        let unpriced_cache = ModelInfo {
            input_price: Some(1.0),
            output_price: Some(2.0),
            ..ModelInfo::default()
        };
        let cost = unpriced_cache.cost(&usage).unwrap();
        assert!((cost - (1.0 + 0.2)).abs() < 1e-9, "{cost}");
        assert_eq!(ModelInfo::default().cost(&usage), None);
    }

    #[test]
    fn a_file_and_config_override_the_builtin_field_by_field() {
        let file = r#"{
            "anthropic/claude-sonnet-4-5": {"input_cost_per_token": 2e-06},
            "lab/new-model": {"max_input_tokens": 32000, "mode": "chat"}
        }"#;
        let mut config = ProvidersConfig::default();
        let mut lab = code_mesh_protocol::config::ProviderConfig::default();
        lab.model_info.insert(
            "new-model".into(),
            ModelInfoConfig {
                output_price: Some(1.5),
                ..ModelInfoConfig::default()
            },
        );
        config.named.insert("lab".into(), lab);
        let catalogue = Catalogue::configured(&config, Some(file)).unwrap();
        let sonnet = catalogue.get("anthropic", "claude-sonnet-4-5").unwrap();
        assert_eq!(
            (sonnet.input_price, sonnet.output_price),
            (Some(2.0), Some(15.0))
        );
        let lab = catalogue.get("lab", "new-model").unwrap();
        assert_eq!(
            (lab.context, lab.output_price, lab.input_price),
            (Some(32_000), Some(1.5), None)
        );
        assert!(Catalogue::from_json("[1, 2]").is_err());
        assert!(Catalogue::from_json(r#"{"a/b": {"max_input_tokens": "many"}}"#).is_err());
    }
}
