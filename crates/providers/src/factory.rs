//! Building the provider for a wire.

use std::sync::Arc;

use code_mesh_core::{Provider, ProviderError};
use code_mesh_protocol::config::Wire;

use crate::{OpenAiChatProvider, ProviderSettings};

/// The provider speaking `settings.wire`.
pub fn build_provider(settings: ProviderSettings) -> Result<Arc<dyn Provider>, ProviderError> {
    match settings.wire {
        Wire::Chat => Ok(Arc::new(OpenAiChatProvider::new(settings)?)),
        Wire::Anthropic => {
            let budget = settings.thinking_budget;
            let provider = crate::AnthropicProvider::new(settings)?;
            Ok(Arc::new(match budget {
                Some(budget) => provider.with_thinking_budget(budget),
                None => provider,
            }))
        }
        Wire::Responses => Ok(Arc::new(crate::OpenAiResponsesProvider::new(settings)?)),
        Wire::Gemini => Ok(Arc::new(crate::GeminiProvider::new(settings)?)),
        Wire::Ollama => Ok(Arc::new(crate::OllamaProvider::new(settings)?)),
    }
}

/// The config name of a wire.
pub fn wire_name(wire: Wire) -> &'static str {
    match wire {
        Wire::Chat => "chat",
        Wire::Responses => "responses",
        Wire::Anthropic => "anthropic",
        Wire::Gemini => "gemini",
        Wire::Ollama => "ollama",
    }
}
