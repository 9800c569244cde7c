//! The one token cache: the bearer token every call sends, renewed ahead of its expiry
//! when the vendor said how long it lives, and at most once per refusal.
//!
//! Each token has a *generation*, bumped at every renewal. A call remembers the generation
//! it sent; when the API refuses it, the call asks to renew *that* generation. The first
//! caller to arrive renews; callers that saw the same refusal find a newer generation and
//! go on with it. So any number of concurrent 401s cause one token request.
//!
//! Renewals are made one at a time (a lock held across the token request): a burst of
//! calls at start-up, or after an expiry, costs one token request, not one per call.
//!
//! Secrets: the token is a [`Secret`]; nothing here logs it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::Error;
use crate::secret::Secret;

/// A token as the vendor's token endpoint issued it.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer token.
    pub bearer: Secret,
    /// How long it lives, when the vendor says (HubSpot OAuth: `expires_in`); `None` until
    /// the API refuses it (static tokens, Salesforce sessions).
    pub lifetime: Option<Duration>,
    /// Where the API lives for this token, when the token endpoint says (Salesforce's
    /// `instance_url`), without a trailing slash.
    pub base_url: Option<String>,
}

impl Token {
    /// A token that never expires by itself.
    pub fn bearer(bearer: Secret) -> Token {
        Token {
            bearer,
            lifetime: None,
            base_url: None,
        }
    }
}

/// A token in use, with the generation it belongs to.
#[derive(Debug)]
pub struct Issued {
    /// The token.
    pub token: Token,
    /// Which renewal produced it (1 for the first).
    pub generation: u64,
    renew_at: Option<Instant>,
}

impl Issued {
    fn fresh(&self) -> bool {
        self.renew_at.is_none_or(|at| Instant::now() < at)
    }
}

/// The current token of one connector.
#[derive(Debug, Default)]
pub struct TokenCache {
    current: Mutex<Option<Arc<Issued>>>,
}

impl TokenCache {
    /// The token to send now: the cached one while it is fresh, else a new one from
    /// `fetch`.
    pub async fn current<F, Fut>(&self, fetch: F) -> Result<Arc<Issued>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, Error>>,
    {
        let mut current = self.current.lock().await;
        if let Some(issued) = current.as_ref().filter(|i| i.fresh()) {
            return Ok(issued.clone());
        }
        Self::replace(&mut current, fetch).await
    }

    /// Renews the token after the API refused generation `refused`, unless another caller
    /// already did; returns the token to send next.
    pub async fn renew<F, Fut>(&self, refused: u64, fetch: F) -> Result<Arc<Issued>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, Error>>,
    {
        let mut current = self.current.lock().await;
        if let Some(issued) = current.as_ref().filter(|i| i.generation != refused) {
            return Ok(issued.clone());
        }
        let issued = Self::replace(&mut current, fetch).await?;
        tracing::debug!(generation = issued.generation, "session renewed");
        Ok(issued)
    }

    async fn replace<F, Fut>(
        current: &mut Option<Arc<Issued>>,
        fetch: F,
    ) -> Result<Arc<Issued>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, Error>>,
    {
        let token = fetch().await?;
        // Renew ahead of the expiry, by a margin that suits short and long lifetimes alike.
        let renew_at = token.lifetime.map(|lifetime| {
            let lifetime = lifetime.max(Duration::from_secs(1));
            let margin = (lifetime / 2).min(Duration::from_secs(60));
            Instant::now() + lifetime - margin
        });
        let generation = current.as_ref().map_or(1, |i| i.generation + 1);
        let issued = Arc::new(Issued {
            token,
            generation,
            renew_at,
        });
        *current = Some(issued.clone());
        Ok(issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn counting(fetched: &AtomicU32) -> Result<Token, Error> {
        let n = fetched.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Token::bearer(Secret::new(format!("token-{n}"))))
    }

    #[tokio::test]
    async fn concurrent_refusals_of_one_generation_renew_once() {
        let cache = TokenCache::default();
        let fetched = AtomicU32::new(0);
        let first = cache.current(|| counting(&fetched)).await.ok();
        let generation = first.map_or(0, |i| i.generation);
        let renewals = (0..5).map(|_| cache.renew(generation, || counting(&fetched)));
        let renewed = futures::future::join_all(renewals).await;
        assert!(
            renewed
                .iter()
                .all(|r| r.as_ref().is_ok_and(|i| i.generation == 2))
        );
        assert_eq!(fetched.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_with_a_lifetime_is_renewed_ahead_of_its_expiry() {
        let cache = TokenCache::default();
        let fetched = AtomicU32::new(0);
        let fetch = || async {
            fetched.fetch_add(1, Ordering::SeqCst);
            Ok(Token {
                lifetime: Some(Duration::from_secs(1800)),
                ..Token::bearer(Secret::new("t"))
            })
        };
        assert!(cache.current(fetch).await.is_ok());
        tokio::time::advance(Duration::from_secs(1739)).await;
        assert!(cache.current(fetch).await.is_ok());
        assert_eq!(fetched.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cache.current(fetch).await.is_ok());
        assert_eq!(fetched.load(Ordering::SeqCst), 2);
    }
}
