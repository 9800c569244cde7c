//! The HTTP plumbing every connector shares.
//!
//! - [`HttpClient`]: the one `reqwest` client (rustls, timeouts, an optional extra CA file),
//!   which reads whole responses and turns transport failures into classified [`Error`]s.
//! - [`pipeline`]: the one call pipeline (budgets, auth, send, classify, retry, renewal,
//!   parse) and the [`Vendor`] trait, the half of it each API supplies.
//! - [`token`]: the one token cache, generation-counted so concurrent refusals renew once.
//! - [`retry`]: every retry decision (the only user of the `backoff` crate).
//! - [`limiter`]: one limiter per API budget (rolling windows counted from answers,
//!   governor buckets for daily shares).
//! - [`classify`]: the default status → [`ErrorClass`] table and `Retry-After` parsing.
//!
//! Secrets: auth headers are set with `bearer_auth`, which marks them sensitive so `Debug`
//! output of a request never shows them; transport errors are described from their kind and
//! host, never with headers.

pub mod classify;
pub mod limiter;
pub mod pipeline;
pub mod retry;
pub mod token;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error, ErrorClass};

pub use limiter::{Held, Limiter};
pub use pipeline::{Call, Hold, Pipeline, Vendor};
pub use retry::{Repeat, RetryPolicy, retry};
pub use token::Token;

/// How the shared client is built.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connection-establishment timeout.
    pub connect_timeout: Duration,
    /// A PEM file of extra CA certificates to trust besides the system's (a corporate proxy,
    /// a sandbox served over TLS).
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            extra_ca_file: None,
        }
    }
}

/// A complete HTTP response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, read to the end.
    pub body: Bytes,
}

impl Response {
    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Parses the body as JSON. A body that does not parse (cut off, garbled) is a transient
    /// failure: the call is safe to repeat, and the next answer is usually whole.
    pub fn json<T: DeserializeOwned>(&self, action: &str) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|err| {
            Error::new(
                ErrorClass::Transient,
                action,
                ApiError {
                    status: Some(self.status),
                    message: format!("response body is not the JSON expected: {err}"),
                    ..ApiError::default()
                },
            )
        })
    }

    /// The body as text, shortened for messages.
    pub fn snippet(&self) -> String {
        const MAX: usize = 500;
        let text = String::from_utf8_lossy(&self.body);
        match text.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.into_owned(),
        }
    }

    /// The error this response stands for when the API's body says nothing more useful:
    /// the class from the status, `Retry-After`, and the body as the message.
    pub fn default_error(&self, action: &str) -> Error {
        let api = ApiError {
            status: Some(self.status),
            code: None,
            message: self.snippet(),
            fields: Vec::new(),
            retry_after: classify::retry_after(&self.headers),
        };
        Error::new(classify::class_of_status(self.status), action, api)
    }
}

/// The shared HTTP client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    /// Builds the client. Fails (fatally) when the extra CA file cannot be read or parsed.
    pub fn new(options: &HttpOptions) -> Result<HttpClient, Error> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("truce/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(50));
        if let Some(path) = &options.extra_ca_file {
            let action = format!("reading the CA file {}", path.display());
            let pem = std::fs::read(path).map_err(|err| {
                Error::new(
                    ErrorClass::Fatal,
                    &action,
                    ApiError::message(err.to_string()),
                )
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
                Error::new(
                    ErrorClass::Fatal,
                    &action,
                    ApiError::message(err.to_string()),
                )
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        let inner = builder.build().map_err(|err| {
            Error::new(
                ErrorClass::Fatal,
                "building the HTTP client",
                classify::describe_transport(&err),
            )
        })?;
        Ok(HttpClient { inner })
    }

    /// The underlying client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Sends a request once and reads the whole response. Any status comes back as a
    /// [`Response`]; only a failure to get one (connect, timeout, reset, cut-off body) is an
    /// [`Error`], classed by [`classify::class_of_transport`].
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        action: &str,
    ) -> Result<Response, Error> {
        let transport = |err: reqwest::Error| {
            Error::new(
                classify::class_of_transport(&err),
                action,
                classify::describe_transport(&err),
            )
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}
