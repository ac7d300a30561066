//! `web_fetch`: an HTTP(S) GET returning the page as Markdown or plain text.
//!
//! What may be fetched, in the order it is checked:
//! 1. only `http` and `https` URLs;
//! 2. when the call's sandbox confines commands (`mode` is not `off`) and does not allow the
//!    network (`[tools] network = false`, the default), nothing: the agent's network access is
//!    off as a whole, not only for commands;
//! 3. when `[tools] web_allow` lists hosts, only those: `docs.rs` matches exactly that host,
//!    `*.python.org` matches any subdomain of python.org (not python.org itself); redirects
//!    are followed (at most 5) only to allowed hosts. An empty list allows every host;
//! 4. the permission policy, as for every `Execute` tool: without a rule allowing `web_fetch`
//!    (or `--yes`), every call asks first, and the prompt shows the URL
//!    ([`PermissionTarget::Url`]).
//!
//! The body is read up to 5 MiB (the rest is dropped, and said so), must be text (`text/*`,
//! JSON, XML, JavaScript, or no type and no NUL byte), is decoded as UTF-8 (invalid bytes
//! replaced), HTML is converted (see [`crate::html`]) and the result is capped to the tool
//! output limit. The request times out after 30 seconds and stops when the call is cancelled.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{SandboxMode, ToolKind, ToolSpec};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking::CANCELLED;
use crate::html::{self, Flavor};
use crate::output::{human_size, truncate_end};

/// Bytes of a response body read at most.
pub(crate) const MAX_BODY: usize = 5 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REDIRECTS: usize = 5;

const DESCRIPTION: &str = "\
Fetches a web page or file over HTTP(S) (GET) and returns it as Markdown (default) or plain \
text: HTML is converted (headings, links, lists, code blocks kept; scripts and styles dropped), \
other text (JSON, plain text, source code) comes back as it is.

Usage:
- Use it to read documentation, changelogs, issues or API references the task needs.
- Only http and https URLs; images, archives and other binary content are refused.
- At most 5 MiB is read and the result is cut to the output limit: prefer the most specific \
URL (a page, not a site's index).
- It may be limited to the hosts in the config's `[tools] web_allow`, and it is refused \
while the sandbox forbids network access.";

/// Fetches URLs, within the allow-list.
#[derive(Debug)]
pub struct WebFetchTool {
    allow: Arc<Vec<String>>,
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl WebFetchTool {
    /// A tool fetching only from the hosts matching `allow` (every host when it is empty).
    pub fn new(allow: Vec<String>) -> Self {
        WebFetchTool {
            allow: Arc::new(
                allow
                    .into_iter()
                    .map(|pattern| pattern.trim().to_ascii_lowercase())
                    .filter(|pattern| !pattern.is_empty())
                    .collect(),
            ),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, ToolError> {
        let allow = self.allow.clone();
        self.client
            .get_or_init(|| {
                let policy = reqwest::redirect::Policy::custom(move |attempt| {
                    let allowed = matches!(attempt.url().scheme(), "http" | "https")
                        && attempt
                            .url()
                            .host_str()
                            .is_some_and(|host| host_allowed(&allow, host));
                    if attempt.previous().len() >= MAX_REDIRECTS {
                        attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
                    } else if !allowed {
                        let target = attempt.url().to_string();
                        attempt.error(format!(
                            "it redirects to `{target}`, whose host is not allowed \
                             (`[tools] web_allow`, http and https only)"
                        ))
                    } else {
                        attempt.follow()
                    }
                });
                reqwest::Client::builder()
                    .redirect(policy)
                    .timeout(TIMEOUT)
                    .user_agent(concat!(
                        "code-mesh/",
                        env!("CARGO_PKG_VERSION"),
                        " (web_fetch)"
                    ))
                    .build()
                    .map_err(|error| error.to_string())
            })
            .as_ref()
            .map_err(|error| ToolError::new(format!("cannot set up the HTTP client: {error}")))
    }
}

/// Whether `host` matches one of the `allow` patterns (or the list is empty).
fn host_allowed(allow: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    allow.is_empty()
        || allow
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == *pattern,
            })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebFetchArgs {
    url: String,
    #[serde(default)]
    format: Option<String>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "url": {
                "type": "string",
                "description": "The http:// or https:// URL to fetch."
            },
            "format": {
                "type": "string",
                "enum": ["markdown", "text"],
                "description": "How HTML is returned: `markdown` (default; links kept) or \
                    `text` (plain text)."
            }
        },
        "required": ["url"],
        "additionalProperties": false
    })
}

/// Whether a response of `content_type` is text this tool returns.
fn is_text(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-javascript"
                | "application/ecmascript"
                | "application/x-yaml"
                | "application/yaml"
                | "application/toml"
                | "application/x-sh"
        )
}

fn is_html(content_type: &str) -> bool {
    let lower = content_type.to_ascii_lowercase();
    lower.starts_with("text/html") || lower.starts_with("application/xhtml+xml")
}

#[async_trait]
impl Tool for WebFetchTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "web_fetch".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    /// `Execute`: it reaches outside the machine, so it asks by default like a command.
    fn kind(&self) -> ToolKind {
        ToolKind::Execute
    }

    fn summarize(&self, arguments: &Value) -> String {
        match args::str_field(arguments, "url") {
            Some(url) => format!("fetch {}", args::quoted_excerpt(url, 200)),
            None => "fetch a URL".into(),
        }
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        match args::str_field(arguments, "url") {
            Some(url) => PermissionTarget::Url(url.to_string()),
            None => PermissionTarget::None,
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: WebFetchArgs = args::parse("web_fetch", arguments, &schema)?;
        let flavor = match arguments.format.as_deref() {
            None | Some("markdown") => Flavor::Markdown,
            Some("text") => Flavor::Text,
            Some(other) => {
                return Err(args::invalid(
                    "web_fetch",
                    format!("`format` is {other:?}; use \"markdown\" or \"text\""),
                    &schema,
                ));
            }
        };
        let url = Url::parse(arguments.url.trim()).map_err(|error| {
            args::invalid(
                "web_fetch",
                format!("`url` {:?} is not a URL ({error})", arguments.url),
                &schema,
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ToolError::new(format!(
                "`{url}` is a {} URL; web_fetch fetches http and https URLs only",
                url.scheme()
            )));
        }
        if context.sandbox.mode != SandboxMode::Off && !context.sandbox.network {
            return Err(ToolError::new(format!(
                "web_fetch is denied: the sandbox forbids network access, so `{url}` was not \
                 fetched. The user can allow it with `[tools] network = true` in the config"
            )));
        }
        let host = url.host_str().unwrap_or_default();
        if !host_allowed(&self.allow, host) {
            return Err(ToolError::new(format!(
                "`{host}` is not in the hosts `[tools] web_allow` permits ({}), so `{url}` was \
                 not fetched; use one of those hosts, or ask the user to add this one",
                self.allow.join(", ")
            )));
        }
        let client = self.client()?;
        let fetch = fetch(client, &url);
        let fetched = tokio::select! {
            fetched = fetch => fetched?,
            () = context.cancel.cancelled() => return Err(ToolError::new(CANCELLED)),
        };
        let mut text = if fetched.html {
            html::convert(&fetched.body, flavor, Some(&fetched.url))
        } else {
            fetched.body
        };
        let mut header = format!(
            "{} ({}, {})\n",
            fetched.url,
            fetched.content_type.as_deref().unwrap_or("no content type"),
            human_size(fetched.bytes as u64)
        );
        if fetched.cut {
            header.push_str(&format!(
                "[only the first {} of the response was read]\n",
                human_size(MAX_BODY as u64)
            ));
        }
        header.push('\n');
        let room = context
            .limits
            .max_output_bytes
            .saturating_sub(header.len())
            .max(256);
        truncate_end(&mut text, room, |dropped| {
            format!(
                "[… {} more left out; fetch a more specific URL for the rest …]",
                human_size(dropped)
            )
        });
        if text.trim().is_empty() {
            text = "(the page has no text)\n".into();
        }
        Ok(ToolOutput::from(header + &text))
    }
}

/// A fetched body.
#[derive(Debug)]
struct Fetched {
    /// The final URL, after redirects.
    url: Url,
    content_type: Option<String>,
    html: bool,
    body: String,
    bytes: usize,
    /// The body was longer than [`MAX_BODY`].
    cut: bool,
}

async fn fetch(client: &reqwest::Client, url: &Url) -> Result<Fetched, ToolError> {
    let request_error = |error: reqwest::Error| {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        ToolError::new(format!(
            "fetching `{url}` failed: {message}. Check the URL; if the site is down or slow, \
             try again later or use another source"
        ))
    };
    let mut response = client
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "text/html, text/markdown, text/plain, application/json;q=0.9, */*;q=0.5",
        )
        .send()
        .await
        .map_err(request_error)?;
    let status = response.status();
    let final_url = response.url().clone();
    if !status.is_success() {
        return Err(ToolError::new(format!(
            "`{final_url}` answered HTTP {status}; check the URL"
        )));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    if let Some(kind) = &content_type
        && !is_text(kind)
    {
        return Err(ToolError::new(format!(
            "`{final_url}` is `{kind}`, not text; web_fetch returns text only (HTML, Markdown, \
             JSON, plain text). Download binary files with `bash` (e.g. curl) if the user \
             allows it"
        )));
    }
    let mut body = Vec::new();
    let mut cut = false;
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        let room = MAX_BODY - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    if content_type.is_none() && body.iter().take(8192).any(|&byte| byte == 0) {
        return Err(ToolError::new(format!(
            "`{final_url}` has no content type and looks binary; web_fetch returns text only"
        )));
    }
    let html = content_type.as_deref().is_some_and(is_html)
        || (content_type.is_none() && looks_like_html(&body));
    Ok(Fetched {
        url: final_url,
        html,
        bytes: body.len(),
        body: String::from_utf8_lossy(&body).into_owned(),
        content_type,
        cut,
    })
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    let start = start.trim_start();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_exactly_or_by_subdomain_wildcard() {
        let allow = vec!["docs.rs".to_string(), "*.python.org".to_string()];
        assert!(host_allowed(&allow, "docs.rs"));
        assert!(host_allowed(&allow, "DOCS.RS."));
        assert!(host_allowed(&allow, "docs.python.org"));
        assert!(!host_allowed(&allow, "python.org"));
        assert!(!host_allowed(&allow, "evilpython.org"));
        assert!(!host_allowed(&allow, "docs.rs.evil.com"));
        assert!(host_allowed(&[], "anything.example"));
    }

    #[test]
    fn text_types_are_recognised() {
        for kind in [
            "text/html; charset=utf-8",
            "text/plain",
            "application/json",
            "application/vnd.api+json",
            "image/svg+xml",
        ] {
            assert!(is_text(kind), "{kind}");
        }
        for kind in ["image/png", "application/octet-stream", "application/pdf"] {
            assert!(!is_text(kind), "{kind}");
        }
    }
}
