//! Who the registry is told we are: credentials from the Docker config, and
//! the answer to a `401`: HTTP Basic, or a bearer token fetched from the
//! realm of a `WWW-Authenticate: Bearer` challenge (the Docker token flow).

pub mod challenge;
pub mod config;

use std::time::Duration;

use base64::Engine;
use reqwest::header::HeaderValue;
use serde::Deserialize;

use challenge::{parse_challenges, Challenge};
pub use config::{CredentialSource, Credentials};

use super::transport::error_chain;

/// The authorization state of one push.
#[derive(Debug)]
pub struct Auth {
    pub credentials: Credentials,
    pub source: CredentialSource,
    /// Token scopes asked for: `repository:<name>:pull,push` for the
    /// target, `repository:<source>:pull` for each mount source.
    pub scopes: Vec<String>,
    /// The `Authorization` header sent with each request, once known.
    pub header: Option<HeaderValue>,
}

/// Why a challenge could not be answered.
#[derive(Debug)]
pub struct AuthFailure {
    pub step: &'static str,
    pub status: Option<u16>,
    pub detail: String,
}

impl Auth {
    pub fn new(credentials: Credentials, source: CredentialSource, scopes: Vec<String>) -> Auth {
        Auth {
            credentials,
            source,
            scopes,
            header: None,
        }
    }

    /// Answers the challenges of a `401`. `Ok(true)` when there is a new
    /// `Authorization` to retry with; `Ok(false)` when retrying would send
    /// what was just refused.
    pub async fn answer(
        &mut self,
        client: &reqwest::Client,
        www_authenticate: &[String],
        idle: Duration,
    ) -> Result<bool, AuthFailure> {
        let challenges: Vec<Challenge> = www_authenticate
            .iter()
            .flat_map(|value| parse_challenges(value))
            .collect();
        let header = if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.fetch_token(client, bearer, idle).await?;
            header_value(&format!("Bearer {token}"))?
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            match &self.credentials {
                Credentials::Basic { username, password } => basic_header(username, password)?,
                Credentials::Anonymous => {
                    return Err(AuthFailure {
                        step: "authenticate",
                        status: Some(401),
                        detail: "the registry asks for a user name and password (HTTP Basic), \
                                 and none were found: run `docker login` or add an `auths` \
                                 entry to config.json"
                            .to_string(),
                    })
                }
                Credentials::IdentityToken { .. } => {
                    return Err(AuthFailure {
                        step: "authenticate",
                        status: Some(401),
                        detail: format!(
                            "the registry asks for HTTP Basic, but {} is an identity token",
                            self.source
                        ),
                    })
                }
            }
        } else {
            return Err(AuthFailure {
                step: "authenticate",
                status: Some(401),
                detail: format!(
                    "the registry refused the request and offers no Basic or Bearer \
                     challenge (WWW-Authenticate: {:?})",
                    www_authenticate
                ),
            });
        };
        if self.header.as_ref() == Some(&header) {
            return Ok(false);
        }
        self.header = Some(header);
        Ok(true)
    }

    /// The token flow: GET the realm with `service` and `scope`s, with Basic
    /// credentials or anonymously; or, with an identity token, POST an
    /// OAuth2 refresh-token grant. The answer's `token` or `access_token`.
    async fn fetch_token(
        &self,
        client: &reqwest::Client,
        challenge: &Challenge,
        idle: Duration,
    ) -> Result<String, AuthFailure> {
        let fail = |status: Option<u16>, detail: String| AuthFailure {
            step: "get a token",
            status,
            detail,
        };
        let realm = challenge
            .param("realm")
            .ok_or_else(|| fail(Some(401), "the Bearer challenge has no realm".into()))?;
        let mut url = reqwest::Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                fail(
                    None,
                    format!("the token realm '{realm}' is not an http(s) URL"),
                )
            })?;
        let mut scopes = self.scopes.clone();
        if let Some(asked) = challenge.param("scope") {
            for scope in asked.split(' ').filter(|s| !s.is_empty()) {
                if !scopes.iter().any(|s| s == scope) {
                    scopes.push(scope.to_string());
                }
            }
        }
        let service = challenge.param("service").unwrap_or_default();
        let request = match &self.credentials {
            Credentials::IdentityToken { token, .. } => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", token.clone()),
                    ("service", service.to_string()),
                    ("client_id", "rslim".to_string()),
                ];
                form.push(("scope", scopes.join(" ")));
                client.post(url).form(&form)
            }
            credentials => {
                {
                    let mut query = url.query_pairs_mut();
                    if !service.is_empty() {
                        query.append_pair("service", service);
                    }
                    for scope in &scopes {
                        query.append_pair("scope", scope);
                    }
                    if let Credentials::Basic { username, .. } = credentials {
                        query.append_pair("account", username);
                    }
                }
                let request = client.get(url);
                match credentials {
                    Credentials::Basic { username, password } => {
                        request.basic_auth(username, Some(password))
                    }
                    _ => request,
                }
            }
        };
        let response = tokio::time::timeout(idle, request.send())
            .await
            .map_err(|_| {
                fail(
                    None,
                    format!("the token server {realm} did not answer within {idle:?}"),
                )
            })?
            .map_err(|e| fail(None, format!("token server {realm}: {}", error_chain(&e))))?;
        let status = response.status();
        let body = tokio::time::timeout(idle, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if !status.is_success() {
            let refused = if matches!(status.as_u16(), 401 | 403) {
                format!(" refused {}", self.source)
            } else {
                String::new()
            };
            return Err(fail(
                Some(status.as_u16()),
                format!(
                    "token server {realm}{refused}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)]).trim()
                ),
            ));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            fail(
                Some(status.as_u16()),
                format!("token server {realm} answered something other than JSON: {e}"),
            )
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                fail(
                    Some(status.as_u16()),
                    format!("token server {realm} answered without a token"),
                )
            })
    }
}

fn basic_header(username: &str, password: &str) -> Result<HeaderValue, AuthFailure> {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    header_value(&format!("Basic {encoded}"))
}

fn header_value(value: &str) -> Result<HeaderValue, AuthFailure> {
    let mut header = HeaderValue::from_str(value).map_err(|_| AuthFailure {
        step: "authenticate",
        status: None,
        detail: "the credentials hold characters an HTTP header cannot carry".into(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}
