//! Who may call the sandbox, and how often: bearer auth (static token and OAuth access
//! tokens with their expiry), the OAuth refresh grant, and HubSpot's three rate limits
//! (per rolling 10 s, per second for search, per day) with their 429s and headers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::response::Response;

use super::errors::{self, Policy};
use super::wire::TokenResponse;
use super::{Inner, routes, schema};
use crate::lock;

impl Inner {
    pub(super) fn authenticate(&self, headers: &HeaderMap) -> Result<(), Response> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(token) = token else {
            return Err(errors::unauthenticated());
        };
        if token == self.options.token {
            return Ok(());
        }
        let expiry = lock(&self.oauth).issued.get(token).copied();
        match expiry {
            Some(until) if until > Instant::now() => Ok(()),
            Some(until) => {
                let ago = Instant::now().saturating_duration_since(until);
                let at = chrono::Utc::now() - chrono::Duration::from_std(ago).unwrap_or_default();
                Err(errors::expired(
                    ago.as_secs(),
                    &schema::iso(at.timestamp_millis()),
                ))
            }
            None => Err(errors::unauthenticated()),
        }
    }

    /// Spends one call from the budgets, or answers the 429 of the first one spent.
    pub(super) fn spend(&self, search: bool) -> Result<(), Response> {
        let now = Instant::now();
        let mut rate = lock(&self.rate);
        let today = chrono::Utc::now().timestamp_millis().div_euclid(86_400_000);
        if rate.day != today {
            rate.day = today;
            rate.day_count = 0;
        }
        if let Some(limit) = self.options.daily_limit
            && rate.day_count >= limit
        {
            rate.hits.daily += 1;
            let mut response = errors::rate_limited(Policy::Daily, None);
            if !search {
                drop(rate);
                self.rate_headers(response.headers_mut(), Some(0));
            }
            return Err(response);
        }
        if search {
            if let Some(limit) = self.options.search_per_second {
                trim(&mut rate.search, now, Duration::from_secs(1));
                if rate.search.len() >= limit as usize {
                    rate.hits.secondly += 1;
                    return Err(errors::rate_limited(Policy::Secondly, None));
                }
                rate.search.push_back(now);
            }
        } else if let Some(limit) = self.options.requests_per_10s {
            trim(&mut rate.burst, now, Duration::from_secs(10));
            if rate.burst.len() >= limit as usize {
                rate.hits.ten_secondly += 1;
                drop(rate);
                let mut response = errors::rate_limited(Policy::TenSecondlyRolling, None);
                self.rate_headers(response.headers_mut(), Some(0));
                return Err(response);
            }
            rate.burst.push_back(now);
        }
        rate.day_count += 1;
        Ok(())
    }

    pub(super) fn rate_headers(&self, headers: &mut HeaderMap, remaining: Option<u32>) {
        let Some(max) = self.options.requests_per_10s else {
            return;
        };
        let mut rate = lock(&self.rate);
        trim(&mut rate.burst, Instant::now(), Duration::from_secs(10));
        let left = remaining.unwrap_or_else(|| max.saturating_sub(rate.burst.len() as u32));
        let daily = self
            .options
            .daily_limit
            .map(|limit| (limit, limit.saturating_sub(rate.day_count)));
        routes::set_rate_headers(headers, max, left, daily);
    }

    pub(super) fn refresh(
        &self,
        grant: &str,
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
    ) -> Option<TokenResponse> {
        let app = self.options.oauth.as_ref()?;
        if grant != "refresh_token"
            || client_id != app.client_id
            || client_secret != app.client_secret
            || refresh_token != app.refresh_token
        {
            return None;
        }
        let mut oauth = lock(&self.oauth);
        oauth.refreshes += 1;
        let token = format!(
            "CJSP{}x{:016x}",
            oauth.refreshes,
            self.options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ oauth.refreshes
        );
        oauth
            .issued
            .insert(token.clone(), Instant::now() + app.access_token_lifetime);
        Some(TokenResponse {
            access_token: token,
            refresh_token: Some(app.refresh_token.clone()),
            expires_in: app.access_token_lifetime.as_secs(),
            token_type: "bearer".into(),
        })
    }
}

fn trim(window: &mut VecDeque<Instant>, now: Instant, span: Duration) {
    while window
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= span)
    {
        window.pop_front();
    }
}
