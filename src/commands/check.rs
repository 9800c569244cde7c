//! `truce check`: validate the config file, reach both APIs, and check every mapping
//! against what each system says about its fields.
//!
//! Config problems stop here with exit 78 (the loader lists them all with keys and
//! lines). Then every remote check runs, even after a failure, so one run lists every fix:
//! credentials and read access on each side, the quota each reports, and the mapping
//! findings of [`crate::check`]. Exit 0 only when nothing failed; 1 otherwise. Nothing is
//! written to either system.

use std::time::Duration;

use anyhow::{Context, bail};
use truce_connectors::http::{HttpClient, HttpOptions, RetryPolicy};
use truce_connectors::hubspot::{ApiVersion, HubSpotConnector};
use truce_connectors::salesforce::SalesforceConnector;
use truce_connectors::{Connector, FieldInfo, ObjectType, System};

use crate::check::{Described, Line, Verdict, mapping_checks};
use crate::cli::{CheckArgs, Global};
use crate::config::{self, Loaded, Pair};
use crate::connect;
use crate::engine::settings::Settings;

/// Validates the config (and with the network, both APIs) and prints a checklist with a
/// verdict.
pub async fn run(global: &Global, args: &CheckArgs) -> anyhow::Result<()> {
    let loaded = config::load(&global.config)?;
    let cfg = &loaded.config;
    println!("truce check: {}", loaded.path.display());
    println!("config");
    println!("  ok    the file parses; every key is known");
    println!("  ok    secrets resolved (hubspot, salesforce)");
    println!(
        "  ok    {} field mapping{}; email links the two systems",
        cfg.fields.len(),
        if cfg.fields.len() == 1 { "" } else { "s" }
    );
    println!(
        "  ok    state file: {}",
        global.state.as_ref().unwrap_or(&cfg.state.path).display()
    );
    let metrics = crate::metrics::check_line(&cfg.metrics);
    if let Some(line) = &metrics {
        println!("{line}");
    }
    let metrics_failed = metrics.filter(|l| l.verdict == Verdict::Fail).is_some();
    if args.offline {
        if metrics_failed {
            println!("verdict: FAIL, the metrics address cannot be bound (listed above)");
            bail!("truce check found 1 problem");
        }
        println!("verdict: config is valid (--offline: neither API was contacted)");
        return Ok(());
    }
    let lines = remote_checks(&loaded).await?;
    let failed = lines
        .iter()
        .filter(|(_, l)| l.verdict == Verdict::Fail)
        .count()
        + usize::from(metrics_failed);
    let warned = lines
        .iter()
        .filter(|(_, l)| l.verdict == Verdict::Warn)
        .count();
    let mut section = "";
    for (heading, line) in &lines {
        if *heading != section {
            println!("{heading}");
            section = heading;
        }
        println!("{line}");
    }
    if failed > 0 {
        println!(
            "verdict: FAIL, {failed} problem{} to fix (listed above); nothing was written to \
             either system",
            if failed == 1 { "" } else { "s" }
        );
        bail!(
            "truce check found {failed} problem{}",
            if failed == 1 { "" } else { "s" }
        );
    }
    if warned > 0 {
        println!("verdict: ready, with {warned} warning(s) worth reading");
    } else {
        println!("verdict: ready: config, both APIs and every mapping check out");
    }
    Ok(())
}

/// Every remote finding, each under its section heading.
async fn remote_checks(loaded: &Loaded) -> anyhow::Result<Vec<(&'static str, Line)>> {
    let settings = Settings::from_config(&loaded.config);
    // An admin is waiting at the terminal: a host that does not answer should be reported
    // within seconds, not after the daemon's five minutes of patient retrying.
    let http = HttpClient::new(&HttpOptions {
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(30),
        ..HttpOptions::default()
    })
    .context("building the HTTP client")?;
    let retry = RetryPolicy {
        max_attempts: 3,
        max_elapsed: Duration::from_secs(20),
        ..RetryPolicy::default()
    };
    let mut hubspot_config = connect::hubspot_config(loaded, &settings);
    hubspot_config.retry = retry.clone();
    let mut salesforce_config = connect::salesforce_config(loaded, &settings);
    salesforce_config.retry = retry;
    let hubspot = HubSpotConnector::new(hubspot_config, http.clone())
        .context("setting up the HubSpot connector")?;
    let salesforce = SalesforceConnector::new(salesforce_config, http)
        .context("setting up the Salesforce connector")?;
    let mut out = Vec::new();
    let (properties, hubspot_lines) = hubspot_checks(loaded, &hubspot).await;
    out.extend(hubspot_lines.into_iter().map(|l| ("HubSpot", l)));
    let (lead, contact, salesforce_lines) = salesforce_checks(loaded, &salesforce).await;
    out.extend(salesforce_lines.into_iter().map(|l| ("Salesforce", l)));
    let (revenue, revenue_lines) = describe_revenue(loaded, &hubspot, &salesforce).await;
    out.extend(revenue_lines);
    let mut described = Described::default()
        .with(ObjectType::HubSpotContact, properties.as_deref())
        .with(ObjectType::SalesforceLead, lead.as_deref())
        .with(ObjectType::SalesforceContact, contact.as_deref());
    for (object, fields) in &revenue {
        described = described.with(*object, Some(fields));
    }
    let source = std::fs::read_to_string(&loaded.path)
        .with_context(|| format!("reading {}", loaded.path.display()))?;
    let line_of_field = |i: usize| config::field_line(&source, i);
    out.extend(
        mapping_checks(&loaded.config, &described, &line_of_field)
            .into_iter()
            .map(|l| ("field mappings", l)),
    );
    if let Some(sla) = &loaded.config.sla {
        out.extend(
            sla_lines(sla, &hubspot, &salesforce)
                .await
                .into_iter()
                .map(|l| ("SLA", l)),
        );
    }
    Ok(out)
}

/// Describes the objects of the revenue pairs the config syncs (companies and Accounts,
/// deals and Opportunities), one line each.
async fn describe_revenue(
    loaded: &Loaded,
    hubspot: &HubSpotConnector,
    salesforce: &SalesforceConnector,
) -> (Vec<(ObjectType, Vec<FieldInfo>)>, Vec<(&'static str, Line)>) {
    let mut described = Vec::new();
    let mut lines = Vec::new();
    for pair in [Pair::Companies, Pair::Deals] {
        if !loaded.config.sync.objects.contains(&pair) {
            continue;
        }
        for object in [pair.hubspot_object()]
            .into_iter()
            .chain(pair.salesforce_objects().iter().copied())
        {
            let (side, answer) = match object.system() {
                System::HubSpot => ("HubSpot", Connector::describe(hubspot, object).await),
                System::Salesforce => ("Salesforce", Connector::describe(salesforce, object).await),
            };
            match answer {
                Ok(fields) => {
                    lines.push((
                        side,
                        Line::ok(format!("{object} described ({} fields)", fields.len())),
                    ));
                    described.push((object, fields));
                }
                Err(err) => lines.push((
                    side,
                    Line::fail(format!(
                        "describing {object} failed: {}; truce's user needs read access to it",
                        chain(&err)
                    )),
                )),
            }
        }
    }
    (described, lines)
}

/// `[sla]` against each system's own description of the fields it names.
async fn sla_lines(
    sla: &config::SlaSection,
    hubspot: &HubSpotConnector,
    salesforce: &SalesforceConnector,
) -> Vec<Line> {
    let mut lines = Vec::new();
    let contact = match Connector::describe(hubspot, ObjectType::HubSpotContact).await {
        Ok(fields) => Some(fields),
        Err(err) => {
            lines.push(Line::fail(format!(
                "sla: describing HubSpot contacts failed: {}",
                chain(&err)
            )));
            None
        }
    };
    let lead = match Connector::describe(salesforce, ObjectType::SalesforceLead).await {
        Ok(fields) => Some(fields),
        Err(err) => {
            lines.push(Line::fail(format!(
                "sla: describing the Salesforce Lead failed: {}",
                chain(&err)
            )));
            None
        }
    };
    lines.extend(crate::check::sla::sla_checks(
        sla,
        contact.as_deref(),
        lead.as_deref(),
    ));
    lines
}

/// The error and its causes on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

async fn hubspot_checks(
    loaded: &Loaded,
    hubspot: &dyn Connector,
) -> (Option<Vec<FieldInfo>>, Vec<Line>) {
    let base = &loaded.config.hubspot.base_url;
    let mut lines = vec![api_version_line(&loaded.config.hubspot.api_version)];
    match hubspot.scan(ObjectType::HubSpotContact, None).await {
        Ok(page) => lines.push(Line::ok(format!(
            "{base} answered; the credentials are accepted and can read contacts \
             (crm.objects.contacts.read; {} read)",
            page.records.len()
        ))),
        Err(err) => lines.push(Line::fail(format!(
            "reading contacts from {base} failed: {}; check [hubspot] base_url and the \
             token, and that the app has the crm.objects.contacts.read scope",
            chain(&err)
        ))),
    }
    let properties = match hubspot.describe(ObjectType::HubSpotContact).await {
        Ok(properties) => {
            lines.push(Line::ok(format!(
                "contact property definitions readable (crm.schemas.contacts.read): {} \
                 properties",
                properties.len()
            )));
            Some(properties)
        }
        Err(err) => {
            lines.push(Line::fail(format!(
                "reading contact property definitions failed: {}; the app needs the \
                 crm.schemas.contacts.read scope",
                chain(&err)
            )));
            None
        }
    };
    // Quota is only known after a call that got an answer.
    if lines.iter().all(|l| l.verdict == Verdict::Fail) {
        return (properties, lines);
    }
    lines.push(match hubspot.quota() {
        Some(q) => quota_line(
            "HubSpot",
            q.used,
            q.limit,
            loaded.config.hubspot.daily_share,
        ),
        None => Line::ok(format!(
            "HubSpot sent no daily-quota headers on these calls; truce counts its own calls \
             against [hubspot] daily_quota = {} (share {})",
            loaded.config.hubspot.daily_quota, loaded.config.hubspot.daily_share
        )),
    });
    (properties, lines)
}

async fn salesforce_checks(
    loaded: &Loaded,
    salesforce: &SalesforceConnector,
) -> (Option<Vec<FieldInfo>>, Option<Vec<FieldInfo>>, Vec<Line>) {
    let login = &loaded.config.salesforce.login_url;
    let grant = salesforce.grant();
    let mut lines = Vec::new();
    // Log in first: a refused login is one line naming its cause, not one per object.
    if let Err(err) = salesforce.login().await {
        lines.push(Line::fail(format!(
            "logging in at {login} ({grant} grant) failed: {}",
            chain(&err)
        )));
        return (None, None, lines);
    }
    let mut described = [None, None];
    for (slot, object) in [ObjectType::SalesforceLead, ObjectType::SalesforceContact]
        .into_iter()
        .enumerate()
    {
        match Connector::describe(salesforce, object).await {
            Ok(fields) => {
                lines.push(Line::ok(format!(
                    "{object} described ({} fields)",
                    fields.len()
                )));
                described[slot] = Some(fields);
            }
            Err(err) => lines.push(Line::fail(format!(
                "describing {object} failed: {}; check [salesforce] login_url ({login}), \
                 the connected app's credentials and grant, and that truce's user can read \
                 Leads and Contacts (API Enabled, object read access)",
                chain(&err)
            ))),
        }
    }
    if described.iter().any(Option::is_some) {
        lines.insert(
            0,
            Line::ok(format!(
                "logged in at {login} ({grant} grant); the REST API answers"
            )),
        );
    }
    if described.iter().all(Option::is_none) {
        let [lead, contact] = described;
        return (lead, contact, lines);
    }
    lines.push(match salesforce.quota() {
        Some(q) => quota_line(
            "Salesforce",
            q.used,
            q.limit,
            loaded.config.salesforce.daily_share,
        ),
        None => Line::warn(
            "Salesforce sent no Sforce-Limit-Info header; truce cannot see the org's daily \
             API usage until it does",
        ),
    });
    let [lead, contact] = described;
    (lead, contact, lines)
}

/// Which family of HubSpot paths truce speaks, and what that means for the admin.
fn api_version_line(api_version: &str) -> Line {
    match ApiVersion::parse(api_version).unwrap_or_default() {
        ApiVersion::V2026_09 => Line::ok(
            "speaks HubSpot API 2026-09 ([hubspot] api_version): the portal's write \
             validation rules apply to truce's writes; a refusal is quarantined",
        ),
        ApiVersion::V3 => Line::warn(
            "speaks HubSpot's legacy v3/v4 paths ([hubspot] api_version = \"v3\"); HubSpot \
             stops supporting them in 2027: move to \"2026-09\" (docs/operations.md)",
        ),
    }
}

/// The quota reported by a system, against the share truce may spend.
fn quota_line(system: &str, used: u64, limit: u64, share: f64) -> Line {
    let allowed = (limit as f64 * share) as u64;
    let text = format!(
        "{system} daily API quota: {used} of {limit} used today; truce may spend up to \
         {allowed} (daily_share {share})"
    );
    if limit > 0 && used >= allowed {
        Line::warn(format!(
            "{text}; already at or over the share, so truce will pause until the quota resets"
        ))
    } else {
        Line::ok(text)
    }
}
