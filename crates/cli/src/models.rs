//! `code-mesh models`: the models this setup can use, with their limits and prices.
//!
//! Listed: the models configured for each usable provider (its key is set or stored, or it needs
//! none), the catalogue's models of those providers, and what a local Ollama has. `--all`
//! lists the whole catalogue besides. Prices are US dollars per million tokens.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use code_mesh_protocol::ModelListing;
use code_mesh_providers::{
    Catalogue, ModelInfo, ProviderRegistry, builtin, ollama_base_url, ollama_models,
};
use code_mesh_tui::ModelChoice;

use crate::args::GlobalArgs;
use crate::exit::{CliError, Exit};
use crate::provider_setup::load_catalogue;
use crate::setup::{self, Context};

/// One listed model, from a provider's model name and what the catalogue knows of it.
fn listing(
    provider: &str,
    model: &str,
    info: Option<&ModelInfo>,
    source: &'static str,
) -> ModelListing {
    let info = info.cloned().unwrap_or_default();
    ModelListing {
        model: format!("{provider}/{model}"),
        provider: provider.to_owned(),
        context: info.context,
        max_output: info.max_output,
        input_price: info.input_price,
        output_price: info.output_price,
        cache_read_price: info.cache_read_price,
        cache_write_price: info.cache_write_price,
        tools: info.tools,
        images: info.images,
        reasoning: info.reasoning,
        source: source.to_owned(),
        role: None,
    }
}

fn into_choice(row: ModelListing) -> ModelChoice {
    ModelChoice {
        name: row.model,
        context_window: row.context,
        input_price: row.input_price,
        output_price: row.output_price,
        local: false,
    }
}

pub fn models(global: &GlobalArgs, json: bool, all: bool) -> Result<ExitCode, CliError> {
    let context = setup::context(global, Vec::new())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot start the runtime: {err}")))?;
    let rows = runtime.block_on(collect(&context, all, json))?;
    if json {
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|err| CliError::new(Exit::Failure, format!("cannot encode JSON: {err}")))?;
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    } else if rows.is_empty() {
        eprintln!(
            "no models: no provider has its API key set and no Ollama answers\n\
             hint: set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY, start Ollama, or add a [providers.NAME] table; `code-mesh models --all` lists the whole catalogue"
        );
    } else {
        print_table(&rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// The models of the providers this setup can use (their configured models and their
/// vendors' catalogue models; with `all`, every provider's configured models), by name.
fn provider_rows(
    context: &Context,
    all: bool,
) -> Result<(ProviderRegistry, Catalogue, BTreeMap<String, ModelListing>), CliError> {
    let config = &context.loaded.config.providers;
    let mut registry = ProviderRegistry::new(|name: &str| context.env_var(name), config);
    crate::auth::fill_stored_keys(context, &mut registry);
    let catalogue = load_catalogue(context)?;
    let mut rows: BTreeMap<String, ModelListing> = BTreeMap::new();
    let mut add = |row: ModelListing| {
        rows.entry(row.model.clone()).or_insert(row);
    };

    for provider in registry.providers() {
        let usable = !provider.base_url.is_empty()
            && (provider.api_key.is_some() || provider.api_key_env.is_none());
        if provider.name == "ollama" || !(usable || all) {
            continue;
        }
        for model in &provider.models {
            let info = catalogue.get(&provider.name, model);
            add(listing(&provider.name, model, info, "config"));
        }
        // A built-in provider's catalogue models are its vendor's: listed only with its key,
        // not for a local server standing in for it (`OPENAI_BASE_URL` without a key).
        let vendor = provider.api_key.is_some() || builtin(&provider.name).is_none();
        if usable && vendor {
            let prefix = format!("{}/", provider.name);
            for (key, info) in catalogue.iter() {
                if let Some(model) = key.strip_prefix(&prefix) {
                    add(listing(&provider.name, model, Some(info), "catalogue"));
                }
            }
        }
    }
    Ok((registry, catalogue, rows))
}

/// What the terminal UI's model picker offers at once: the models of the providers this setup
/// can use. Local servers' models come later, from [`local_model_choices`].
pub(crate) fn model_choices(context: &Context) -> Result<Vec<ModelChoice>, CliError> {
    let (_, _, rows) = provider_rows(context, false)?;
    Ok(rows.into_values().map(into_choice).collect())
}

/// The models a local Ollama at `base_url` has; none when it does not answer.
pub(crate) async fn local_model_choices(base_url: String) -> Vec<ModelChoice> {
    match ollama_models(&base_url).await {
        Ok(local) => local
            .into_iter()
            .map(|model| ModelChoice {
                name: format!("ollama/{}", model.name),
                context_window: model.context_length,
                input_price: None,
                output_price: None,
                local: true,
            })
            .collect(),
        Err(error) => {
            tracing::debug!(%error, "no local Ollama for the model picker");
            Vec::new()
        }
    }
}

/// What `code-mesh models --json` lists (without `--all`): the API's `/api/models`.
pub(crate) async fn listings(context: &Context) -> Result<Vec<ModelListing>, CliError> {
    collect(context, false, true).await
}

async fn collect(context: &Context, all: bool, quiet: bool) -> Result<Vec<ModelListing>, CliError> {
    let config = &context.loaded.config.providers;
    let (registry, catalogue, mut rows) = provider_rows(context, all)?;
    let mut add = |row: ModelListing| {
        rows.entry(row.model.clone()).or_insert(row);
    };

    let ollama = ollama_base_url(|name: &str| context.env_var(name));
    match ollama_models(&ollama).await {
        Ok(local) => {
            for model in local {
                let mut info = catalogue.get("ollama", &model.name).cloned();
                if let Some(context) = model.context_length {
                    info.get_or_insert_with(ModelInfo::default).context = Some(context);
                }
                add(listing("ollama", &model.name, info.as_ref(), "ollama"));
            }
        }
        Err(error) => {
            tracing::debug!(%error, "no local Ollama");
            if !quiet {
                eprintln!("(no Ollama answers at {ollama}; its models are not listed)");
            }
        }
    }

    if all {
        for (key, info) in catalogue.iter() {
            let (provider, model) = key.split_once('/').unwrap_or(("", key));
            add(listing(provider, model, Some(info), "catalogue"));
        }
    }

    let default = config.model.clone().or_else(|| registry.default_model());
    for (name, role) in default.iter().map(|name| (name.as_str(), "default")).chain(
        config
            .fallback
            .iter()
            .map(|name| (name.as_str(), "fallback")),
    ) {
        if let Some(row) = rows.get_mut(name).filter(|row| row.role.is_none()) {
            row.role = Some(role.to_owned());
        }
    }
    Ok(rows.into_values().collect())
}

fn print_table(rows: &[ModelListing]) {
    let header = [
        "MODEL",
        "CONTEXT",
        "OUTPUT",
        "INPUT $/M",
        "OUTPUT $/M",
        "CACHE READ",
        "CACHE WRITE",
        "CAPABILITIES",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|row| {
            let name = match &row.role {
                Some(role) => format!("{} ({role})", row.model),
                None => row.model.clone(),
            };
            let capabilities: Vec<&str> = [
                (row.tools, "tools"),
                (row.images, "images"),
                (row.reasoning, "reasoning"),
            ]
            .into_iter()
            .filter(|(flag, _)| *flag == Some(true))
            .map(|(_, name)| name)
            .collect();
            [
                name,
                tokens(row.context),
                tokens(row.max_output),
                price(row.input_price),
                price(row.output_price),
                price(row.cache_read_price),
                price(row.cache_write_price),
                capabilities.join(" "),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut stdout = std::io::stdout().lock();
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if index == cells.len() - 1 {
                text.push_str(cell);
            } else if (1..=6).contains(&index) {
                text.push_str(&format!("{cell:>width$}  "));
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.trim_end().to_owned()
    };
    let _ = writeln!(stdout, "{}", line(&header.map(str::to_owned)));
    for row in &cells {
        let _ = writeln!(stdout, "{}", line(row));
    }
}

/// `272k`, `1049k`, `4096`; `-` when unknown.
fn tokens(count: Option<u64>) -> String {
    match count {
        None => "-".to_owned(),
        Some(n) if n >= 10_000 => format!("{}k", (n + 500) / 1000),
        Some(n) => n.to_string(),
    }
}

/// `0.25`, `15`, `0.025`; `-` when unknown.
fn price(price: Option<f64>) -> String {
    match price {
        None => "-".to_owned(),
        Some(price) => {
            let text = format!("{price:.4}");
            match text.trim_end_matches('0').trim_end_matches('.') {
                "" => "0".to_owned(),
                short => short.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_but_exact_enough() {
        assert_eq!(tokens(Some(272_000)), "272k");
        assert_eq!(tokens(Some(1_048_576)), "1049k");
        assert_eq!(tokens(Some(4096)), "4096");
        assert_eq!(tokens(None), "-");
        assert_eq!(price(Some(0.25)), "0.25");
        assert_eq!(price(Some(15.0)), "15");
        assert_eq!(price(Some(0.025)), "0.025");
        assert_eq!(price(Some(0.0)), "0");
        assert_eq!(price(None), "-");
    }
}
