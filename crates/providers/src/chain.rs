//! The dependable provider a front end hands the engine: cache → failover → (cost, retry →
//! wire) for each candidate.

use std::sync::Arc;

use code_mesh_core::{Provider, ProviderError, ResponseCache};

use crate::cache::CachingProvider;
use crate::catalogue::{Catalogue, PricedProvider};
use crate::failover::{Candidate, FailoverProvider};
use crate::retry::{RetryPolicy, RetryingProvider};

/// How to wrap the wires.
#[derive(Clone, Default)]
pub struct ChainOptions {
    pub retry: RetryPolicy,
    /// Prices for `Usage.cost_usd`; `None` leaves costs unknown.
    pub catalogue: Option<Arc<Catalogue>>,
    /// Where `temperature = 0` answers are kept; `None` disables the response cache.
    pub cache: Option<Arc<dyn ResponseCache>>,
}

/// Wraps each candidate's wire in retries and pricing, puts them behind a failover in order
/// (the first is the chosen model, the rest its fallbacks), and the whole behind the cache.
pub fn reliable_provider(
    candidates: Vec<Candidate>,
    options: ChainOptions,
) -> Result<Arc<dyn Provider>, ProviderError> {
    let wrapped = candidates
        .into_iter()
        .map(|candidate| {
            let mut provider: Arc<dyn Provider> =
                Arc::new(RetryingProvider::new(candidate.provider, options.retry));
            if let Some(catalogue) = &options.catalogue {
                provider = Arc::new(PricedProvider::new(provider, Arc::clone(catalogue)));
            }
            Candidate::new(provider, candidate.model)
        })
        .collect();
    let failover: Arc<dyn Provider> = Arc::new(FailoverProvider::new(wrapped)?);
    Ok(match options.cache {
        Some(cache) => Arc::new(CachingProvider::new(failover, cache)),
        None => failover,
    })
}
