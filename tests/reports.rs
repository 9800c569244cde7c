//! `truce status`, `truce conflicts` and `truce history` on real state files: fresh, corrupt,
//! and filled through the store's own API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use serde_json::json;
use truce_state::{FieldChange, LinkId, NewConflict, NewLink, NewQuarantine, Origin, Store};

fn truce(state: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(args)
        .arg("--state")
        .arg(state)
        .env_remove("RUST_LOG")
        .output()
        .expect("truce runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A store with one link, a field change on each side, one conflict, one quarantined record
/// and one duplicate.
fn filled(path: &Path) {
    let mut store = Store::open(path).unwrap();
    let t = now() - 60_000;
    store
        .transaction(|tx| {
            let link = tx.create_link(
                &NewLink {
                    pair: "contacts".into(),
                    name: None,
                    email: "Jane.Doe@Example.com".into(),
                    hubspot_id: Some("101".into()),
                    salesforce_object: Some("Lead".into()),
                    salesforce_id: Some("00Q000000000001AAA".into()),
                },
                t,
            )?;
            for (system, object, id, field, old, new) in [
                ("hubspot", "contacts", "101", "lastname", "Doe", "Doe-Smith"),
                (
                    "salesforce",
                    "Lead",
                    "00Q000000000001AAA",
                    "LastName",
                    "Doe",
                    "Smith",
                ),
            ] {
                tx.append_change(
                    "contacts",
                    system,
                    &FieldChange {
                        object: object.into(),
                        record_id: id.into(),
                        link_id: Some(link),
                        field: field.into(),
                        old: json!(old),
                        new: json!(new),
                        source_modified_at: t,
                        origin: Origin::Remote,
                    },
                    t,
                )?;
            }
            tx.record_conflict(&conflict(link), t + 1)?;
            tx.quarantine_record(
                &NewQuarantine {
                    pair: "contacts".into(),
                    link_id: Some(link),
                    email: Some("jane.doe@example.com".into()),
                    system: "salesforce".into(),
                    record_id: Some("00Q000000000001AAA".into()),
                    field: Some("Email".into()),
                    error_code: "INVALID_EMAIL_ADDRESS".into(),
                    message: "Email: invalid email address: jane@".into(),
                },
                t + 2,
            )?;
            tx.report_duplicate(
                "contacts",
                "salesforce",
                "twin@example.com",
                &["00Q000000000002AAA".into(), "00Q000000000003AAA".into()],
                t,
            )?;
            Ok::<_, truce_state::StoreError>(())
        })
        .unwrap();
}

fn conflict(link: LinkId) -> NewConflict {
    NewConflict {
        pair: "contacts".into(),
        name: None,
        link_id: link,
        email: "jane.doe@example.com".into(),
        field: "lastname".into(),
        salesforce_field: "LastName".into(),
        hubspot_value: json!("Doe-Smith"),
        salesforce_value: json!("Smith"),
        base_value: json!("Doe"),
        rule: "two_way".into(),
        winner: "salesforce".into(),
    }
}

#[test]
fn status_on_a_fresh_path_reports_an_empty_store_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truce.db");
    let (code, out, err) = truce(&path, &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("does not exist yet"), "{out}");
    assert!(out.contains("0 active"), "{out}");
    assert!(!path.exists());
    let (code, out, _) = truce(&path, &["status", "--json"]);
    assert_eq!(code, 0);
    let body: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["exists"], false);
}

#[test]
fn status_on_a_corrupt_file_exits_1_and_leaves_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truce.db");
    let garbage = b"this is not a database, but someone's notes\n".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let (code, out, err) = truce(&path, &["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("not an SQLite database"), "{err}");
    assert!(err.contains("truce.db"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn status_shows_links_quarantine_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truce.db");
    filled(&path);
    let (code, out, err) = truce(&path, &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 active"), "{out}");
    assert!(out.contains("INVALID_EMAIL_ADDRESS"), "{out}");
    assert!(out.contains("twin@example.com"), "{out}");
    let (_, out, _) = truce(&path, &["status", "--json"]);
    let body: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["status"]["quarantine_open"], 1);
    assert_eq!(body["quarantine"][0]["error_code"], "INVALID_EMAIL_ADDRESS");
}

#[test]
fn conflicts_lists_the_decision_and_filters_by_field_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truce.db");
    filled(&path);
    let (code, out, err) = truce(&path, &["conflicts"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("salesforce wins by two_way"), "{out}");
    let (_, out, _) = truce(&path, &["conflicts", "--field", "firstname"]);
    assert!(out.contains("no conflicts on firstname"), "{out}");
    let (_, out, _) = truce(&path, &["conflicts", "--since", "1s"]);
    assert!(out.contains("no conflicts"), "{out}");
    let (_, out, _) = truce(&path, &["conflicts", "--json", "--field", "lastname"]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["winner"], "salesforce");
    assert_eq!(rows[0]["hubspot_value"], "Doe-Smith");
}

#[test]
fn history_shows_both_sides_changes_and_the_rule_that_decided() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truce.db");
    filled(&path);
    let (code, out, err) = truce(&path, &["history", "JANE.DOE@example.com"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("hubspot") && l.contains("\"Doe-Smith\"")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("salesforce") && l.contains("\"Smith\"")),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.contains("wins by rule two_way")),
        "{out}"
    );
    let (_, out, _) = truce(&path, &["history", "nobody@example.com"]);
    assert!(out.contains("nothing recorded"), "{out}");
}

#[test]
fn retry_requeues_quarantined_writes_and_refuses_unknown_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truce.db");
    filled(&path);
    let write_entry = {
        let mut store = Store::open(&path).unwrap();
        store
            .transaction(|tx| {
                let link = tx.link_by_email_for_test();
                let item = tx.enqueue(
                    &truce_state::OutboxWrite {
                        pair: "contacts".into(),
                        link_id: link,
                        system: "salesforce".into(),
                        object: "Lead".into(),
                        op: truce_state::WriteOp::Update,
                        record_id: Some("00Q000000000001AAA".into()),
                        fields: [("Email".to_string(), json!("jane@"))]
                            .into_iter()
                            .collect(),
                        upsert: None,
                        base: Default::default(),
                    },
                    now(),
                )?;
                tx.quarantine_write(
                    item,
                    &truce_state::Refusal {
                        email: None,
                        field: Some("Email".into()),
                        error_code: "INVALID_EMAIL_ADDRESS".into(),
                        message: "Email: invalid email address: jane@".into(),
                    },
                    now(),
                )
            })
            .unwrap()
    };
    let (code, _, err) = truce(&path, &["retry", "999"]);
    assert_eq!(code, 1);
    assert!(err.contains("999") || err.contains("quarantine"), "{err}");
    let (code, out, err) = truce(&path, &["retry", &write_entry.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queued again"), "{out}");
    let (code, out, _) = truce(&path, &["retry", "--all"]);
    assert_eq!(code, 0);
    assert!(out.contains("closed"), "{out}");
    let (_, out, _) = truce(&path, &["status", "--json"]);
    let body: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["status"]["quarantine_open"], 0);
    assert_eq!(body["status"]["outbox_pending"], 1);
}

trait LinkForTest {
    fn link_by_email_for_test(&self) -> Option<LinkId>;
}

impl LinkForTest for truce_state::Tx<'_> {
    fn link_by_email_for_test(&self) -> Option<LinkId> {
        self.reader()
            .link_by_email("contacts", "jane.doe@example.com")
            .unwrap()
            .map(|l| l.id)
    }
}
