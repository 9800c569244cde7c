//! `[metrics]`: where the daemon serves `/metrics` and `/healthz`, and whether it may serve
//! them beyond this machine.
//!
//! The endpoint carries no secret and no email, but it does tell anyone who can reach it how
//! busy the tenant is and how its sync fares, so it listens on loopback unless the admin
//! says otherwise in so many words (`allow_remote = true`, e.g. in a Kubernetes pod whose
//! network policy decides who scrapes it).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Deserialize;

/// `[metrics]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `host:port` to serve `/metrics` and `/healthz` on; absent: no listener.
    pub listen: Option<String>,
    /// Allow a `listen` address that is not loopback (a wildcard or a routable address).
    #[serde(default)]
    pub allow_remote: bool,
}

impl MetricsSection {
    /// The address to listen on, when `listen` is set and valid (validation has refused the
    /// config otherwise).
    pub fn address(&self) -> Option<SocketAddr> {
        self.listen
            .as_deref()
            .and_then(|text| parse_listen(text).ok())
    }

    /// What is wrong with the section, as (key, message) pairs under `[metrics]`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let Some(text) = self.listen.as_deref() else {
            return Vec::new();
        };
        match parse_listen(text) {
            Err(message) => vec![("listen", message)],
            Ok(addr) if !addr.ip().is_loopback() && !self.allow_remote => vec![(
                "listen",
                format!(
                    "`{text}` is not a loopback address, so /metrics and /healthz would be \
                     reachable from other machines; set allow_remote = true in [metrics] to \
                     serve them there on purpose (e.g. in a Kubernetes pod), or listen on \
                     127.0.0.1"
                ),
            )],
            Ok(_) => Vec::new(),
        }
    }
}

/// Parses `127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464` or `localhost:9464` (which means
/// 127.0.0.1: a name that resolved elsewhere would silently widen who can scrape).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let malformed = |why: &str| {
        format!(
            "`{text}` is not an address to listen on ({why}); write an IP address and a port, \
             e.g. \"127.0.0.1:9464\" or \"[::1]:9464\""
        )
    };
    if let Some(port) = text.strip_prefix("localhost:") {
        return port
            .parse::<u16>()
            .map(|port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
            .map_err(|_| malformed("the port is not a number from 0 to 65535"));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| malformed("not of the form IP:PORT"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn section(listen: &str, allow_remote: bool) -> MetricsSection {
        MetricsSection {
            listen: Some(listen.into()),
            allow_remote,
        }
    }

    #[test]
    fn loopback_addresses_are_accepted_and_others_need_allow_remote() {
        let cases = [
            ("127.0.0.1:9464", false, true),
            ("[::1]:9464", false, true),
            ("localhost:9464", false, true),
            ("0.0.0.0:9464", false, false),
            ("0.0.0.0:9464", true, true),
            ("[::]:9464", false, false),
            ("192.0.2.10:9464", false, false),
            ("192.0.2.10:9464", true, true),
        ];
        for (listen, allow_remote, ok) in cases {
            let problems = section(listen, allow_remote).problems();
            assert_eq!(
                problems.is_empty(),
                ok,
                "{listen} {allow_remote}: {problems:?}"
            );
            if !ok {
                assert!(
                    problems[0].1.contains("allow_remote = true"),
                    "{problems:?}"
                );
            }
        }
    }

    #[test]
    fn malformed_addresses_say_how_to_write_one() {
        for listen in [
            "9464",
            "127.0.0.1",
            "127.0.0.1:http",
            "metrics.example:9464",
            "",
        ] {
            let problems = section(listen, true).problems();
            assert_eq!(problems.len(), 1, "{listen}");
            assert_eq!(problems[0].0, "listen");
            assert!(problems[0].1.contains("\"127.0.0.1:9464\""), "{problems:?}");
        }
    }

    #[test]
    fn localhost_means_ipv4_loopback() {
        assert_eq!(
            section("localhost:9464", false).address(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(MetricsSection::default().address(), None);
    }
}
