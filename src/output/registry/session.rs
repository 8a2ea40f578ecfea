//! One registry conversation: the base URL, the client, the authorization
//! state, and requests that answer `401`s and turn failures into errors
//! naming the registry, the step and the HTTP status.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;

use super::auth::Auth;
use super::transport::{error_chain, with_idle_timeout, Progress};
use super::PushError;

pub struct Session {
    pub client: reqwest::Client,
    /// The registry as the reference names it, for messages.
    pub registry: String,
    /// `https://host[:port]/` or, for an insecure registry, `http://…/`.
    pub base: Url,
    pub auth: Auth,
    /// A request fails when no byte has moved for this long.
    pub idle: Duration,
}

impl Session {
    pub fn error(
        &self,
        step: &str,
        status: Option<StatusCode>,
        detail: impl Into<String>,
    ) -> PushError {
        PushError {
            registry: self.registry.clone(),
            step: step.to_string(),
            status: status.map(|s| s.as_u16()),
            detail: detail.into(),
        }
    }

    pub fn url(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("registry API paths are valid URL paths")
    }

    /// Sends the request `make` builds, with the current authorization. On a
    /// `401` it answers the challenge and sends a fresh request once more
    /// (`make` runs again, so a streamed body starts over). `progress`, if
    /// given, is touched by the body; without progress for the idle timeout
    /// the request fails.
    pub async fn send(
        &mut self,
        step: &str,
        make: impl Fn(&reqwest::Client) -> RequestBuilder,
        progress: Option<Arc<Progress>>,
    ) -> Result<Response, PushError> {
        let mut retried = false;
        loop {
            let progress = progress.clone().unwrap_or_else(Progress::new);
            progress.touch();
            let mut request = make(&self.client)
                .build()
                .map_err(|e| self.error(step, None, transport_detail(e, self.idle)))?;
            // Credentials go to the registry only, not to another host a
            // Location may point at.
            if let (Some(header), true) = (&self.auth.header, self.same_origin(request.url())) {
                request
                    .headers_mut()
                    .insert(reqwest::header::AUTHORIZATION, header.clone());
            }
            let sent = self.client.execute(request);
            let response = match with_idle_timeout(sent, &progress, self.idle).await {
                None => return Err(self.error(step, None, no_progress(self.idle, "watchdog"))),
                Some(Err(e)) => return Err(self.error(step, None, transport_detail(e, self.idle))),
                Some(Ok(response)) => response,
            };
            if response.status() != StatusCode::UNAUTHORIZED || retried {
                return Ok(response);
            }
            retried = true;
            let challenges: Vec<String> = response
                .headers()
                .get_all(reqwest::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            let changed = self
                .auth
                .answer(&self.client, &challenges, self.idle)
                .await
                .map_err(|f| PushError {
                    registry: self.registry.clone(),
                    step: format!("{step}: {}", f.step),
                    status: f.status,
                    detail: f.detail,
                })?;
            if !changed {
                return Ok(response);
            }
        }
    }

    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    /// Returns `response` if its status is one of `expected`; otherwise an
    /// error with the status and the registry's own error message.
    pub async fn expect(
        &self,
        step: &str,
        response: Response,
        expected: &[StatusCode],
    ) -> Result<Response, PushError> {
        let status = response.status();
        if expected.contains(&status) {
            return Ok(response);
        }
        let body = tokio::time::timeout(self.idle, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let mut detail = registry_message(&body);
        if matches!(status.as_u16(), 401 | 403) {
            detail = format!("{detail} (with {})", self.auth.source);
        }
        Err(self.error(step, Some(status), detail))
    }

    /// [`Session::send`], then [`Session::expect`] of its answer.
    pub async fn send_expecting(
        &mut self,
        step: &str,
        make: impl Fn(&reqwest::Client) -> RequestBuilder,
        progress: Option<Arc<Progress>>,
        expected: &[StatusCode],
    ) -> Result<Response, PushError> {
        let response = self.send(step, make, progress).await?;
        self.expect(step, response, expected).await
    }

    /// The `Location` of an upload answer, resolved against the request URL.
    pub fn location(&self, step: &str, response: &Response) -> Result<Url, PushError> {
        let value = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                self.error(
                    step,
                    Some(response.status()),
                    "the answer has no Location header",
                )
            })?;
        response.url().join(value).map_err(|e| {
            self.error(
                step,
                Some(response.status()),
                format!("the Location '{value}' is not a URL: {e}"),
            )
        })
    }
}

/// The `Docker-Content-Digest` header, when the registry sent one.
pub fn content_digest(response: &Response) -> Option<String> {
    response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

fn transport_detail(error: reqwest::Error, idle: Duration) -> String {
    // The step already says what was asked; the URL (with upload state) is noise.
    let error = error.without_url();
    let chain = error_chain(&error);
    if error.is_timeout() {
        no_progress(idle, &chain)
    } else if error.is_connect() {
        format!("cannot connect: {chain}{}", tls_hint(&chain))
    } else {
        chain
    }
}

/// What to do about the two TLS failures people meet with private registries.
fn tls_hint(chain: &str) -> &'static str {
    if chain.contains("UnknownIssuer") {
        " (a private CA: point SSL_CERT_FILE at a bundle that holds it)"
    } else if chain.contains("InvalidContentType") || chain.contains("corrupt message") {
        " (if the registry speaks plain HTTP, name it with --insecure-registry)"
    } else {
        ""
    }
}

fn no_progress(idle: Duration, cause: &str) -> String {
    format!(
        "no progress for {}s, the registry stopped answering ({cause})",
        idle.as_secs_f32()
    )
}

/// The registry's error answer (`{"errors": [{"code", "message", "detail"}]}`)
/// as one line, or the start of whatever else it sent.
pub fn registry_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        let messages: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .collect();
        if !messages.is_empty() {
            return messages.join("; ");
        }
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let text = text.trim();
    if text.is_empty() {
        "(no message)".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_with_the_registry_origin() {
        let session = Session {
            client: super::super::transport::build_client(
                &[],
                Duration::from_secs(1),
                Duration::from_secs(1),
            )
            .unwrap(),
            registry: "r.example".into(),
            base: Url::parse("https://r.example/").unwrap(),
            auth: Auth::new(
                crate::output::registry::Credentials::Anonymous,
                crate::output::registry::CredentialSource::None,
                Vec::new(),
            ),
            idle: Duration::from_secs(1),
        };
        let same = |url: &str| session.same_origin(&Url::parse(url).unwrap());
        assert!(same("https://r.example/v2/a/blobs/uploads/1?_state=x"));
        assert!(same("https://r.example:443/v2/"));
        assert!(!same("http://r.example/v2/"));
        assert!(!same("https://r.example:5000/v2/"));
        assert!(!same("https://storage.example/blob"));
    }

    #[test]
    fn registry_errors_are_summarized() {
        assert_eq!(
            registry_message(
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository"}]}]}"#
            ),
            "UNAUTHORIZED: authentication required"
        );
        assert_eq!(
            registry_message(br#"{"errors":[{"code":"A"},{"message":"b"}]}"#),
            "A; b"
        );
        assert_eq!(registry_message(b"  plain text\n"), "plain text");
        assert_eq!(registry_message(b""), "(no message)");
    }
}
