//! The effective configuration as `/api/config` shows it: JSON with every secret masked.
//!
//! The config has no key fields of its own (keys come from the environment and the credential
//! store), but secrets can still be written into it: a provider's `headers` (`x-api-key`,
//! `Authorization`), or a `base_url` with `user:password@` or `?key=` in it.

use serde_json::Value;

/// What every masked value is replaced with.
pub const MASK: &str = "********";

/// Words that make a name a secret's: `x-api-key`, `auth_token`, `Authorization`, `password`.
const SECRET_WORDS: &[&str] = &[
    "key",
    "apikey",
    "secret",
    "token",
    "password",
    "passwd",
    "pwd",
    "auth",
    "authorization",
    "cookie",
    "credential",
    "credentials",
    "signature",
    "bearer",
    "pass",
    "passphrase",
    "private",
];

/// `value` with the strings under secret-named keys masked, and user info and secret query
/// parameters masked in every URL.
pub fn mask_secrets(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(name, value)| {
                    let value = if is_secret_name(&name) {
                        mask_all_strings(value)
                    } else {
                        mask_secrets(value)
                    };
                    (name, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(mask_secrets).collect()),
        Value::String(text) if is_credential(&text) => Value::String(MASK.to_owned()),
        Value::String(text) => Value::String(mask_url(&text)),
        other => other,
    }
}

/// Whether a value is a credential whatever its name: `Bearer …`, `Basic …`.
fn is_credential(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    ["bearer ", "basic ", "token "]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// Whether a key names a secret: one of its words (split at anything not a letter or digit, and
/// where camelCase turns upper: `clientSecret`) is a [`SECRET_WORDS`] word. `max_tokens` is not (`tokens` is a count), and neither is a
/// name ending in `env` (`api_key_env` names a variable, not a key).
fn is_secret_name(name: &str) -> bool {
    let mut spaced = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            spaced.push(' ');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        spaced.push(c.to_ascii_lowercase());
    }
    let words: Vec<&str> = spaced
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect();
    if words.last() == Some(&"env") {
        return false;
    }
    words.iter().any(|word| SECRET_WORDS.contains(word))
}

fn mask_all_strings(value: Value) -> Value {
    match value {
        Value::String(_) => Value::String(MASK.to_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(mask_all_strings).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(name, value)| (name, mask_all_strings(value)))
                .collect(),
        ),
        other => other,
    }
}

/// `text` with a URL's `user:password@` and the values of secret-named query parameters
/// masked; other text unchanged.
fn mask_url(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_owned();
    };
    let rest_start = scheme_end + 3;
    let rest = &text[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut masked = text[..rest_start].to_owned();
    match authority.rfind('@') {
        Some(at) => {
            masked.push_str(MASK);
            masked.push_str(&authority[at..]);
        }
        None => masked.push_str(authority),
    }
    let after = &rest[authority_end..];
    let (before_fragment, fragment) = match after.find('#') {
        Some(hash) => after.split_at(hash),
        None => (after, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            masked.push_str(path);
            masked.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if is_secret_name(name) => format!("{name}={MASK}"),
                    _ => pair.to_owned(),
                })
                .collect();
            masked.push_str(&pairs.join("&"));
        }
        None => masked.push_str(before_fragment),
    }
    masked.push_str(fragment);
    masked
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn camel_case_names_and_credential_values_are_masked() {
        let masked = mask_secrets(json!({
            "clientSecret": "s1", "accessKey": "s2", "authToken": "s3",
            "X-Custom": "Bearer sk-canary", "X-Other": "basic dXNlcjpwYXNz",
            "maxTokens": 5, "keyboard": "qwerty", "title": "mine"
        }));
        assert_eq!(
            masked,
            json!({
                "clientSecret": MASK, "accessKey": MASK, "authToken": MASK,
                "X-Custom": MASK, "X-Other": MASK,
                "maxTokens": 5, "keyboard": "qwerty", "title": "mine"
            })
        );
    }

    #[test]
    fn secret_headers_and_url_credentials_are_masked_and_nothing_else() {
        let config = json!({
            "providers": {
                "max_tokens": 4096,
                "model": "acme/m1",
                "named": {
                    "acme": {
                        "base_url": "https://bob:hunter2@acme.example/v1?key=abc123&region=eu#top",
                        "api_key_env": "ACME_API_KEY",
                        "headers": {"x-api-key": "sk-canary", "Authorization": "Bearer sk-canary2", "X-Title": "mine"},
                        "thinking_budget": 1000,
                        "models": ["m1"]
                    }
                }
            },
            "tools": {"web_allow": ["https://docs.example/a"]}
        });
        let masked = mask_secrets(config);
        assert_eq!(
            masked,
            json!({
                "providers": {
                    "max_tokens": 4096,
                    "model": "acme/m1",
                    "named": {
                        "acme": {
                            "base_url": "https://********@acme.example/v1?key=********&region=eu#top",
                            "api_key_env": "ACME_API_KEY",
                            "headers": {"x-api-key": MASK, "Authorization": MASK, "X-Title": "mine"},
                            "thinking_budget": 1000,
                            "models": ["m1"]
                        }
                    }
                },
                "tools": {"web_allow": ["https://docs.example/a"]}
            })
        );
    }

    #[test]
    fn secret_names_are_whole_words() {
        for name in [
            "x-api-key",
            "apiKey",
            "API_KEY",
            "auth_token",
            "client-secret",
            "password",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "max_tokens",
            "api_key_env",
            "keyboard",
            "monkey",
            "model",
            "authors",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }
}
