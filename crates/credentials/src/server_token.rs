//! The bearer token of `code-mesh serve`'s HTTP API, kept beside the provider keys so it is
//! encrypted at rest the same way and survives restarts (an open web page keeps working).

use chacha20poly1305::Key;
use chacha20poly1305::aead::Generate;
use zeroize::{Zeroize, Zeroizing};

use crate::encrypted_file::to_hex;
use crate::{CredentialError, CredentialStore, Secret};

/// The name the server token is stored under. It names no provider, so provider listings
/// ([`CredentialStore::list`]) leave it out.
pub const SERVER_TOKEN: &str = "code-mesh-serve";

/// A server token and whether it was made just now.
#[derive(Debug)]
pub struct ServerToken {
    pub token: Secret,
    /// True when no token was stored and this one was generated and stored.
    pub generated: bool,
}

/// A new random token: 32 bytes from the operating system's random number generator, in
/// hex (64 characters, safe in a header, a query string and a URL fragment).
pub fn random_token() -> Result<Secret, CredentialError> {
    let mut bytes = Key::generate();
    let hex = Zeroizing::new(to_hex(bytes.as_slice()));
    bytes.as_mut_slice().zeroize();
    Secret::new(hex.as_str())
}

impl CredentialStore {
    /// The stored server token, if any.
    pub fn server_token(&self) -> Result<Option<Secret>, CredentialError> {
        self.get(SERVER_TOKEN)
    }

    /// The stored server token, or a new random one, stored.
    pub fn server_token_or_new(&self) -> Result<ServerToken, CredentialError> {
        if let Some(token) = self.server_token()? {
            return Ok(ServerToken {
                token,
                generated: false,
            });
        }
        let token = self.replace_server_token()?;
        Ok(ServerToken {
            token,
            generated: true,
        })
    }

    /// Stores a new random server token in place of the old one (which stops working) and
    /// returns it.
    pub fn replace_server_token(&self) -> Result<Secret, CredentialError> {
        let token = random_token()?;
        self.set(SERVER_TOKEN, token.clone())?;
        Ok(token)
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_kept_and_left_out_of_provider_keys() {
        let root = tempfile::tempdir().unwrap();
        let store = CredentialStore::encrypted_file(&root.path().join("d"), &root.path().join("c"));
        store
            .set("openai", Secret::new("sk-canary-1234567890").unwrap())
            .unwrap();

        let first = store.server_token_or_new().unwrap();
        assert!(first.generated);
        let text = first.token.expose();
        assert_eq!(text.len(), 64);
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));

        let again = store.server_token_or_new().unwrap();
        assert!(!again.generated);
        assert_eq!(again.token, first.token);
        assert_eq!(store.list().unwrap().keys().collect::<Vec<_>>(), ["openai"]);

        let replaced = store.replace_server_token().unwrap();
        assert_ne!(replaced, first.token);
        assert_eq!(store.server_token().unwrap(), Some(replaced));
    }

    #[test]
    fn random_tokens_differ() {
        assert_ne!(random_token().unwrap(), random_token().unwrap());
    }
}
