//! What `deploy/` ships for fleets, checked offline: the Kubernetes manifests rendered and
//! validated against the API schemas (`tests/deploy/kubernetes.py`, in the SDK virtualenv
//! with kubernetes-validate) with each tenant's config passing `truce check`, and the
//! Grafana dashboard and Prometheus alert rules naming only metrics truce exports (and
//! parsing, by promtool).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use truce::metrics::families::NAMES;

const PROMTOOL: &str = "/usr/bin/promtool";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn venv_python() -> PathBuf {
    let venv = Command::new("bash")
        .arg(repo().join("tests/compat/ensure_venv.sh"))
        .output()
        .expect("running tests/compat/ensure_venv.sh");
    assert!(
        venv.status.success(),
        "ensure_venv.sh failed: {}",
        String::from_utf8_lossy(&venv.stderr)
    );
    PathBuf::from(String::from_utf8(venv.stdout).unwrap().trim())
}

#[test]
fn the_kubernetes_manifests_render_validate_and_keep_one_writer_per_tenant() {
    let out = tempfile::tempdir().unwrap();
    let checked = Command::new(venv_python())
        .arg(repo().join("tests/deploy/kubernetes.py"))
        .arg(repo().join("deploy/kubernetes"))
        .arg(out.path())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(checked.status.success(), "deploy/kubernetes:\n{said}");
    let tenants: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(tenants.len() >= 2, "{said}");
    for tenant in tenants {
        check_tenant_config(&tenant.join("truce.toml"));
    }
}

/// `truce check --offline` on a tenant's rendered config, its pod paths moved into a
/// scratch directory holding stand-in credentials.
fn check_tenant_config(path: &Path) {
    let scratch = tempfile::tempdir().unwrap();
    let credentials = scratch.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    for name in [
        "hubspot-token",
        "salesforce-client-id",
        "salesforce-client-secret",
    ] {
        std::fs::write(credentials.join(name), "stand-in").unwrap();
    }
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace(
            "/etc/truce/credentials/",
            &format!("{}/", credentials.display()),
        )
        .replace("/var/lib/truce/", &format!("{}/", scratch.path().display()));
    let config = scratch.path().join("truce.toml");
    std::fs::write(&config, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["check", "--offline", "--config"])
        .arg(&config)
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}: {stdout}{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("metrics: truce run serves http://0.0.0.0:9464/metrics"),
        "{stdout}"
    );
}

/// The series names a PromQL expression reads (function names, label names and values,
/// durations and numbers left out).
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 11] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "and",
        "or",
        "unless",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |from: usize, close: char| {
        chars[from..]
            .iter()
            .position(|c| *c == close)
            .map_or(chars.len(), |p| from + p + 1)
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '{' => i = skip_to(i, '}'),
            '[' => i = skip_to(i, ']'),
            '"' | '\'' | '`' => i = skip_to(i + 1, c),
            c if c.is_ascii_digit() => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let rest = chars[i..].iter().find(|c| !c.is_whitespace());
                let next: String = chars[i..]
                    .iter()
                    .skip_while(|c| c.is_whitespace())
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                // `sum by (...)`: an aggregation, whose grouping comes first.
                let aggregation = next == "by" || next == "without";
                if KEYWORDS.contains(&word.as_str()) {
                    // `by (le, system)` lists labels, not series.
                    if rest == Some(&'(') && !["and", "or", "unless"].contains(&word.as_str()) {
                        i = skip_to(i, ')');
                    }
                } else if rest != Some(&'(') && !aggregation {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The names a query may read: every exported one, a histogram's series too.
fn exported(name: &str) -> bool {
    NAMES.contains(&name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| base == "truce_cycle_duration_seconds")
        })
}

#[test]
fn query_names_are_told_from_functions_labels_and_numbers() {
    let names = metric_names(
        "histogram_quantile(0.95, sum by (instance, le) (rate(truce_cycle_duration_seconds_bucket{instance=~\"a.*\"}[5m]))) * 60 > bool 0.5 * up unless on (instance) truce_build_info",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "truce_build_info",
            "truce_cycle_duration_seconds_bucket",
            "up"
        ]
    );
}

/// Every `expr` in a JSON document.
fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => exprs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// Grafana's variables, as a query would see them once substituted.
fn substituted(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__range", "1d")
        .replace("$instance", ".*")
}

/// `promtool check rules` over `rules`, each expression a recording rule; skipped (saying
/// why) only where promtool is missing and CI is unset.
fn promtool_parses(what: &str, exprs: &[String]) {
    if !Path::new(PROMTOOL).exists() {
        let why = format!(
            "{PROMTOOL} is missing: install Debian's `prometheus` package (apt-get install -y \
             --no-install-recommends prometheus; .ci/run does)"
        );
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("not parsing {what} with promtool: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: parsed\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: truce:parsed_{i}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let file = dir.path().join("rules.yml");
    std::fs::write(&file, rules).unwrap();
    check_rules_file(what, &file);
}

fn check_rules_file(what: &str, file: &Path) {
    let output = Command::new(PROMTOOL)
        .args(["check", "rules"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool refused {what}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_grafana_dashboard_is_json_whose_queries_name_only_truce_metrics() {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/truce.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("deploy/grafana/truce.json is JSON");
    assert_eq!(dashboard["title"], "truce");
    let mut found = Vec::new();
    exprs(&dashboard["panels"], &mut found);
    assert!(found.len() >= 10, "{found:#?}");
    let mut shown = BTreeSet::new();
    for expr in &found {
        let names = metric_names(&substituted(expr));
        assert!(!names.is_empty(), "{expr} reads no metric");
        for name in names {
            assert!(
                exported(&name),
                "{expr} reads {name}, which truce does not export"
            );
            shown.insert(name);
        }
    }
    for name in NAMES {
        let histogram = format!("{name}_bucket");
        assert!(
            shown.contains(name) || shown.contains(&histogram),
            "the dashboard shows no {name}"
        );
    }
    let variables = dashboard["templating"]["list"].to_string();
    assert!(
        variables.contains("label_values(truce_build_info, instance)"),
        "{variables}"
    );
    let substituted: Vec<String> = found.iter().map(|e| substituted(e)).collect();
    promtool_parses("the dashboard's queries", &substituted);
}

#[test]
fn the_alert_rules_parse_and_name_only_truce_metrics() {
    let file = repo().join("deploy/prometheus/truce.rules.yml");
    let text = std::fs::read_to_string(&file).unwrap();
    let exprs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr: "))
        .collect();
    assert!(exprs.len() >= 5, "{text}");
    for expr in exprs {
        for name in metric_names(expr) {
            assert!(
                exported(&name) || name == "up",
                "{expr} reads {name}, which truce does not export"
            );
        }
    }
    if Path::new(PROMTOOL).exists() {
        check_rules_file("deploy/prometheus/truce.rules.yml", &file);
    } else {
        promtool_parses("deploy/prometheus/truce.rules.yml", &[]);
    }
}
