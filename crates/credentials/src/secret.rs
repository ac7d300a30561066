//! [`Secret`]: an API key that does not print itself.

use std::fmt;

use zeroize::Zeroizing;

use crate::CredentialError;

/// An API key. `Debug` and `Display` print `<redacted>`; the memory is wiped on drop. Only
/// [`Secret::expose`] gives the key, for the one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Checks `key` is usable as an API key (not empty, no whitespace or control
    /// characters, which no HTTP header can carry) and wraps it. The error never quotes it.
    pub fn new(key: impl Into<String>) -> Result<Secret, CredentialError> {
        let key = Zeroizing::new(key.into());
        if key.is_empty() {
            return Err(CredentialError::InvalidKey {
                reason: "it is empty",
            });
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CredentialError::InvalidKey {
                reason: "it contains spaces or control characters",
            });
        }
        Ok(Secret(key))
    }

    /// The key itself, to send to the provider. Never log or store what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key as `auth list` shows it: a short public prefix such as `sk-` when the key has
    /// one, an ellipsis, and at most the last four characters, which only keys of 12
    /// characters or more show (e.g. `sk-…a1b2`).
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let prefix: String = match chars.iter().position(|c| *c == '-') {
            Some(dash)
                if (1..=3).contains(&dash)
                    && chars[..dash].iter().all(|c| c.is_ascii_alphanumeric()) =>
            {
                chars[..=dash].iter().collect()
            }
            _ => String::new(),
        };
        let tail: String = if chars.len() >= 12 {
            chars[chars.len() - 4..].iter().collect()
        } else {
            String::new()
        };
        format!("{prefix}…{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(key: &str) -> Secret {
        Secret::new(key).unwrap()
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = "sk-proj-7f3a9c0de1b2a1b2";
        let secret = secret(key);
        for shown in [
            format!("{secret:?}"),
            format!("{secret}"),
            format!("{:?}", Some(&secret)),
            format!("{:#?}", vec![secret.clone()]),
        ] {
            assert!(!shown.contains("7f3a"), "{shown}");
            assert!(!shown.contains("a1b2"), "{shown}");
        }
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), key);
    }

    #[test]
    fn masked_shows_a_short_prefix_and_at_most_the_last_four_characters() {
        assert_eq!(secret("sk-proj-7f3a9c0de1b2a1b2").masked(), "sk-…a1b2");
        assert_eq!(secret("sk-ant-api03-xyzxyzxyzQ9").masked(), "sk-…yzQ9");
        assert_eq!(secret("AIzaSyD-0123456789abcd").masked(), "…abcd");
        assert_eq!(secret("0123456789ab").masked(), "…89ab");
        // Short keys show nothing of their end: four characters would be a third of them.
        assert_eq!(secret("sk-short").masked(), "sk-…");
        assert_eq!(secret("abcdefghijk").masked(), "…");
        // A long "prefix" is part of the secret, not a vendor's marker.
        assert_eq!(secret("verylongprefix-0123456789").masked(), "…6789");
    }

    #[test]
    fn empty_or_spaced_keys_are_refused_without_quoting_them() {
        let error = Secret::new("").unwrap_err();
        assert_eq!(error.to_string(), "the API key is not valid: it is empty");
        let error = Secret::new("sk-abc def-canary").unwrap_err();
        assert!(!error.to_string().contains("canary"), "{error}");
        assert!(!format!("{error:?}").contains("canary"), "{error:?}");
        assert!(Secret::new("sk-abc\u{7}").is_err());
    }
}
