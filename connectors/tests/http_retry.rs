//! The shared HTTP plumbing against a real (tiny) HTTP server on 127.0.0.1: 429 with
//! `Retry-After`, 503, a reset connection and a 400, each classified and retried (or not)
//! as the retry module promises.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use truce_connectors::http::{HttpClient, HttpOptions, RetryPolicy, retry};
use truce_connectors::{Error, ErrorClass};

/// What the scripted server does with one connection.
#[derive(Clone, Copy)]
enum Step {
    TooManyRequests { retry_after_secs: u64 },
    Unavailable,
    Reset,
    BadRequest,
    Ok,
}

/// Serves one scripted step per request (the last step repeats) and counts requests.
async fn scripted_server(script: Vec<Step>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/thing", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let step = script[n.min(script.len() - 1)];
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let reply: String = match step {
                    Step::TooManyRequests { retry_after_secs } => format!(
                        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after_secs}\r\n\
                         Content-Type: application/json\r\nContent-Length: 20\r\n\
                         Connection: close\r\n\r\n{{\"status\":\"error\"}}  "
                    ),
                    Step::Unavailable => "HTTP/1.1 503 Service Unavailable\r\n\
                         Content-Length: 4\r\nConnection: close\r\n\r\nbusy"
                        .to_string(),
                    Step::Reset => {
                        // SO_LINGER 0 turns the close into a TCP reset.
                        let _ = socket.set_zero_linger();
                        drop(socket);
                        return;
                    }
                    Step::BadRequest => "HTTP/1.1 400 Bad Request\r\n\
                         Content-Type: application/json\r\nContent-Length: 27\r\n\
                         Connection: close\r\n\r\n{\"message\":\"invalid email\"}"
                        .to_string(),
                    Step::Ok => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}"
                        .to_string(),
                };
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, served)
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        initial_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(60),
    }
}

async fn get_json(http: &HttpClient, url: &str) -> Result<serde_json::Value, Error> {
    let response = http.send(http.client().get(url), "GET /thing").await?;
    if !response.is_success() {
        return Err(response.default_error("GET /thing"));
    }
    response.json("GET /thing")
}

#[tokio::test]
async fn a_429_503_and_reset_are_retried_until_the_call_succeeds() {
    let (url, served) = scripted_server(vec![
        Step::TooManyRequests {
            retry_after_secs: 1,
        },
        Step::Unavailable,
        Step::Reset,
        Step::Ok,
    ])
    .await;
    let http = HttpClient::new(&HttpOptions::default()).unwrap();
    let started = Instant::now();
    let body = retry(&policy(), |_| get_json(&http, &url)).await.unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(served.load(Ordering::SeqCst), 4);
    // The backoff schedule alone is milliseconds; only Retry-After explains a second.
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn each_failure_is_classified_by_what_the_server_said() {
    let http = HttpClient::new(&HttpOptions::default()).unwrap();
    let cases = [
        (
            Step::TooManyRequests {
                retry_after_secs: 3,
            },
            ErrorClass::RateLimited,
        ),
        (Step::Unavailable, ErrorClass::Transient),
        (Step::Reset, ErrorClass::Transient),
        (Step::BadRequest, ErrorClass::Permanent),
    ];
    for (step, expected) in cases {
        let (url, _) = scripted_server(vec![step]).await;
        let err = get_json(&http, &url).await.unwrap_err();
        assert_eq!(err.class(), expected, "{err}");
        if let Step::TooManyRequests { retry_after_secs } = step {
            assert_eq!(
                err.retry_after(),
                Some(Duration::from_secs(retry_after_secs))
            );
            assert_eq!(err.api().status, Some(429));
        }
    }
}

#[tokio::test]
async fn a_400_is_not_retried_and_keeps_the_api_message() {
    let (url, served) = scripted_server(vec![Step::BadRequest]).await;
    let http = HttpClient::new(&HttpOptions::default()).unwrap();
    let err = retry(&policy(), |_| get_json(&http, &url))
        .await
        .unwrap_err();
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(err.api().status, Some(400));
    assert!(err.api().message.contains("invalid email"), "{err}");
}

#[tokio::test]
async fn a_server_that_keeps_failing_exhausts_the_policy_and_returns_the_last_error() {
    let (url, served) = scripted_server(vec![Step::Unavailable]).await;
    let http = HttpClient::new(&HttpOptions::default()).unwrap();
    let err = retry(&policy(), |_| get_json(&http, &url))
        .await
        .unwrap_err();
    assert_eq!(served.load(Ordering::SeqCst), 6);
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.api().status, Some(503));
}
