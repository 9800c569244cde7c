#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;

/// A complete config whose secrets come from files in `dir`.
fn minimal(dir: &Path) -> String {
    std::fs::write(dir.join("hs"), "pat-na1-secret\n").unwrap();
    std::fs::write(dir.join("id"), "client-id").unwrap();
    std::fs::write(dir.join("sec"), "client-secret").unwrap();
    r#"
[state]
path = "/tmp/truce-test.db"

[hubspot]
base_url = "http://127.0.0.1:8081"
token = { file = "hs" }

[salesforce]
login_url = "https://login.salesforce.com"
client_id = { file = "id" }
client_secret = { file = "sec" }

[sync]
poll_interval = "15s"

[[field]]
hubspot = "email"
salesforce = "Email"
"#
    .to_string()
}

fn problems(dir: &Path, text: &str) -> Vec<Problem> {
    match load_str(&dir.join("truce.toml"), text) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("config was accepted"),
    }
}

#[test]
fn a_minimal_config_loads_with_defaults_and_secrets_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_str(&dir.path().join("truce.toml"), &minimal(dir.path())).unwrap();
    assert_eq!(loaded.config.sync.poll_interval.as_secs(), 15);
    assert_eq!(loaded.config.sync.lookback.as_secs(), 60);
    assert_eq!(loaded.config.hubspot.requests_per_10s, 100);
    assert_eq!(loaded.config.fields[0].rule, Rule::TwoWay);
    match &loaded.secrets.hubspot {
        HubSpotCredentials::Token(token) => assert_eq!(token.expose(), "pat-na1-secret"),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{loaded:?}").contains("pat-na1-secret"));
}

#[test]
fn the_hubspot_api_version_defaults_to_2026_09_and_only_known_families_pass() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_str(&dir.path().join("truce.toml"), &minimal(dir.path())).unwrap();
    assert_eq!(loaded.config.hubspot.api_version, "2026-09");
    let legacy = minimal(dir.path()).replace("[hubspot]\n", "[hubspot]\napi_version = \"v3\"\n");
    let loaded = load_str(&dir.path().join("truce.toml"), &legacy).unwrap();
    assert_eq!(loaded.config.hubspot.api_version, "v3");
    let wrong =
        minimal(dir.path()).replace("[hubspot]\n", "[hubspot]\napi_version = \"2026-03\"\n");
    let found = problems(dir.path(), &wrong);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "hubspot.api_version");
    assert_eq!(found[0].line, Some(6));
    assert!(found[0].message.contains("`2026-03`"), "{found:?}");
    assert!(found[0].message.contains("\"v3\""), "{found:?}");
}

#[test]
fn a_misspelt_key_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = minimal(dir.path()).replace("poll_interval", "pol_interval");
    let found = problems(dir.path(), &text);
    assert_eq!(found.len(), 1);
    assert!(found[0].message.contains("pol_interval"), "{found:?}");
    assert_eq!(found[0].line, Some(15));
}

#[test]
fn an_inline_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = minimal(dir.path()).replace("token = { file = \"hs\" }", "token = \"pat-na1-x\"");
    let found = problems(dir.path(), &text);
    assert!(
        found[0].message.contains("never written inline"),
        "{found:?}"
    );
    assert_eq!(found[0].line, Some(7));
}

#[test]
fn every_missing_secret_is_reported_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = minimal(dir.path())
        .replace(
            "{ file = \"hs\" }",
            "{ env = \"TRUCE_TEST_SURELY_UNSET_1\" }",
        )
        .replace("{ file = \"sec\" }", "{ credential = \"sf-secret\" }");
    let found = problems(dir.path(), &text);
    let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"hubspot.token"), "{found:?}");
    assert!(keys.contains(&"salesforce.client_secret"), "{found:?}");
    assert!(
        found
            .iter()
            .any(|p| p.message.contains("TRUCE_TEST_SURELY_UNSET_1"))
    );
}

#[test]
fn plain_http_is_refused_unless_the_host_is_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let base = minimal(dir.path());
    for ok in [
        "http://127.0.0.1:9",
        "http://localhost:9",
        "http://[::1]:9",
        "https://x.example",
    ] {
        let text = base.replace("http://127.0.0.1:8081", ok);
        assert!(load_str(&dir.path().join("t.toml"), &text).is_ok(), "{ok}");
    }
    let text = base.replace("http://127.0.0.1:8081", "http://api.hubapi.com");
    let found = problems(dir.path(), &text);
    assert_eq!(found[0].key, "hubspot.base_url");
    assert!(found[0].message.contains("clear text"));
}

#[test]
fn all_semantic_problems_are_listed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = minimal(dir.path())
        .replace("poll_interval = \"15s\"", "poll_interval = \"15\"")
        .replace(
            "salesforce = \"Email\"",
            "salesforce = \"Email\"\n\n[[field]]\nhubspot = \"x\"\nsalesforce = \"Email\"\n",
        )
        .replace("[salesforce]", "[salesforce]\ndaily_share = 1.5");
    let found = problems(dir.path(), &text);
    // The duration fails in serde, before semantic checks: fix it and look again.
    assert!(found[0].message.contains("\"15s\""), "{found:?}");
    let text = text.replace("poll_interval = \"15\"", "poll_interval = \"15s\"");
    let found = problems(dir.path(), &text);
    let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["salesforce.daily_share", "field[1].salesforce"],
        "{found:?}"
    );
    assert!(found.iter().all(|p| p.line.is_some()), "{found:?}");
}

#[test]
fn a_rule_that_does_not_exist_is_refused_with_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let text = minimal(dir.path()).replace(
        "salesforce = \"Email\"",
        "salesforce = \"Email\"\nrule = \"sometimes\"",
    );
    let found = problems(dir.path(), &text);
    assert!(found[0].message.contains("two_way"), "{found:?}");
    assert_eq!(found[0].line, Some(20));
}

#[test]
fn a_mapping_of_a_pair_or_reference_that_is_not_synced_is_refused_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = minimal(dir.path()).replace(
        "poll_interval = \"15s\"",
        "poll_interval = \"15s\"\nobjects = [\"contacts\", \"deals\"]",
    ) + "\n[[field]]\nobject = \"companies\"\nhubspot = \"name\"\nsalesforce = \"Name\"\n\
         \n[[field]]\nhubspot = \"@company\"\nsalesforce = \"AccountId\"\non = [\"Contact\"]\n";
    let problems = problems(dir.path(), &text);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0].key, "field[1].object");
    assert!(
        problems[0]
            .message
            .contains("maps the `companies` pair, which `[sync] objects` does not list"),
        "{problems:?}"
    );
    assert_eq!(
        problems[0].line,
        Some(
            text.lines()
                .position(|l| l == "object = \"companies\"")
                .unwrap()
                + 1
        )
    );
    assert_eq!(problems[1].key, "field[2].hubspot");
    assert!(
        problems[1]
            .message
            .contains("`@company` points at `companies`"),
        "{problems:?}"
    );
}

#[test]
fn every_pair_and_its_references_are_accepted_when_synced() {
    let dir = tempfile::tempdir().unwrap();
    let text = minimal(dir.path()).replace(
        "poll_interval = \"15s\"",
        "poll_interval = \"15s\"\nobjects = [\"contacts\", \"companies\", \"deals\"]",
    ) + "\n[[field]]\nobject = \"companies\"\nhubspot = \"name\"\nsalesforce = \"Name\"\n\
         \n[[field]]\nhubspot = \"@company\"\nsalesforce = \"AccountId\"\non = [\"Contact\"]\n\
         \n[[field]]\nobject = \"deals\"\nhubspot = \"@contacts\"\nsalesforce = \"OpportunityContactRole\"\n";
    let loaded = load_str(&dir.path().join("truce.toml"), &text).unwrap();
    assert_eq!(loaded.config.sync.objects.len(), 3);
}

#[test]
fn a_field_names_its_pair_and_on_lists_only_that_pairs_salesforce_objects() {
    let dir = tempfile::tempdir().unwrap();
    let base = minimal(dir.path());
    let unknown =
        base.clone() + "\n[[field]]\nobject = \"invoices\"\nhubspot = \"x\"\nsalesforce = \"X\"\n";
    let problems_unknown = problems(dir.path(), &unknown);
    assert!(
        problems_unknown[0].message.contains("invoices"),
        "{problems_unknown:?}"
    );
    let foreign =
        base.clone() + "\n[[field]]\nhubspot = \"x\"\nsalesforce = \"X\"\non = [\"Account\"]\n";
    let problems_foreign = problems(dir.path(), &foreign);
    assert_eq!(problems_foreign[0].key, "field[1].on");
    assert!(
        problems_foreign[0]
            .message
            .contains("Account is not part of the `contacts` pair"),
        "{problems_foreign:?}"
    );
    let association = base + "\n[[field]]\nhubspot = \"@owner\"\nsalesforce = \"OwnerId\"\n";
    let problems_association = problems(dir.path(), &association);
    assert!(
        problems_association[0].message.contains("@company"),
        "{problems_association:?}"
    );
}

#[test]
fn pairs_and_the_association_sweep_default_to_contacts_and_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_str(&dir.path().join("truce.toml"), &minimal(dir.path())).unwrap();
    assert_eq!(loaded.config.sync.objects, [Pair::Contacts]);
    assert_eq!(loaded.config.sync.association_sweep.as_secs(), 300);
    assert_eq!(loaded.config.fields[0].object, Pair::Contacts);
}

#[test]
fn sla_problems_name_their_key_and_line_and_the_people_pair_reads_what_the_watch_needs() {
    let dir = tempfile::tempdir().unwrap();
    let bad = format!(
        "{}\n[sla]\nfirst_touch = \"0s\"\nuntouched = [\"Open - Not Contacted\"]\n\
         hubspot_property = \"email\"\n",
        minimal(dir.path())
    );
    let found = problems(dir.path(), &bad);
    let keys: Vec<(&str, Option<usize>)> = found.iter().map(|p| (p.key.as_str(), p.line)).collect();
    let line = |key: &str| bad.lines().position(|l| l.starts_with(key)).map(|i| i + 1);
    assert_eq!(
        keys,
        [
            ("sla.first_touch", line("first_touch")),
            ("sla.hubspot_property", line("hubspot_property"))
        ],
        "{found:?}"
    );
    let missing = format!("{}\n[sla]\nuntouched = [\"New\"]\n", minimal(dir.path()));
    let found = problems(dir.path(), &missing);
    assert!(found[0].message.contains("first_touch"), "{found:?}");
    let good = format!(
        "{}\n[sla]\nfirst_touch = \"24h\"\nuntouched = [\"Open - Not Contacted\"]\n",
        minimal(dir.path())
    );
    let loaded = load_str(&dir.path().join("truce.toml"), &good).unwrap();
    let settings = crate::engine::settings::Settings::from_config(&loaded.config);
    let sla = settings.sla.as_ref().unwrap();
    assert_eq!(sla.first_touch.as_secs(), 86_400);
    let people = settings.pair(Pair::Contacts).unwrap();
    let lead = people.read_fields(ObjectType::SalesforceLead);
    assert!(lead.contains(&"Status".to_string()) && lead.contains(&"OwnerId".to_string()));
    let contact = people.read_fields(ObjectType::HubSpotContact);
    assert!(
        contact.contains(&"hs_analytics_source".to_string()),
        "{contact:?}"
    );
    let without = crate::engine::settings::Settings::from_config(
        &load_str(&dir.path().join("truce.toml"), &minimal(dir.path()))
            .unwrap()
            .config,
    );
    assert!(without.sla.is_none());
}

/// `minimal`'s `[salesforce]` with the JWT bearer grant: `lines` replace the client secret.
fn jwt_config(dir: &Path, lines: &str) -> String {
    minimal(dir).replace("client_secret = { file = \"sec\" }\n", lines)
}

#[test]
fn the_jwt_bearer_grant_needs_a_username_and_a_key_that_parses_but_no_client_secret() {
    let dir = tempfile::tempdir().unwrap();
    let key = truce_sandbox::salesforce::AppKey::generate().unwrap();
    std::fs::write(dir.path().join("jwt.key"), &key.private_pem).unwrap();
    let text = jwt_config(
        dir.path(),
        "grant = \"jwt_bearer\"\nusername = \"integration@example.com\"\n\
         private_key = { file = \"jwt.key\" }\n",
    );
    let loaded = load_str(&dir.path().join("truce.toml"), &text).unwrap();
    assert_eq!(loaded.config.salesforce.grant, Grant::JwtBearer);
    assert!(loaded.secrets.salesforce_client_secret.is_none());
    let pem = loaded.secrets.salesforce_private_key.as_ref().unwrap();
    assert_eq!(pem.expose(), key.private_pem.trim_end());
    let shown = format!("{loaded:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");

    let text = jwt_config(dir.path(), "grant = \"jwt_bearer\"\n");
    let found = problems(dir.path(), &text);
    let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["salesforce.username", "salesforce.private_key"],
        "{found:?}"
    );
    let table = text.lines().position(|l| l == "[salesforce]").unwrap() + 1;
    assert!(found.iter().all(|p| p.line == Some(table)), "{found:?}");
    assert!(found[1].message.contains("PEM private key"), "{found:?}");

    // Other grants still need their client secret.
    let text = jwt_config(dir.path(), "");
    let found = problems(dir.path(), &text);
    assert_eq!(found[0].key, "salesforce.client_secret", "{found:?}");
    assert!(found[0].message.contains("client_credentials"), "{found:?}");
}

#[test]
fn a_private_key_that_does_not_parse_is_named_by_its_source_and_line_never_by_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let key = truce_sandbox::salesforce::AppKey::generate().unwrap();
    let text = jwt_config(
        dir.path(),
        "grant = \"jwt_bearer\"\nusername = \"integration@example.com\"\n\
         private_key = { file = \"jwt.key\" }\n",
    );
    for (content, says) in [
        (
            key.public_pem.clone(),
            "PEM PUBLIC KEY block, not a private key",
        ),
        (
            key.private_pem
                .replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
            "encrypted private key",
        ),
        (
            key.private_pem[..400].to_string(),
            "does not hold a usable RSA private key",
        ),
    ] {
        std::fs::write(dir.path().join("jwt.key"), &content).unwrap();
        let found = problems(dir.path(), &text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].key, "salesforce.private_key");
        let line = text
            .lines()
            .position(|l| l.starts_with("private_key"))
            .unwrap()
            + 1;
        assert_eq!(found[0].line, Some(line));
        assert!(
            found[0]
                .message
                .contains("the key read from file jwt.key does not parse"),
            "{found:?}"
        );
        assert!(found[0].message.contains(says), "{found:?}");
        for body in content.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!found[0].message.contains(body), "{found:?}");
        }
    }
}
