//! The daemon behind `truce run`: the poll loop, systemd notification, graceful stop.
//!
//! The shutdown signal is a parameter ([`CancellationToken`]), so tests stop the loop
//! themselves. On shutdown a cycle in flight gets [`DRAIN`] to finish; past that it is
//! dropped, which is safe: every step commits before the next starts, and a write sent but
//! not recorded is sent again on the next start (updates and upserts are idempotent).
//!
//! systemd (`Type=notify`): the caller sends READY once the store is migrated and both APIs
//! answered; the loop sends `WATCHDOG=1` after every cycle and while waiting, and `STATUS=`
//! with the last cycle's summary. [`run_reporting`] also tells an onlooker how each cycle
//! ended ([`Ended`]): the metrics' `/healthz` gives the last failure as its reason.

use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::engine::{CycleSummary, Engine, EngineError};

/// How long a cycle in flight may take to finish after a stop is requested; systemd's
/// default stop timeout leaves room for it.
pub const DRAIN: Duration = Duration::from_secs(8);

/// Sends sd_notify messages when systemd provides `NOTIFY_SOCKET`; does nothing otherwise.
#[derive(Debug, Default)]
pub struct Notifier {
    socket: Option<std::path::PathBuf>,
    abstract_name: Option<Vec<u8>>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
    pub fn from_env() -> Notifier {
        match std::env::var_os("NOTIFY_SOCKET") {
            None => Notifier::default(),
            Some(value) => {
                let bytes = value.as_encoded_bytes();
                match bytes.strip_prefix(b"@") {
                    Some(name) => Notifier {
                        socket: None,
                        abstract_name: Some(name.to_vec()),
                    },
                    None => Notifier {
                        socket: Some(std::path::PathBuf::from(value)),
                        abstract_name: None,
                    },
                }
            }
        }
    }

    /// Sends one notification (`READY=1`, `STATUS=...`); failures are logged at DEBUG only,
    /// since a missing listener must never stop the sync.
    pub fn notify(&self, message: &str) {
        if let Err(err) = self.send(message) {
            tracing::debug!(%err, "sd_notify failed");
        }
    }

    fn send(&self, message: &str) -> std::io::Result<()> {
        use std::os::unix::net::UnixDatagram;
        let socket = match (&self.socket, &self.abstract_name) {
            (None, None) => return Ok(()),
            _ => UnixDatagram::unbound()?,
        };
        // As sd_notify(3) does (MSG_DONTWAIT): a listener that does not read, and whose
        // queue is full, loses a status line; it must never stall the sync.
        socket.set_nonblocking(true)?;
        if let Some(path) = &self.socket {
            socket.send_to(message.as_bytes(), path)?;
        } else if let Some(name) = &self.abstract_name {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(message.as_bytes(), &addr)?;
        }
        Ok(())
    }
}

/// Runs cycles every `interval` until `stop` is cancelled.
pub async fn run(
    engine: &mut Engine,
    interval: Duration,
    notifier: &Notifier,
    stop: CancellationToken,
) {
    run_observed(engine, interval, notifier, stop, |_| {}).await;
}

/// [`run`], handing each finished cycle's summary to `on_cycle` (the demo totals them for
/// its closing table).
pub async fn run_observed(
    engine: &mut Engine,
    interval: Duration,
    notifier: &Notifier,
    stop: CancellationToken,
    mut on_cycle: impl FnMut(&CycleSummary),
) {
    run_reporting(engine, interval, notifier, stop, |ended| {
        if let Ended::Done(summary) = ended {
            on_cycle(summary);
        }
    })
    .await;
}

/// How a cycle ended, for onlookers (the metrics' `/healthz` says why it is unhealthy).
#[derive(Debug, Clone, Copy)]
pub enum Ended<'a> {
    /// The cycle finished.
    Done(&'a CycleSummary),
    /// The cycle failed; the next poll tries again.
    Failed(&'a EngineError),
}

/// [`run`], handing how each cycle ended to `on_end`.
pub async fn run_reporting(
    engine: &mut Engine,
    interval: Duration,
    notifier: &Notifier,
    stop: CancellationToken,
    mut on_end: impl FnMut(Ended<'_>),
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut watchdog = tokio::time::interval(Duration::from_secs(10));
    watchdog.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = watchdog.tick() => {
                notifier.notify("WATCHDOG=1");
                continue;
            }
            _ = ticker.tick() => {}
        }
        let (result, stopping) = {
            let cycle = engine.cycle();
            tokio::pin!(cycle);
            tokio::select! {
                result = &mut cycle => (Some(result), false),
                _ = stop.cancelled() => {
                    tracing::info!("stop requested: finishing the cycle in flight");
                    (tokio::time::timeout(DRAIN, &mut cycle).await.ok(), true)
                }
            }
        };
        match result {
            Some(Ok(summary)) => {
                on_end(Ended::Done(&summary));
                notifier.notify(&format!("WATCHDOG=1\nSTATUS={}", status_line(&summary)));
            }
            Some(Err(err)) => {
                on_end(Ended::Failed(&err));
                tracing::error!(error = %err, "cycle failed; retrying at the next poll");
                notifier.notify(&format!("WATCHDOG=1\nSTATUS=last cycle failed: {err}"));
            }
            None => tracing::warn!(
                "stopped mid-cycle after {}s; the store is consistent and the next start resumes",
                DRAIN.as_secs()
            ),
        }
        if stopping {
            break;
        }
    }
    notifier.notify("STOPPING=1");
    tracing::info!("stopped");
}

fn status_line(s: &CycleSummary) -> String {
    format!(
        "pulled {}+{}, wrote {} to HubSpot and {} to Salesforce, {} conflicts, {} quarantined, lag {}s",
        s.pulled_hubspot,
        s.pulled_salesforce,
        s.written_hubspot,
        s.written_salesforce,
        s.conflicts,
        s.quarantined,
        s.lag_ms / 1000
    )
}

/// A token cancelled by SIGTERM or SIGINT.
pub fn stop_on_signals() -> std::io::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    tracing::warn!(
                        "SIGHUP: truce does not reload its config while running; \
                         restart it (systemctl restart truce) to apply changes"
                    );
                }
            }
        }
        cancel.cancel();
    });
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_socket_systemd_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: Some(path),
            abstract_name: None,
        };
        notifier.notify("READY=1\nSTATUS=ok");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=ok");
    }

    #[test]
    fn a_listener_that_does_not_read_never_blocks_a_notification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: Some(path),
            abstract_name: None,
        };
        // Far more than a datagram socket queues (net.unix.max_dgram_qlen, 10 by default):
        // were a send to block, this test would hang.
        for i in 0..1000 {
            notifier.notify(&format!("STATUS=cycle {i}"));
        }
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STATUS=cycle 0");
    }

    #[test]
    fn without_notify_socket_nothing_is_sent_and_nothing_fails() {
        Notifier::default().notify("READY=1");
    }
}
