//! Everything about a config that serde cannot check, reported all at once.
//!
//! Each check adds a [`Problem`] naming the dotted key and its line; nothing stops at the
//! first problem, so one run of `truce check` lists every fix the file needs.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use truce_connectors::Secret;

use super::locate::{Step, line_of};
use truce_connectors::ObjectType;
use truce_connectors::hubspot::ApiVersion;

use super::{
    Config, FieldMapping, Grant, HubSpotCredentials, Pair, Problem, SecretSource, Secrets,
};

/// Collects problems with their key paths and lines.
struct Report<'a> {
    source: &'a str,
    problems: Vec<Problem>,
}

impl Report<'_> {
    fn add(&mut self, path: &[Step<'_>], message: impl Into<String>) {
        // A key that is absent (defaulted or missing) has no line; its table may.
        let line = (1..=path.len())
            .rev()
            .find_map(|len| line_of(self.source, &path[..len]));
        self.problems.push(Problem {
            key: render_path(path),
            line,
            message: message.into(),
        });
    }

    fn secret(&mut self, path: &[Step<'_>], source: &SecretSource, dir: &Path) -> Option<Secret> {
        match source.resolve(dir) {
            Ok(secret) => Some(secret),
            Err(message) => {
                self.add(path, message);
                None
            }
        }
    }
}

fn render_path(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Checks `config` (parsed from `source`) and resolves its secrets, relative file paths
/// against `config_dir`.
pub fn validate(config: &Config, source: &str, config_dir: &Path) -> Result<Secrets, Vec<Problem>> {
    let mut report = Report {
        source,
        problems: Vec::new(),
    };
    check_url(&mut report, "hubspot", "base_url", &config.hubspot.base_url);
    check_url(
        &mut report,
        "salesforce",
        "login_url",
        &config.salesforce.login_url,
    );
    check_limits(&mut report, config);
    check_sync(&mut report, config);
    check_fields(&mut report, &config.fields, &config.sync.objects);
    for (key, message) in config.metrics.problems() {
        report.add(&[Step::Key("metrics"), Step::Key(key)], message);
    }
    for (key, message) in config.sla.iter().flat_map(|s| s.problems(&config.fields)) {
        report.add(&[Step::Key("sla"), Step::Key(key)], message);
    }
    let secrets = resolve_secrets(&mut report, config, config_dir);
    match secrets {
        Some(secrets) if report.problems.is_empty() => Ok(secrets),
        _ => Err(report.problems),
    }
}

/// Tokens must not travel in clear text: `http://` only to this machine (sandboxes).
fn check_url(report: &mut Report<'_>, section: &str, key: &str, value: &str) {
    let path = [Step::Key(section), Step::Key(key)];
    let url = match url::Url::parse(value) {
        Ok(url) => url,
        Err(err) => {
            report.add(&path, format!("`{value}` is not a URL: {err}"));
            return;
        }
    };
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url.host()) => {}
        "http" => report.add(
            &path,
            format!(
                "`{value}` is plain http to a host that is not this machine; tokens would \
                 travel in clear text. Use https:// (http:// is allowed only for 127.0.0.1, \
                 ::1 or localhost, e.g. the sandboxes)"
            ),
        ),
        other => report.add(&path, format!("`{value}`: scheme `{other}` is not http(s)")),
    }
}

fn is_loopback(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn check_limits(report: &mut Report<'_>, config: &Config) {
    let hubspot = &config.hubspot;
    for (key, share) in [
        (("hubspot", "daily_share"), hubspot.daily_share),
        (("salesforce", "daily_share"), config.salesforce.daily_share),
    ] {
        if !(share > 0.0 && share <= 1.0) {
            report.add(
                &[Step::Key(key.0), Step::Key(key.1)],
                format!("{share} is not a share; give a number above 0 and at most 1, e.g. 0.5"),
            );
        }
    }
    let positive = [
        ("requests_per_10s", u64::from(hubspot.requests_per_10s)),
        (
            "search_requests_per_second",
            u64::from(hubspot.search_requests_per_second),
        ),
        ("daily_quota", hubspot.daily_quota),
    ];
    for (key, value) in positive {
        if value == 0 {
            report.add(
                &[Step::Key("hubspot"), Step::Key(key)],
                "must be at least 1",
            );
        }
    }
    if config.salesforce.max_concurrency == 0 {
        report.add(
            &[Step::Key("salesforce"), Step::Key("max_concurrency")],
            "must be at least 1",
        );
    }
    let hubspot_version = &config.hubspot.api_version;
    if ApiVersion::parse(hubspot_version).is_none() {
        report.add(
            &[Step::Key("hubspot"), Step::Key("api_version")],
            format!(
                "`{hubspot_version}` is not a HubSpot API version truce speaks; write \
                 \"2026-09\" (the default) or \"v3\" (the legacy paths)"
            ),
        );
    }
    let version = &config.salesforce.api_version;
    let well_formed = version.split_once('.').is_some_and(|(major, minor)| {
        !major.is_empty() && major.chars().all(|c| c.is_ascii_digit()) && minor == "0"
    });
    if !well_formed {
        report.add(
            &[Step::Key("salesforce"), Step::Key("api_version")],
            format!("`{version}` is not an API version; write it like \"62.0\""),
        );
    }
    if let Some(field) = &config.salesforce.external_id_field
        && !is_api_name(field)
    {
        report.add(
            &[Step::Key("salesforce"), Step::Key("external_id_field")],
            format!("`{field}` is not a Salesforce field API name"),
        );
    }
}

fn check_sync(report: &mut Report<'_>, config: &Config) {
    let sync = &config.sync;
    if sync.poll_interval.as_millis() < 1000 {
        report.add(
            &[Step::Key("sync"), Step::Key("poll_interval")],
            "must be at least 1s; polling faster spends quota without seeing changes sooner",
        );
    }
    if sync.qualify.values.is_empty() {
        report.add(
            &[Step::Key("sync"), Step::Key("qualify")],
            "`values` is empty, so no HubSpot contact would ever be created in Salesforce",
        );
    }
    if config.state.path.as_os_str().is_empty() {
        report.add(&[Step::Key("state"), Step::Key("path")], "is empty");
    }
}

/// Whether a pair's mappings would be used: `contacts` always syncs, the others when
/// `[sync] objects` lists them.
fn synced(pair: Pair, objects: &[Pair]) -> bool {
    pair == Pair::Contacts || objects.contains(&pair)
}

fn not_synced(pair: Pair) -> String {
    format!(
        "maps the `{pair}` pair, which `[sync] objects` does not list, so it would never \
         be used; add \"{pair}\" to `[sync] objects`, or remove the mapping"
    )
}

fn check_fields(report: &mut Report<'_>, fields: &[FieldMapping], objects: &[Pair]) {
    if !fields.iter().any(is_email_mapping) {
        report.add(
            &[Step::Key("field")],
            "no mapping of HubSpot `email` to Salesforce `Email`; truce links people by \
             email, so add [[field]] hubspot = \"email\" salesforce = \"Email\"",
        );
    }
    let mut targets: BTreeMap<(ObjectType, &str), usize> = BTreeMap::new();
    for (i, field) in fields.iter().enumerate() {
        let at = |key| [Step::Key("field"), Step::Index(i), Step::Key(key)];
        if !synced(field.object, objects) {
            report.add(&at("object"), not_synced(field.object));
            continue;
        }
        let foreign: Vec<&str> = field
            .on
            .iter()
            .flatten()
            .filter(|o| !field.object.salesforce_objects().contains(o))
            .map(|o| o.as_str())
            .collect();
        if !foreign.is_empty() {
            report.add(
                &at("on"),
                format!(
                    "{} {} not part of the `{}` pair (its Salesforce objects: {})",
                    foreign.join(", "),
                    if foreign.len() == 1 { "is" } else { "are" },
                    field.object,
                    field
                        .object
                        .salesforce_objects()
                        .iter()
                        .map(|o| o.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let reference = field.hubspot.starts_with('@');
        let target = crate::engine::mapping::Reference::of(&field.hubspot);
        if reference && target.is_none() {
            report.add(
                &at("hubspot"),
                format!(
                    "`{}` is not an association truce knows; use @company, @contacts or @deals",
                    field.hubspot
                ),
            );
        } else if let Some(target) = target.filter(|t| !synced(t.target, objects)) {
            report.add(
                &at("hubspot"),
                format!(
                    "`{}` points at `{}`, which `[sync] objects` does not list; truce can \
                     only write a reference to a record it links, so add \"{}\" to \
                     `[sync] objects`, or remove the mapping",
                    field.hubspot, target.target, target.target
                ),
            );
        } else if !reference && !is_api_name(&field.hubspot) {
            report.add(
                &at("hubspot"),
                format!("`{}` is not a property name", field.hubspot),
            );
        }
        if !is_api_name(&field.salesforce) {
            report.add(
                &at("salesforce"),
                format!("`{}` is not a field name", field.salesforce),
            );
        }
        if field.on.as_ref().is_some_and(Vec::is_empty) {
            report.add(
                &at("on"),
                format!(
                    "is empty; list the {} objects it applies to, or leave `on` out for all",
                    field.object
                ),
            );
        }
        let on = field
            .on
            .as_deref()
            .unwrap_or(field.object.salesforce_objects());
        let clashes: Vec<String> = on
            .iter()
            .filter_map(|object| {
                let first = targets.insert((*object, field.salesforce.as_str()), i)?;
                Some(format!("{object}.{} (field[{first}])", field.salesforce))
            })
            .collect();
        if !clashes.is_empty() {
            report.add(
                &at("salesforce"),
                format!(
                    "already mapped: {}; one Salesforce field takes its value from one \
                     mapping only (use `on` to split Lead and Contact)",
                    clashes.join(", ")
                ),
            );
        }
    }
}

fn is_email_mapping(field: &FieldMapping) -> bool {
    field.hubspot == "email" && field.salesforce == "Email"
}

fn is_api_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn resolve_secrets(report: &mut Report<'_>, config: &Config, dir: &Path) -> Option<Secrets> {
    let hubspot = resolve_hubspot(report, config, dir);
    let sf = &config.salesforce;
    let key = |name| [Step::Key("salesforce"), Step::Key(name)];
    let client_id = report.secret(&key("client_id"), &sf.client_id, dir);
    let client_secret = match (sf.grant, &sf.client_secret) {
        // The JWT bearer grant authenticates the app by its signature.
        (Grant::JwtBearer, _) => Some(None),
        (grant, None) => {
            report.add(
                &key("client_secret"),
                format!(
                    "grant = \"{}\" needs client_secret = {{ env = ... }}",
                    grant.as_str()
                ),
            );
            None
        }
        (_, Some(source)) => Some(report.secret(&key("client_secret"), source, dir)),
    };
    let refresh_token = match (sf.grant, &sf.refresh_token) {
        (Grant::RefreshToken, None) => {
            report.add(
                &key("refresh_token"),
                "grant = \"refresh_token\" needs refresh_token = { env = ... }",
            );
            None
        }
        (Grant::RefreshToken, Some(source)) => {
            Some(report.secret(&key("refresh_token"), source, dir))
        }
        _ => Some(None),
    };
    let private_key = match sf.grant {
        Grant::JwtBearer => jwt_bearer(report, config, dir).map(Some),
        _ => Some(None),
    };
    Some(Secrets {
        hubspot: hubspot?,
        salesforce_client_id: client_id?,
        salesforce_client_secret: client_secret?,
        salesforce_refresh_token: refresh_token?,
        salesforce_private_key: private_key?,
    })
}

/// `grant = "jwt_bearer"`: a username, and a private key that parses (its problem names
/// where the key came from, never what it holds).
fn jwt_bearer(report: &mut Report<'_>, config: &Config, dir: &Path) -> Option<Secret> {
    let sf = &config.salesforce;
    let key = |name| [Step::Key("salesforce"), Step::Key(name)];
    if sf.username.as_deref().is_none_or(|u| u.trim().is_empty()) {
        report.add(
            &key("username"),
            "grant = \"jwt_bearer\" needs username = \"...\", the Salesforce user truce runs \
             as (pre-authorized for the External Client App)",
        );
    }
    let Some(source) = &sf.private_key else {
        report.add(
            &key("private_key"),
            "grant = \"jwt_bearer\" needs private_key = { file = ... } (or env, or \
             credential): the PEM private key whose certificate the External Client App holds",
        );
        return None;
    };
    let pem = report.secret(&key("private_key"), source, dir)?;
    match truce_connectors::salesforce::jwt::SigningKey::from_pem(&pem) {
        Ok(_) => Some(pem),
        Err(err) => {
            report.add(
                &key("private_key"),
                format!(
                    "the key read from {} does not parse: {err}",
                    source.describe()
                ),
            );
            None
        }
    }
}

fn resolve_hubspot(
    report: &mut Report<'_>,
    config: &Config,
    dir: &Path,
) -> Option<HubSpotCredentials> {
    let hs = &config.hubspot;
    let key = |name| [Step::Key("hubspot"), Step::Key(name)];
    match (
        &hs.token,
        &hs.client_id,
        &hs.client_secret,
        &hs.refresh_token,
    ) {
        (Some(token), None, None, None) => report
            .secret(&key("token"), token, dir)
            .map(HubSpotCredentials::Token),
        (None, Some(id), Some(secret), Some(refresh)) => {
            let client_id = report.secret(&key("client_id"), id, dir);
            let client_secret = report.secret(&key("client_secret"), secret, dir);
            let refresh_token = report.secret(&key("refresh_token"), refresh, dir);
            Some(HubSpotCredentials::OAuth {
                client_id: client_id?,
                client_secret: client_secret?,
                refresh_token: refresh_token?,
            })
        }
        _ => {
            report.add(
                &key("token"),
                "give either token = { env = ... } (private app or service key), or all of \
                 client_id, client_secret and refresh_token (OAuth app)",
            );
            None
        }
    }
}
