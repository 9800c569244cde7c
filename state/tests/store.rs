//! The state store against real files in a temporary directory.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tempfile::TempDir;
use truce_state::{
    APPLICATION_ID, Cursor, FieldChange, HistoryEntry, LinkState, NewConflict, NewLink,
    NewQuarantine, Origin, OutboxState, OutboxWrite, PulledPage, QuarantineState, ReadView,
    RecordMeta, Refusal, SCHEMA_VERSION, ScanStep, SnapshotUpdate, Store, StoreError, UpsertKey,
    WriteOp,
};

fn temp() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truce.db");
    (dir, path)
}

fn fields(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn contact(id: &str, email: &str, modified_at: i64, city: &str) -> SnapshotUpdate {
    SnapshotUpdate {
        object: "contacts".into(),
        record_id: id.into(),
        match_key: Some(email.into()),
        modified_at,
        deleted: false,
        fields: fields(&[("email", json!(email)), ("city", json!(city))]),
        meta: RecordMeta::default(),
    }
}

fn change(
    id: &str,
    link: Option<truce_state::LinkId>,
    field: &str,
    old: Value,
    new: Value,
) -> FieldChange {
    FieldChange {
        object: "contacts".into(),
        record_id: id.into(),
        link_id: link,
        field: field.into(),
        old,
        new,
        source_modified_at: 1_000,
        origin: Origin::Remote,
    }
}

fn cursor(modified_at: i64, id: &str) -> Cursor {
    Cursor {
        modified_at,
        id: id.into(),
    }
}

fn hubspot_page(observed_at: i64) -> PulledPage {
    PulledPage {
        pair: "contacts".into(),
        system: "hubspot".into(),
        observed_at,
        changes: vec![
            change("101", None, "city", Value::Null, json!("Paris")),
            change("102", None, "city", Value::Null, json!("Lyon")),
        ],
        snapshots: vec![
            contact("101", "Ada@Example.com ", 1_000, "Paris"),
            contact("102", "bob@example.com", 1_001, "Lyon"),
        ],
        cursors: BTreeMap::from([("contacts".to_string(), cursor(1_001, "102"))]),
        scan: None,
    }
}

fn update_write(link: Option<truce_state::LinkId>, record: &str) -> OutboxWrite {
    OutboxWrite {
        pair: "contacts".into(),
        link_id: link,
        system: "salesforce".into(),
        object: "Lead".into(),
        op: WriteOp::Update,
        record_id: Some(record.into()),
        fields: fields(&[("City", json!("Paris"))]),
        upsert: None,
        base: fields(&[("city", json!("Paris"))]),
    }
}

fn new_link(email: &str, hubspot: &str, salesforce: &str) -> NewLink {
    NewLink {
        pair: "contacts".into(),
        email: email.into(),
        name: None,
        hubspot_id: Some(hubspot.into()),
        salesforce_object: Some("Lead".into()),
        salesforce_id: Some(salesforce.into()),
    }
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn count(path: &Path, table: &str) -> i64 {
    raw(path)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn assert_refused_untouched(path: &Path, check: impl Fn(&StoreError) -> bool) {
    let before = std::fs::read(path).unwrap();
    for result in [
        Store::open(path).map(drop),
        Store::open_existing(path).map(drop),
        ReadView::open(path).map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(check(&err), "unexpected error: {err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "error does not name the file: {err}"
        );
        assert!(err.to_string().contains("untouched"), "{err}");
    }
    assert_eq!(std::fs::read(path).unwrap(), before, "file bytes changed");
}

#[test]
fn a_fresh_file_is_created_in_wal_mode_at_the_current_schema_version() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    assert!(path.exists());
    assert_eq!(store.path(), path);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    const { assert!(SCHEMA_VERSION >= 2) };
    let conn = raw(&path);
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app_id, APPLICATION_ID);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let status = store.reader().status().unwrap();
    assert_eq!(status.links_active, 0);
    assert_eq!(status.outbox_pending, 0);
    assert_eq!(status.last_seq, 0);
}

#[test]
fn an_empty_file_is_taken_as_a_new_store() {
    let (_dir, path) = temp();
    std::fs::write(&path, b"").unwrap();
    let store = Store::open_existing(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn reopening_keeps_every_kind_of_row() {
    let (_dir, path) = temp();
    let link = {
        let mut store = Store::open(&path).unwrap();
        store.record_page(&hubspot_page(2_000)).unwrap();
        store
            .transaction(|tx| {
                let link = tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 2_000)?;
                tx.set_base(link, "city", &json!("Paris"), 2_000)?;
                tx.enqueue(&update_write(Some(link), "00Q1"), 2_000)?;
                tx.report_duplicate(
                    "contacts",
                    "salesforce",
                    "bob@example.com",
                    &["003a".into(), "00Qb".into()],
                    2_000,
                )?;
                Ok::<_, StoreError>(link)
            })
            .unwrap()
    };
    let store = Store::open_existing(&path).unwrap();
    let r = store.reader();
    assert_eq!(
        r.link_by_email("contacts", "ADA@example.com")
            .unwrap()
            .unwrap()
            .id,
        link
    );
    assert_eq!(
        r.base_value(link, "city").unwrap().unwrap().value,
        json!("Paris")
    );
    assert_eq!(
        r.cursor("hubspot", "contacts").unwrap(),
        Some(cursor(1_001, "102"))
    );
    let snapshot = r.snapshot("contacts", "hubspot", "101").unwrap().unwrap();
    assert_eq!(snapshot.match_key.as_deref(), Some("ada@example.com"));
    assert_eq!(snapshot.fields["city"], json!("Paris"));
    assert_eq!(r.changes_after(0, 10).unwrap().len(), 2);
    assert_eq!(r.outbox_depth().unwrap(), 1);
    assert_eq!(r.duplicates().unwrap()[0].record_ids, vec!["003a", "00Qb"]);
}

#[test]
fn open_existing_refuses_a_missing_file_and_creates_nothing() {
    let (_dir, path) = temp();
    let err = Store::open_existing(&path).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
    let err = ReadView::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    assert!(!path.exists());
}

#[test]
fn a_failed_record_page_leaves_no_partial_rows_and_the_cursor_where_it_was() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store.record_page(&hubspot_page(2_000)).unwrap();

    let mut page = PulledPage {
        pair: "contacts".into(),
        system: "hubspot".into(),
        observed_at: 3_000,
        changes: vec![change("103", None, "city", Value::Null, json!("Nice"))],
        snapshots: vec![contact("103", "cy@example.com", 2_000, "Nice")],
        cursors: BTreeMap::from([("contacts".to_string(), cursor(2_000, "103"))]),
        scan: Some(ScanStep {
            object: "contacts".into(),
            next: Some("after-103".into()),
        }),
    };
    // Midway through the page: a change naming a link that does not exist breaks the
    // foreign key after one change was already appended.
    page.changes.push(change(
        "103",
        Some(truce_state::LinkId(999)),
        "email",
        Value::Null,
        json!("cy@example.com"),
    ));
    let err = store.record_page(&page).unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));

    let r = store.reader();
    assert_eq!(
        r.changes_after(0, 100).unwrap().len(),
        2,
        "only the first page's changes"
    );
    assert!(r.snapshot("contacts", "hubspot", "103").unwrap().is_none());
    assert_eq!(
        r.cursor("hubspot", "contacts").unwrap(),
        Some(cursor(1_001, "102"))
    );
    assert!(r.scan("hubspot", "contacts").unwrap().is_none());
    drop(store);
    assert_eq!(count(&path, "changes"), 2);
    assert_eq!(count(&path, "snapshots"), 2);
}

#[test]
fn an_error_returned_by_a_transaction_closure_rolls_back_everything_it_wrote() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    let result: Result<(), StoreError> = store.transaction(|tx| {
        let link = tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1)?;
        tx.set_base(link, "city", &json!("Paris"), 1)?;
        tx.enqueue(&update_write(Some(link), "00Q1"), 1)?;
        tx.record_conflict(
            &NewConflict {
                pair: "contacts".into(),
                name: None,
                link_id: link,
                email: "ada@example.com".into(),
                field: "city".into(),
                salesforce_field: "City".into(),
                hubspot_value: json!("Paris"),
                salesforce_value: json!("Lyon"),
                base_value: Value::Null,
                rule: "two_way".into(),
                winner: "hubspot".into(),
            },
            1,
        )?;
        // The failure comes from the store itself: the outbox item 12345 does not exist.
        tx.mark_done(truce_state::OutboxId(12345), 1)?;
        Ok(())
    });
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "pending outbox item",
                id: 12345,
                ..
            }
        ),
        "{err:?}"
    );
    drop(store);
    for table in ["links", "base", "outbox", "conflicts"] {
        assert_eq!(count(&path, table), 0, "{table} kept a row");
    }
}

#[test]
fn a_panic_inside_a_transaction_rolls_it_back() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<(), StoreError> = store.transaction(|tx| {
            tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1)?;
            panic!("engine bug");
        });
    }));
    assert!(outcome.is_err());
    assert_eq!(store.reader().status().unwrap().links_active, 0);
    // The store is still usable after the unwind.
    store
        .transaction(|tx| tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 2))
        .unwrap();
    assert_eq!(store.reader().status().unwrap().links_active, 1);
}

#[test]
fn a_read_view_sees_one_instant_while_a_writer_commits() {
    let (_dir, path) = temp();
    let mut writer = Store::open(&path).unwrap();
    writer.record_page(&hubspot_page(2_000)).unwrap();

    let view = writer.read_view().unwrap();
    assert_eq!(view.reader().status().unwrap().links_active, 0);
    assert_eq!(view.reader().changes_after(0, 100).unwrap().len(), 2);

    writer
        .transaction(|tx| {
            tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 3_000)?;
            tx.create_link(&new_link("bob@example.com", "102", "00Q2"), 3_000)?;
            tx.append_change(
                "contacts",
                "hubspot",
                &change("101", None, "city", json!("Paris"), json!("Rome")),
                3_000,
            )?;
            tx.advance_cursor("hubspot", "contacts", &cursor(3_000, "101"), 3_000)
        })
        .unwrap();

    // The writer's commit is durable and visible to new readers...
    assert_eq!(writer.reader().status().unwrap().links_active, 2);
    let fresh = ReadView::open(&path).unwrap();
    assert_eq!(fresh.reader().status().unwrap().links_active, 2);
    assert_eq!(fresh.reader().changes_after(0, 100).unwrap().len(), 3);
    // ...while the older view still sees the instant it started at, in every table.
    let old = view.reader().status().unwrap();
    assert_eq!(old.links_active, 0);
    assert_eq!(old.last_seq, 2);
    assert_eq!(old.cursors[0].cursor, cursor(1_001, "102"));
    assert_eq!(view.reader().changes_after(0, 100).unwrap().len(), 2);
    assert!(
        view.reader()
            .link_by_email("contacts", "ada@example.com")
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_foreign_sqlite_database_is_refused_and_left_byte_for_byte_untouched() {
    let (_dir, path) = temp();
    {
        let conn = raw(&path);
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    assert_refused_untouched(&path, |e| {
        matches!(
            e,
            StoreError::NotATruceDatabase {
                application_id: 0,
                tables: 1,
                ..
            }
        )
    });
    assert!(!Path::new(&format!("{}-wal", path.display())).exists());
    let body: String = raw(&path)
        .query_row("SELECT body FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "mine");
}

#[test]
fn a_sqlite_database_of_another_application_is_refused_even_when_empty() {
    let (_dir, path) = temp();
    {
        let conn = raw(&path);
        conn.execute_batch("PRAGMA application_id = 42; PRAGMA user_version = 1;")
            .unwrap();
    }
    assert_refused_untouched(&path, |e| {
        matches!(
            e,
            StoreError::NotATruceDatabase {
                application_id: 42,
                tables: 0,
                ..
            }
        )
    });
}

#[test]
fn a_text_file_is_refused_and_left_untouched() {
    let (_dir, path) = temp();
    std::fs::write(
        &path,
        "[state]\npath = \"/var/lib/truce/truce.db\"\n".repeat(200),
    )
    .unwrap();
    assert_refused_untouched(&path, |e| matches!(e, StoreError::NotSqlite { .. }));
}

#[test]
fn a_file_of_random_bytes_is_refused_and_left_untouched() {
    let (_dir, path) = temp();
    // A fixed pseudo-random sequence (xorshift), so a failure reproduces.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..16_384)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&path, &bytes).unwrap();
    assert_refused_untouched(&path, |e| matches!(e, StoreError::NotSqlite { .. }));
}

#[test]
fn a_file_from_a_newer_truce_is_refused_and_left_untouched() {
    let (_dir, path) = temp();
    {
        let mut store = Store::open(&path).unwrap();
        store
            .transaction(|tx| tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1))
            .unwrap();
    }
    raw(&path)
        .execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    assert_refused_untouched(&path, |e| {
        matches!(e, StoreError::TooNew { found, supported, .. }
            if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION)
    });
}

#[test]
fn a_cursor_never_moves_backwards() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    let page = |at: Cursor| PulledPage {
        pair: "contacts".into(),
        system: "salesforce".into(),
        observed_at: 9_000,
        cursors: BTreeMap::from([("Lead".to_string(), at)]),
        ..PulledPage::default()
    };
    assert_eq!(
        store
            .record_page(&page(cursor(5_000, "00Qb")))
            .unwrap()
            .cursors_moved,
        1
    );
    // Older time: kept.
    assert_eq!(
        store
            .record_page(&page(cursor(4_999, "00Qz")))
            .unwrap()
            .cursors_moved,
        0
    );
    // Same time, smaller id: kept.
    assert_eq!(
        store
            .record_page(&page(cursor(5_000, "00Qa")))
            .unwrap()
            .cursors_moved,
        0
    );
    // Same position: kept.
    assert_eq!(
        store
            .record_page(&page(cursor(5_000, "00Qb")))
            .unwrap()
            .cursors_moved,
        0
    );
    assert_eq!(
        store.reader().cursor("salesforce", "Lead").unwrap(),
        Some(cursor(5_000, "00Qb"))
    );
    // Same time, larger id: moves.
    assert_eq!(
        store
            .record_page(&page(cursor(5_000, "00Qc")))
            .unwrap()
            .cursors_moved,
        1
    );
    let moved = store
        .transaction(|tx| tx.advance_cursor("salesforce", "Lead", &cursor(1, "x"), 9_001))
        .unwrap();
    assert!(!moved);
    let cursors = store.reader().cursors("salesforce").unwrap();
    assert_eq!(cursors["Lead"], cursor(5_000, "00Qc"));
    // Other streams and systems are independent.
    assert!(store.reader().cursor("hubspot", "Lead").unwrap().is_none());
}

#[test]
fn a_snapshot_never_goes_back_in_time() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    let page = |snapshot| PulledPage {
        pair: "contacts".into(),
        system: "hubspot".into(),
        observed_at: 1,
        snapshots: vec![snapshot],
        ..PulledPage::default()
    };
    store
        .record_page(&page(contact("101", "a@example.com", 2_000, "Paris")))
        .unwrap();
    let summary = store
        .record_page(&page(contact("101", "a@example.com", 1_500, "Lyon")))
        .unwrap();
    assert_eq!((summary.snapshots, summary.stale_snapshots), (0, 1));
    assert_eq!(
        store
            .reader()
            .snapshot("contacts", "hubspot", "101")
            .unwrap()
            .unwrap()
            .fields["city"],
        json!("Paris")
    );
    store
        .record_page(&page(contact("101", "a@example.com", 2_500, "Rome")))
        .unwrap();
    assert_eq!(
        store
            .reader()
            .snapshot("contacts", "hubspot", "101")
            .unwrap()
            .unwrap()
            .fields["city"],
        json!("Rome")
    );
}

#[test]
fn the_change_log_refuses_updates_and_deletes() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store.record_page(&hubspot_page(2_000)).unwrap();
    let conn = raw(&path);
    let update = conn
        .execute("UPDATE changes SET new = '\"x\"'", [])
        .unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = conn.execute("DELETE FROM changes", []).unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
    assert_eq!(store.reader().changes_after(0, 10).unwrap().len(), 2);
}

#[test]
fn a_backfill_page_records_its_resume_token_with_its_snapshots() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    let page = |next: Option<&str>, ids: &[&str]| PulledPage {
        pair: "contacts".into(),
        system: "salesforce".into(),
        observed_at: 7,
        snapshots: ids
            .iter()
            .map(|id| SnapshotUpdate {
                object: "Lead".into(),
                record_id: id.to_string(),
                modified_at: 1,
                ..SnapshotUpdate::default()
            })
            .collect(),
        scan: Some(ScanStep {
            object: "Lead".into(),
            next: next.map(str::to_string),
        }),
        ..PulledPage::default()
    };
    store
        .record_page(&page(Some("t1"), &["00Q1", "00Q2"]))
        .unwrap();
    let scan = store.reader().scan("salesforce", "Lead").unwrap().unwrap();
    assert_eq!(
        (scan.token.as_deref(), scan.done, scan.records),
        (Some("t1"), false, 2)
    );
    store.record_page(&page(None, &["00Q3"])).unwrap();
    let scan = store.reader().scan("salesforce", "Lead").unwrap().unwrap();
    assert_eq!((scan.token, scan.done, scan.records), (None, true, 3));
    assert!(
        store
            .transaction(|tx| tx.reset_scan("salesforce", "Lead"))
            .unwrap()
    );
    assert!(store.reader().scan("salesforce", "Lead").unwrap().is_none());
}

#[test]
fn a_write_marked_sent_keeps_the_mark_across_a_reopen_and_failures() {
    let (_dir, path) = temp();
    let (a, b) = {
        let mut store = Store::open(&path).unwrap();
        let (a, b) = store
            .transaction(|tx| {
                let a = tx.enqueue(&update_write(None, "00Q1"), 10)?;
                let b = tx.enqueue(&update_write(None, "00Q2"), 10)?;
                Ok::<_, StoreError>((a, b))
            })
            .unwrap();
        let due = store.reader().due("salesforce", 100, 10).unwrap();
        assert!(due.iter().all(|i| i.sent_at.is_none()));
        store.transaction(|tx| tx.mark_sent(&[a], 50)).unwrap();
        (a, b)
    };
    // As after a crash during the call: the mark is there, the outcome is not.
    let mut store = Store::open(&path).unwrap();
    let item = store.reader().outbox_item(a).unwrap().unwrap();
    assert_eq!((item.sent_at, item.attempts), (Some(50), 0));
    assert_eq!(
        store.reader().outbox_item(b).unwrap().unwrap().sent_at,
        None
    );
    store
        .transaction(|tx| tx.mark_failed(a, "timeout", 60, 55))
        .unwrap();
    assert_eq!(
        store.reader().outbox_item(a).unwrap().unwrap().sent_at,
        Some(50)
    );
}

#[test]
fn a_full_batch_of_writes_queued_after_a_mark_comes_due_first() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.reader().last_outbox_id().unwrap().0, 0);
    let queue = |store: &mut Store, records: &[&str], now: i64| {
        store
            .transaction(|tx| {
                records
                    .iter()
                    .map(|r| tx.enqueue(&update_write(None, r), now))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap()
    };
    let before = queue(&mut store, &["00Q1", "00Q2", "00Q3"], 10);
    let mark = store.reader().last_outbox_id().unwrap();
    assert_eq!(mark, before[2]);
    let after = queue(&mut store, &["00Q4", "00Q5"], 20);
    // One due later, one retried later: neither is due at 30.
    queue(&mut store, &["00Q6"], 40);
    store
        .transaction(|tx| tx.mark_failed(before[1], "UNABLE_TO_LOCK_ROW", 50, 25))
        .unwrap();

    let r = store.reader();
    let due = |limit| -> Vec<_> {
        r.due_newer_first("salesforce", 30, mark, limit)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect()
    };
    // Fewer newer writes than a batch: the queue's own order.
    assert_eq!(due(10), vec![before[0], before[2], after[0], after[1]]);
    assert_eq!(due(3), vec![before[0], before[2], after[0]]);
    // A full batch of them: they go first.
    assert_eq!(due(2), vec![after[0], after[1]]);
    assert_eq!(due(1), vec![after[0]]);
    assert!(
        r.due_newer_first("hubspot", 30, mark, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn outbox_writes_go_due_failed_done_quarantined_and_retried() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    let (link, a, b, c) = store
        .transaction(|tx| {
            let link = tx.create_link(&new_link("Ada@example.com", "101", "00Q1"), 10)?;
            let a = tx.enqueue(&update_write(Some(link), "00Q1"), 10)?;
            let b = tx.enqueue(&update_write(Some(link), "00Q1"), 11)?;
            let create = OutboxWrite {
                pair: "contacts".into(),
                link_id: Some(link),
                system: "hubspot".into(),
                object: "contacts".into(),
                op: WriteOp::Create,
                record_id: None,
                fields: fields(&[("email", json!("ada@example.com"))]),
                upsert: Some(UpsertKey {
                    field: "email".into(),
                    value: "ada@example.com".into(),
                }),
                base: BTreeMap::new(),
            };
            let c = tx.enqueue(&create, 12)?;
            Ok::<_, StoreError>((link, a, b, c))
        })
        .unwrap();
    let r = store.reader();
    assert_eq!(r.outbox_depth().unwrap(), 3);
    let due: Vec<_> = r
        .due("salesforce", 100, 10)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(due, vec![a, b]);
    assert_eq!(r.due("salesforce", 100, 1).unwrap().len(), 1);
    let hubspot = r.due("hubspot", 100, 10).unwrap();
    assert_eq!(
        hubspot[0].write.upsert.as_ref().unwrap().value,
        "ada@example.com"
    );
    assert_eq!(hubspot[0].write.op, WriteOp::Create);
    assert_eq!(r.pending_for_link(link).unwrap().len(), 3);

    // a fails twice and is not due until its backoff ends.
    let attempts = store
        .transaction(|tx| {
            tx.mark_failed(a, "UNABLE_TO_LOCK_ROW", 200, 100)?;
            tx.mark_failed(a, "UNABLE_TO_LOCK_ROW", 300, 200)
        })
        .unwrap();
    assert_eq!(attempts, 2);
    let due: Vec<_> = store
        .reader()
        .due("salesforce", 250, 10)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(due, vec![b]);
    let item = store.reader().outbox_item(a).unwrap().unwrap();
    assert_eq!(
        (item.attempts, item.last_error.as_deref()),
        (2, Some("UNABLE_TO_LOCK_ROW"))
    );

    // b is accepted; c is refused for good.
    let q = store
        .transaction(|tx| {
            tx.mark_done(b, 260)?;
            tx.quarantine_write(
                c,
                &Refusal {
                    email: None,
                    field: Some("email".into()),
                    error_code: "INVALID_EMAIL".into(),
                    message: "Email address is invalid".into(),
                },
                270,
            )
        })
        .unwrap();
    let r = store.reader();
    assert_eq!(r.outbox_item(b).unwrap().unwrap().state, OutboxState::Done);
    assert_eq!(
        r.outbox_item(c).unwrap().unwrap().state,
        OutboxState::Quarantined
    );
    assert_eq!(r.outbox_depth().unwrap(), 1);
    assert!(r.due("hubspot", 1_000, 10).unwrap().is_empty());
    let entry = r.quarantine_entry(q).unwrap().unwrap();
    assert_eq!(
        entry.email.as_deref(),
        Some("ada@example.com"),
        "defaults to the link's"
    );
    assert_eq!(
        (entry.system.as_str(), entry.record_id.as_deref()),
        ("hubspot", None)
    );
    assert_eq!(entry.error_code, "INVALID_EMAIL");
    assert_eq!(entry.outbox_id, Some(c));
    assert_eq!(entry.state, QuarantineState::Open);
    assert_eq!(r.status().unwrap().quarantine_open, 1);

    // Done and quarantined items cannot change again.
    let err = store.transaction(|tx| tx.mark_done(c, 280)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let err = store
        .transaction(|tx| tx.mark_failed(b, "x", 1, 280))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    // Retry re-queues the same write as a new item, due at once.
    let retried = store.transaction(|tx| tx.retry(&[q], 300)).unwrap();
    let requeued = retried[0].outbox_id.unwrap();
    assert!(requeued > c);
    let item = store.reader().outbox_item(requeued).unwrap().unwrap();
    assert_eq!(
        item.write,
        store.reader().outbox_item(c).unwrap().unwrap().write
    );
    assert_eq!((item.state, item.attempts), (OutboxState::Pending, 0));
    assert_eq!(
        store.reader().due("hubspot", 300, 10).unwrap()[0].id,
        requeued
    );
    let entry = store.reader().quarantine_entry(q).unwrap().unwrap();
    assert_eq!(
        (entry.state, entry.retried_at, entry.retry_outbox_id),
        (QuarantineState::Retried, Some(300), Some(requeued))
    );
    assert!(store.reader().quarantined(false).unwrap().is_empty());
    assert_eq!(store.reader().quarantined(true).unwrap().len(), 1);

    // Retrying an entry that is no longer open is an error, and changes nothing.
    let err = store.transaction(|tx| tx.retry(&[q], 310)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "open quarantine entry",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.reader().outbox_depth().unwrap(), 2);

    // retry_all takes every open entry, with or without a write.
    let (w, rec) = store
        .transaction(|tx| {
            let w = tx.quarantine_write(
                requeued,
                &Refusal {
                    error_code: "E".into(),
                    message: "again".into(),
                    ..Refusal::default()
                },
                400,
            )?;
            let rec = tx.quarantine_record(
                &NewQuarantine {
                    system: "salesforce".into(),
                    record_id: Some("00Q9".into()),
                    field: Some("Status".into()),
                    error_code: "UNMAPPABLE_VALUE".into(),
                    message: "Status 'Weird' has no HubSpot value".into(),
                    ..NewQuarantine::default()
                },
                400,
            )?;
            Ok::<_, StoreError>((w, rec))
        })
        .unwrap();
    let retried = store.transaction(|tx| tx.retry_all(500)).unwrap();
    assert_eq!(retried.len(), 2);
    assert_eq!(retried[0].quarantine_id, w);
    assert!(retried[0].outbox_id.is_some());
    assert_eq!(
        (retried[1].quarantine_id, retried[1].outbox_id),
        (rec, None)
    );
    assert_eq!(store.reader().open_quarantine_count().unwrap(), 0);

    // Done items can be pruned; pending ones stay.
    let pruned = store.transaction(|tx| tx.prune_outbox(1_000)).unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(store.reader().outbox_depth().unwrap(), 2);
}

fn conflict(link: truce_state::LinkId, field: &str, salesforce_field: &str) -> NewConflict {
    NewConflict {
        pair: "contacts".into(),
        name: None,
        link_id: link,
        email: "ada@example.com".into(),
        field: field.into(),
        salesforce_field: salesforce_field.into(),
        hubspot_value: json!("h"),
        salesforce_value: json!("s"),
        base_value: Value::Null,
        rule: "two_way".into(),
        winner: "salesforce".into(),
    }
}

#[test]
fn conflicts_are_filtered_by_time_and_by_either_name_of_the_field() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store
        .transaction(|tx| {
            let link = tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1)?;
            tx.record_conflict(&conflict(link, "city", "City"), 100)?;
            tx.record_conflict(&conflict(link, "phone", "Phone"), 200)?;
            tx.record_conflict(&conflict(link, "city", "City"), 300)?;
            tx.record_conflict(&conflict(link, "city", "MailingCity"), 400)
        })
        .unwrap();
    let r = store.reader();
    let at =
        |list: Vec<truce_state::Conflict>| list.iter().map(|c| c.decided_at).collect::<Vec<_>>();
    assert_eq!(at(r.conflicts(0, None).unwrap()), vec![100, 200, 300, 400]);
    assert_eq!(at(r.conflicts(200, None).unwrap()), vec![200, 300, 400]);
    assert_eq!(
        at(r.conflicts(0, Some("city")).unwrap()),
        vec![100, 300, 400]
    );
    assert_eq!(at(r.conflicts(150, Some("city")).unwrap()), vec![300, 400]);
    assert_eq!(at(r.conflicts(0, Some("MailingCity")).unwrap()), vec![400]);
    assert!(r.conflicts(500, None).unwrap().is_empty());
    assert_eq!(r.conflict_count(300).unwrap(), 2);
    let c = &r.conflicts(0, Some("phone")).unwrap()[0];
    assert_eq!(
        (&c.hubspot_value, &c.salesforce_value, &c.base_value),
        (&json!("h"), &json!("s"), &Value::Null)
    );
    assert_eq!(
        (c.rule.as_str(), c.winner.as_str()),
        ("two_way", "salesforce")
    );
}

#[test]
fn history_by_email_interleaves_both_sides_changes_and_conflicts_in_time_order() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    // Seen before the link existed: found through the snapshot's email.
    store.record_page(&hubspot_page(1_000)).unwrap();
    store
        .transaction(|tx| {
            let link = tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1_500)?;
            tx.append_change(
                "contacts",
                "salesforce",
                &FieldChange {
                    object: "Lead".into(),
                    record_id: "00Q1".into(),
                    link_id: None,
                    field: "City".into(),
                    old: json!("Paris"),
                    new: json!("Lyon"),
                    source_modified_at: 1_900,
                    origin: Origin::Remote,
                },
                2_000,
            )?;
            tx.record_conflict(&conflict(link, "city", "City"), 2_000)?;
            tx.append_change(
                "contacts",
                "hubspot",
                &FieldChange {
                    origin: Origin::Echo,
                    ..change("101", Some(link), "city", json!("Paris"), json!("Lyon"))
                },
                3_000,
            )?;
            // Someone else's record: not in Ada's history.
            tx.append_change(
                "contacts",
                "hubspot",
                &change("102", None, "city", json!("Lyon"), json!("Nice")),
                3_000,
            )
        })
        .unwrap();

    let history = store.reader().history("  ADA@example.com").unwrap();
    let summary: Vec<(i64, String)> = history
        .iter()
        .map(|e| match e {
            HistoryEntry::Change(c) => (e.at(), format!("{} {} {}", c.system, c.field, c.origin)),
            HistoryEntry::Conflict(c) => {
                (e.at(), format!("conflict {} won by {}", c.field, c.winner))
            }
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1_000, "hubspot city remote".to_string()),
            (2_000, "salesforce City remote".to_string()),
            (2_000, "conflict city won by salesforce".to_string()),
            (3_000, "hubspot city echo".to_string()),
        ]
    );
    assert!(
        store
            .reader()
            .history("nobody@example.com")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_record_belongs_to_one_active_link_until_it_is_unlinked() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    let first = store
        .transaction(|tx| tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1))
        .unwrap();
    let err = store
        .transaction(|tx| tx.create_link(&new_link("ada2@example.com", "101", "00Q2"), 2))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Sqlite {
                context: "creating a link",
                ..
            }
        ),
        "{err:?}"
    );

    // Lead conversion moves the link to the Contact; the Lead is free again.
    store
        .transaction(|tx| tx.set_link_salesforce(first, "Contact", "0031", 3))
        .unwrap();
    let r = store.reader();
    assert!(
        r.link_by_salesforce_id("contacts", "00Q1")
            .unwrap()
            .is_none()
    );
    let link = r
        .link_by_salesforce_id("contacts", "0031")
        .unwrap()
        .unwrap();
    assert_eq!(
        (link.salesforce_object.as_deref(), link.updated_at),
        (Some("Contact"), 3)
    );

    store.transaction(|tx| tx.unlink(first, 4)).unwrap();
    let r = store.reader();
    assert!(r.link_by_hubspot_id("contacts", "101").unwrap().is_none());
    assert_eq!(r.link(first).unwrap().unwrap().state, LinkState::Unlinked);
    let second = store
        .transaction(|tx| tx.create_link(&new_link("ada@example.com", "101", "00Q2"), 5))
        .unwrap();
    let r = store.reader();
    assert_eq!(
        r.link_by_hubspot_id("contacts", "101").unwrap().unwrap().id,
        second
    );
    assert_eq!(
        r.link_by_email("contacts", "ada@example.com")
            .unwrap()
            .unwrap()
            .id,
        second
    );
    assert_eq!(
        r.links_by_email("contacts", "ada@example.com")
            .unwrap()
            .len(),
        2
    );
    let status = r.status().unwrap();
    assert_eq!((status.links_active, status.links_unlinked), (1, 1));

    let err = store
        .transaction(|tx| tx.set_link_hubspot(truce_state::LinkId(77), "1", 6))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "link",
                id: 77,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn link_views_page_through_active_links_with_their_snapshots_and_base() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store.record_page(&hubspot_page(1_000)).unwrap();
    let ids = store
        .transaction(|tx| {
            let mut ids = Vec::new();
            for n in 0..5 {
                let link = tx.create_link(
                    &NewLink {
                        pair: "contacts".into(),
                        email: format!("p{n}@example.com"),
                        hubspot_id: Some(format!("{}", 101 + n)),
                        ..NewLink::default()
                    },
                    1,
                )?;
                tx.set_base(link, "city", &json!(format!("city {n}")), 1)?;
                tx.set_base(link, "phone", &Value::Null, 1)?;
                ids.push(link);
            }
            tx.unlink(ids[1], 2)?;
            Ok::<_, StoreError>(ids)
        })
        .unwrap();

    let r = store.reader();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = r.link_views(after, 2).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|v| v.link.id);
        seen.extend(page);
    }
    assert_eq!(
        seen.iter().map(|v| v.link.id).collect::<Vec<_>>(),
        vec![ids[0], ids[2], ids[3], ids[4]]
    );
    let first = &seen[0];
    assert_eq!(
        first.hubspot.as_ref().unwrap().fields["city"],
        json!("Paris")
    );
    assert!(first.salesforce.is_none());
    assert_eq!(first.base["city"].value, json!("city 0"));
    assert_eq!(
        first.base["phone"].value,
        Value::Null,
        "a blank base is kept, not absent"
    );
    assert!(seen[1].hubspot.is_none(), "no snapshot of 103 was pulled");

    // 102 is held by an unlinked link only, so it counts as waiting to be matched.
    let waiting: Vec<_> = r
        .unlinked_records("contacts", "hubspot", None, 10)
        .unwrap()
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(waiting, vec!["102"]);
    assert_eq!(
        r.snapshots_by_key("contacts", "hubspot", "BOB@example.com")
            .unwrap()
            .len(),
        1
    );

    store.transaction(|tx| tx.clear_base(ids[0])).unwrap();
    assert!(store.reader().base(ids[0]).unwrap().is_empty());
}

#[test]
fn duplicates_are_reported_once_per_email_and_cleared() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store
        .transaction(|tx| {
            tx.report_duplicate(
                "contacts",
                "hubspot",
                "Ada@example.com",
                &["2".into(), "1".into()],
                1,
            )?;
            tx.report_duplicate(
                "contacts",
                "hubspot",
                "ada@example.com",
                &["3".into(), "1".into(), "2".into()],
                2,
            )
        })
        .unwrap();
    let list = store.reader().duplicates().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].record_ids.clone(), list[0].detected_at),
        (vec!["1".to_string(), "2".into(), "3".into()], 2)
    );
    assert_eq!(store.reader().status().unwrap().duplicates, 1);
    assert!(
        store
            .transaction(|tx| tx.clear_duplicate("contacts", "hubspot", "ADA@example.com"))
            .unwrap()
    );
    assert_eq!(store.reader().status().unwrap().duplicates, 0);
}

#[test]
fn status_summarises_links_outbox_quarantine_cursors_and_scans() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store.record_page(&hubspot_page(1_000)).unwrap();
    store
        .transaction(|tx| {
            let link = tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1)?;
            tx.enqueue(&update_write(Some(link), "00Q1"), 50)?;
            tx.enqueue(&update_write(Some(link), "00Q1"), 60)?;
            tx.advance_cursor("salesforce", "Lead", &cursor(900, "00Q1"), 1_000)?;
            tx.record_scan_step(
                "salesforce",
                &ScanStep {
                    object: "Lead".into(),
                    next: Some("t".into()),
                },
                10,
                1_000,
            )
        })
        .unwrap();
    let status = store.read_view().unwrap().reader().status().unwrap();
    assert_eq!(status.schema_version, SCHEMA_VERSION);
    assert_eq!(status.links_active, 1);
    assert_eq!(status.outbox_pending, 2);
    assert_eq!(status.outbox_oldest_pending_at, Some(50));
    assert_eq!(status.last_seq, 2);
    let streams: Vec<_> = status
        .cursors
        .iter()
        .map(|c| (c.system.as_str(), c.stream.as_str(), c.cursor.modified_at))
        .collect();
    assert_eq!(
        streams,
        vec![("hubspot", "contacts", 1_001), ("salesforce", "Lead", 900)]
    );
    assert_eq!(status.scans[0].records, 10);
}

#[test]
fn a_read_view_of_an_outdated_file_asks_for_a_migration_instead_of_migrating() {
    let (_dir, path) = temp();
    drop(Store::open(&path).unwrap());
    raw(&path).execute_batch("PRAGMA user_version = 1").unwrap();
    let err = ReadView::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::Outdated { found: 1, .. }),
        "{err:?}"
    );
    let version: i64 = raw(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
}

#[test]
fn a_second_writer_waits_for_the_first_instead_of_failing() {
    let (_dir, path) = temp();
    let mut first = Store::open(&path).unwrap();
    let mut second = Store::open(&path).unwrap();
    let tx = first.begin().unwrap();
    let waiter = std::thread::spawn(move || {
        second
            .transaction(|tx| tx.create_link(&new_link("bob@example.com", "102", "00Q2"), 2))
            .map(|_| second)
    });
    // Not waiting for a clock: holding the write lock while the second writer queues on
    // SQLite's busy timeout (5 s), which no test clock can stand in for.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut tx = tx;
    tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1)
        .unwrap();
    tx.commit().unwrap();
    let second = waiter.join().unwrap().unwrap();
    assert_eq!(second.reader().status().unwrap().links_active, 2);
}

#[test]
fn a_row_truce_cannot_decode_is_reported_as_corrupt_with_the_file_name() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store.record_page(&hubspot_page(1_000)).unwrap();
    let link = store
        .transaction(|tx| tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1))
        .unwrap();
    let conn = raw(&path);
    conn.execute(
        "UPDATE snapshots SET fields = '{not json' WHERE record_id = '101'",
        [],
    )
    .unwrap();
    conn.execute("UPDATE links SET state = 'sideways'", [])
        .unwrap();

    let err = store
        .reader()
        .snapshot("contacts", "hubspot", "101")
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    let err = store.reader().link(link).unwrap_err();
    assert!(err.to_string().contains("sideways"), "{err}");
    // Other rows stay readable.
    assert!(
        store
            .reader()
            .snapshot("contacts", "hubspot", "102")
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_copy_holds_everything_and_writes_to_it_leave_the_original_alone() {
    let (dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store.record_page(&hubspot_page(10)).unwrap();
    store
        .transaction(|tx| {
            let link = tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 10)?;
            tx.enqueue(&update_write(Some(link), "00Q1"), 10)?;
            tx.enqueue(&update_write(Some(link), "00Q1"), 11)?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let copy_path = dir.path().join("copy.db");
    store.copy_to(&copy_path).unwrap();
    let mut copy = Store::open(&copy_path).unwrap();
    let summary = copy.reader().pending_summary().unwrap();
    assert_eq!(summary.len(), 1);
    assert_eq!(
        (
            summary[0].system.as_str(),
            summary[0].object.as_str(),
            summary[0].count
        ),
        ("salesforce", "Lead", 2)
    );
    copy.transaction(|tx| tx.create_link(&new_link("bob@example.com", "102", "00Q2"), 12))
        .unwrap();
    assert_eq!(count(&path, "links"), 1);
    assert_eq!(count(&copy_path, "links"), 2);
}

#[test]
fn api_usage_keeps_the_latest_report_per_system() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store
        .transaction(|tx| {
            tx.record_quota("salesforce", 10, 15_000, 1)?;
            tx.record_quota("salesforce", 12, 15_000, 2)?;
            tx.record_quota("hubspot", 400, 250_000, 2)
        })
        .unwrap();
    let quotas = store.reader().quotas().unwrap();
    assert_eq!(quotas.len(), 2);
    assert_eq!(
        (quotas[1].system.as_str(), quotas[1].used),
        ("salesforce", 12)
    );
}

#[test]
fn a_company_has_a_history_by_name_or_by_either_records_id_and_people_keep_theirs() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).unwrap();
    store
        .transaction(|tx| {
            let company = tx.create_link(
                &NewLink {
                    pair: "companies".into(),
                    email: String::new(),
                    name: Some("Acme Corp".into()),
                    hubspot_id: Some("101".into()),
                    salesforce_object: Some("Account".into()),
                    salesforce_id: Some("0011".into()),
                },
                1,
            )?;
            // A person whose HubSpot id collides with the company's: other pair, other record.
            tx.create_link(&new_link("ada@example.com", "101", "00Q1"), 1)?;
            tx.append_change(
                "companies",
                "hubspot",
                &FieldChange {
                    object: "companies".into(),
                    ..change("101", Some(company), "city", json!("Paris"), json!("Lyon"))
                },
                2,
            )?;
            tx.append_change(
                "contacts",
                "hubspot",
                &change("101", None, "city", json!("Oslo"), json!("Rome")),
                3,
            )?;
            tx.record_conflict(
                &NewConflict {
                    pair: "companies".into(),
                    name: Some("Acme Corp".into()),
                    email: String::new(),
                    ..conflict(company, "city", "BillingCity")
                },
                4,
            )?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let r = store.reader();
    for who in ["acme corp", "ACME CORP", "101", "0011"] {
        let entries = r.record_history(who).unwrap();
        assert_eq!(entries.len(), 2, "{who}: {entries:?}");
        assert!(matches!(&entries[0], HistoryEntry::Change(c) if c.new == json!("Lyon")));
        assert!(matches!(&entries[1], HistoryEntry::Conflict(c) if c.pair == "companies"));
    }
    assert!(r.record_history("Globex").unwrap().is_empty());
    let person = r.history("ada@example.com").unwrap();
    assert_eq!(person.len(), 1, "{person:?}");
}
