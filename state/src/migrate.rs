//! Schema migrations, and telling truce's file apart from anything else.
//!
//! The schema is an append-only list of SQL scripts. A file's `PRAGMA user_version` is how
//! many of them it has run; opening applies the rest, all in one `IMMEDIATE` transaction, and
//! bumps `user_version` in that same transaction, so a crash mid-migration leaves the file at
//! its old version, never half-way. Never edit a released migration: add a new one.
//!
//! ## Compatibility
//!
//! `PRAGMA application_id` carries [`APPLICATION_ID`], written with the first migration. A
//! file is only ever written to when it is either truce's (our id, a `user_version` this
//! binary knows) or brand new (no schema objects, id and version zero). Anything else, a
//! foreign SQLite database, a file that is not SQLite at all, or a file from a newer truce,
//! is refused before the first write, so a wrong `[state] path` cannot damage someone's data.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, SqlContext, StoreError};

/// truce's `PRAGMA application_id`: the bytes `TRCE`.
pub const APPLICATION_ID: i32 = 0x5452_4345;

/// The schema, one script per version; index 0 takes a file from version 0 to 1.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: everything the first release knew.
    r#"
    CREATE TABLE links (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL,
        hubspot_id TEXT,
        salesforce_object TEXT,
        salesforce_id TEXT,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        CHECK ((salesforce_object IS NULL) = (salesforce_id IS NULL))
    ) STRICT;
    -- A record belongs to at most one active link; unlinked rows stay as history.
    CREATE UNIQUE INDEX links_active_hubspot ON links (hubspot_id) WHERE state = 'active';
    CREATE UNIQUE INDEX links_active_salesforce ON links (salesforce_id) WHERE state = 'active';
    CREATE INDEX links_email ON links (email);

    CREATE TABLE snapshots (
        system TEXT NOT NULL,
        record_id TEXT NOT NULL,
        object TEXT NOT NULL,
        email TEXT,
        modified_at INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        fields TEXT NOT NULL,
        observed_at INTEGER NOT NULL,
        PRIMARY KEY (system, record_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX snapshots_email ON snapshots (system, email);

    CREATE TABLE base (
        link_id INTEGER NOT NULL REFERENCES links (id) ON DELETE CASCADE,
        field TEXT NOT NULL,
        value TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (link_id, field)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        observed_at INTEGER NOT NULL,
        system TEXT NOT NULL,
        object TEXT NOT NULL,
        record_id TEXT NOT NULL,
        link_id INTEGER REFERENCES links (id),
        field TEXT NOT NULL,
        old TEXT,
        new TEXT,
        source_modified_at INTEGER NOT NULL,
        origin TEXT NOT NULL
    ) STRICT;
    CREATE INDEX changes_link ON changes (link_id, seq);
    CREATE INDEX changes_record ON changes (system, record_id, field, seq);
    CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes
        BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
    CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
        BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;

    CREATE TABLE cursors (
        system TEXT NOT NULL,
        stream TEXT NOT NULL,
        modified_at INTEGER NOT NULL,
        record_id TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (system, stream)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE scans (
        system TEXT NOT NULL,
        object TEXT NOT NULL,
        token TEXT,
        done INTEGER NOT NULL,
        records INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (system, object)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        link_id INTEGER REFERENCES links (id),
        system TEXT NOT NULL,
        object TEXT NOT NULL,
        op TEXT NOT NULL,
        record_id TEXT,
        fields TEXT NOT NULL,
        upsert_field TEXT,
        upsert_value TEXT,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX outbox_due ON outbox (system, next_attempt_at, id) WHERE state = 'pending';
    CREATE INDEX outbox_pending_link ON outbox (link_id) WHERE state = 'pending';

    CREATE TABLE conflicts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        decided_at INTEGER NOT NULL,
        link_id INTEGER NOT NULL REFERENCES links (id),
        email TEXT NOT NULL,
        field TEXT NOT NULL,
        salesforce_field TEXT NOT NULL,
        hubspot_value TEXT,
        salesforce_value TEXT,
        base_value TEXT,
        rule TEXT NOT NULL,
        winner TEXT NOT NULL
    ) STRICT;
    CREATE INDEX conflicts_link ON conflicts (link_id, id);
    CREATE INDEX conflicts_email ON conflicts (email);

    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        quarantined_at INTEGER NOT NULL,
        outbox_id INTEGER,
        link_id INTEGER REFERENCES links (id),
        email TEXT,
        system TEXT NOT NULL,
        record_id TEXT,
        field TEXT,
        error_code TEXT NOT NULL,
        message TEXT NOT NULL,
        write_json TEXT,
        state TEXT NOT NULL,
        retried_at INTEGER,
        retry_outbox_id INTEGER
    ) STRICT;
    CREATE INDEX quarantine_open ON quarantine (id) WHERE state = 'open';
    "#,
    // 2: duplicate reports, and `truce conflicts --since` without a full scan.
    r#"
    CREATE TABLE duplicates (
        system TEXT NOT NULL,
        email TEXT NOT NULL,
        record_ids TEXT NOT NULL,
        detected_at INTEGER NOT NULL,
        PRIMARY KEY (system, email)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX conflicts_decided ON conflicts (decided_at, id);
    "#,
    // 3: the base values a write establishes once the remote system accepts it.
    r#"
    ALTER TABLE outbox ADD COLUMN base TEXT NOT NULL DEFAULT '{}';
    "#,
    // 4: API usage as last reported by each system, for `truce status`.
    r#"
    CREATE TABLE quota (
        system TEXT PRIMARY KEY,
        used INTEGER NOT NULL,
        max INTEGER NOT NULL,
        observed_at INTEGER NOT NULL
    ) STRICT;
    "#,
    // 5: when a write was last handed to the remote system, so only a create that may have
    // landed before a crash needs a lookup before it is sent again.
    r#"
    ALTER TABLE outbox ADD COLUMN sent_at INTEGER;
    "#,
    // 6: a create keyed on the person's email is marked as such, not by a vendor's field
    // name, in queued and in quarantined writes alike.
    r#"
    UPDATE outbox SET upsert_field = '@email'
        WHERE system = 'hubspot' AND upsert_field = 'email';
    UPDATE quarantine SET write_json = json_set(write_json, '$.upsert.field', '@email')
        WHERE system = 'hubspot' AND write_json IS NOT NULL
          AND json_extract(write_json, '$.upsert.field') = 'email';
    "#,
    // 7: object pairs. Every record, link, change, write, conflict, quarantine entry and
    // duplicate belongs to one pair (`contacts` for everything a file held until now):
    // HubSpot ids are only unique within an object, so a record is (pair, system, id).
    // Snapshots keep their record's metadata (conversion, merges) as typed JSON of their
    // own instead of vendor field names among the fields, and their match key (the
    // normalised email of a person, the domain of a company) instead of an email column.
    // References to records not linked yet wait in `deferred`.
    r#"
    ALTER TABLE links ADD COLUMN pair TEXT NOT NULL DEFAULT 'contacts';
    ALTER TABLE links ADD COLUMN name TEXT;
    DROP INDEX links_active_hubspot;
    DROP INDEX links_active_salesforce;
    CREATE UNIQUE INDEX links_active_hubspot ON links (pair, hubspot_id) WHERE state = 'active';
    CREATE UNIQUE INDEX links_active_salesforce ON links (pair, salesforce_id)
        WHERE state = 'active';

    CREATE TABLE snapshots_v7 (
        pair TEXT NOT NULL,
        system TEXT NOT NULL,
        record_id TEXT NOT NULL,
        object TEXT NOT NULL,
        match_key TEXT,
        modified_at INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        fields TEXT NOT NULL,
        meta TEXT NOT NULL,
        observed_at INTEGER NOT NULL,
        PRIMARY KEY (pair, system, record_id)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO snapshots_v7
        SELECT 'contacts', system, record_id, object, email, modified_at, deleted,
               json_remove(fields, '$.IsConverted', '$.ConvertedContactId',
                           '$.ConvertedAccountId', '$.MasterRecordId',
                           '$.hs_merged_object_ids'),
               json_object(
                   'converted', json(CASE WHEN json_extract(fields, '$.IsConverted') = 1
                       THEN json_object(
                           'contact_id', json_extract(fields, '$.ConvertedContactId'),
                           'account_id', json_extract(fields, '$.ConvertedAccountId'),
                           'opportunity_id', NULL)
                       END),
                   'merged_into', json_extract(fields, '$.MasterRecordId'),
                   'merged_ids', json(CASE
                       WHEN coalesce(json_extract(fields, '$.hs_merged_object_ids'), '') <> ''
                       THEN '["' || replace(json_extract(fields, '$.hs_merged_object_ids'),
                                            ';', '","') || '"]'
                       ELSE '[]' END)),
               observed_at
        FROM snapshots;
    DROP TABLE snapshots;
    ALTER TABLE snapshots_v7 RENAME TO snapshots;
    CREATE INDEX snapshots_key ON snapshots (pair, system, match_key);

    ALTER TABLE changes ADD COLUMN pair TEXT NOT NULL DEFAULT 'contacts';
    DROP INDEX changes_record;
    CREATE INDEX changes_record ON changes (pair, system, record_id, field, seq);

    ALTER TABLE outbox ADD COLUMN pair TEXT NOT NULL DEFAULT 'contacts';
    ALTER TABLE conflicts ADD COLUMN pair TEXT NOT NULL DEFAULT 'contacts';
    ALTER TABLE conflicts ADD COLUMN name TEXT;
    ALTER TABLE quarantine ADD COLUMN pair TEXT NOT NULL DEFAULT 'contacts';

    CREATE TABLE duplicates_v7 (
        pair TEXT NOT NULL,
        system TEXT NOT NULL,
        match_key TEXT NOT NULL,
        record_ids TEXT NOT NULL,
        detected_at INTEGER NOT NULL,
        PRIMARY KEY (pair, system, match_key)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO duplicates_v7
        SELECT 'contacts', system, email, record_ids, detected_at FROM duplicates;
    DROP TABLE duplicates;
    ALTER TABLE duplicates_v7 RENAME TO duplicates;

    CREATE TABLE deferred (
        link_id INTEGER NOT NULL REFERENCES links (id),
        field TEXT NOT NULL,
        target_pair TEXT NOT NULL,
        target_system TEXT NOT NULL,
        target_id TEXT NOT NULL,
        since INTEGER NOT NULL,
        PRIMARY KEY (link_id, field, target_system, target_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX deferred_target ON deferred (target_pair, target_system, target_id);
    "#,
    // 8: the agreement between marketing and sales. `qualified` remembers when each HubSpot
    // contact was first seen qualified (once per contact); `handoffs` holds each qualified
    // contact that became a Salesforce Lead (once per contact) with the watch's verdict so
    // far; `sla_findings` is one row per Lead and kind of finding, written in the same
    // transaction as the HubSpot write reporting it, so a finding is never lost or repeated.
    r#"
    CREATE TABLE qualified (
        hubspot_id TEXT PRIMARY KEY,
        qualified_at INTEGER NOT NULL,
        value TEXT NOT NULL,
        source TEXT
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX qualified_at ON qualified (qualified_at);

    CREATE TABLE handoffs (
        hubspot_id TEXT PRIMARY KEY REFERENCES qualified (hubspot_id),
        link_id INTEGER NOT NULL REFERENCES links (id),
        email TEXT NOT NULL,
        how TEXT NOT NULL,
        lead_id TEXT,
        owner TEXT,
        value TEXT NOT NULL,
        source TEXT,
        handed_off_at INTEGER NOT NULL,
        since_seq INTEGER NOT NULL,
        first_touch_at INTEGER,
        first_status TEXT,
        outcome TEXT,
        settled INTEGER NOT NULL DEFAULT 0
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX handoffs_open ON handoffs (hubspot_id) WHERE settled = 0;
    CREATE INDEX handoffs_lead ON handoffs (lead_id);

    CREATE TABLE sla_findings (
        hubspot_id TEXT NOT NULL REFERENCES handoffs (hubspot_id),
        kind TEXT NOT NULL,
        lead_id TEXT NOT NULL,
        owner TEXT,
        status TEXT,
        age_ms INTEGER NOT NULL,
        found_at INTEGER NOT NULL,
        PRIMARY KEY (hubspot_id, kind)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 9: due writes are taken in id order, a batch at a time. Indexed by due time, each batch
    // sorted every pending write of its system (200,000 in a large backfill) to keep the
    // first thousand; in id order the read stops at the batch.
    r#"
    DROP INDEX outbox_due;
    CREATE INDEX outbox_due ON outbox (system, id, next_attempt_at) WHERE state = 'pending';
    "#,
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What an opened file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    /// No schema at all: ours to initialise.
    Fresh,
    /// truce's, at this schema version.
    Truce(i64),
}

/// Reads the file's identity without writing anything, refusing what is not ours to touch.
pub(crate) fn identify(conn: &Connection, path: &Path, supported: i64) -> Result<Identity> {
    const CONTEXT: &str = "reading the file header";
    let application_id: i32 = conn
        .query_row(
            "SELECT application_id FROM pragma_application_id",
            [],
            |r| r.get(0),
        )
        .ctx(path, CONTEXT)?;
    let version: i64 = conn
        .query_row("SELECT user_version FROM pragma_user_version", [], |r| {
            r.get(0)
        })
        .ctx(path, CONTEXT)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .ctx(path, CONTEXT)?;
    if application_id == APPLICATION_ID {
        if version > supported {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
                supported,
            });
        }
        return Ok(Identity::Truce(version));
    }
    if application_id == 0 && version == 0 && tables == 0 {
        return Ok(Identity::Fresh);
    }
    Err(StoreError::NotATruceDatabase {
        path: path.to_path_buf(),
        application_id,
        tables,
    })
}

/// Brings the file up to `migrations.len()`, returning the version it is now at.
pub(crate) fn migrate(conn: &mut Connection, path: &Path, migrations: &[&str]) -> Result<i64> {
    let supported = migrations.len() as i64;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(path, "locking the file to migrate it")?;
    // Another process may have migrated between our first look and taking the lock.
    let from = match identify(&tx, path, supported)? {
        Identity::Fresh => 0,
        Identity::Truce(version) => version,
    };
    if from < supported {
        for (index, sql) in migrations.iter().enumerate().skip(from as usize) {
            tx.execute_batch(sql)
                .ctx(path, "applying a schema migration")?;
            tracing::debug!(version = index + 1, "schema migration applied");
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .ctx(path, "marking the file as truce's")?;
        tx.pragma_update(None, "user_version", supported)
            .ctx(path, "recording the schema version")?;
        tracing::info!(path = %path.display(), from, to = supported, "state schema migrated");
    }
    tx.commit().ctx(path, "committing the schema migration")?;
    Ok(supported)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Store;

    fn schema(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_file_from_every_older_version_migrates_to_the_current_one_keeping_its_rows() {
        for old in 1..MIGRATIONS.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("truce.db");
            {
                let store = Store::open_with(&path, true, &MIGRATIONS[..old]).unwrap();
                assert_eq!(store.schema_version().unwrap(), old as i64);
                // Written as the old binary wrote it: its columns only.
                store
                    .conn
                    .execute(
                        "INSERT INTO links (email, hubspot_id, state, created_at, updated_at)
                         VALUES ('ada@example.com', '101', 'active', 1, 1)",
                        [],
                    )
                    .unwrap();
            }
            let mut store = Store::open(&path).unwrap();
            assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
            let link = store
                .reader()
                .link_by_hubspot_id("contacts", "101")
                .unwrap()
                .unwrap();
            assert_eq!(link.email, "ada@example.com");
            // Version 2's table works on the migrated file.
            store
                .transaction(|tx| {
                    tx.report_duplicate(
                        "contacts",
                        "hubspot",
                        "ada@example.com",
                        &["1".into(), "2".into()],
                        5,
                    )
                })
                .unwrap();
            assert_eq!(store.reader().duplicates().unwrap().len(), 1);
        }
    }

    #[test]
    fn a_version_6_file_keeps_its_people_as_the_contacts_pair_with_typed_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("truce.db");
        {
            let store = Store::open_with(&path, true, &MIGRATIONS[..6]).unwrap();
            store
                .conn
                .execute_batch(
                    r#"
                    INSERT INTO snapshots VALUES
                        ('salesforce', '00Q1', 'Lead', 'ada@example.com', 5, 0,
                         '{"Email":"ada@example.com","City":"Paris","IsConverted":true,
                           "ConvertedContactId":"0031","ConvertedAccountId":"0011"}', 6),
                        ('salesforce', '0032', 'Contact', 'bob@example.com', 5, 1,
                         '{"Email":"bob@example.com","MasterRecordId":"0033"}', 6),
                        ('hubspot', '101', 'contacts', 'ada@example.com', 5, 0,
                         '{"email":"ada@example.com","hs_merged_object_ids":"7;8"}', 6),
                        ('hubspot', '102', 'contacts', NULL, 5, 0, '{"city":"Lyon"}', 6);
                    INSERT INTO duplicates VALUES ('hubspot', 'eve@example.com', '["1","2"]', 9);
                    INSERT INTO outbox (link_id, system, object, op, record_id, fields, state,
                                        attempts, next_attempt_at, created_at, updated_at)
                        VALUES (NULL, 'salesforce', 'Lead', 'update', '00Q1', '{}', 'pending',
                                0, 1, 1, 1);
                    "#,
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let r = store.reader();
        let lead = r
            .snapshot("contacts", "salesforce", "00Q1")
            .unwrap()
            .unwrap();
        assert_eq!(
            lead.meta.converted,
            Some(crate::Converted {
                contact_id: Some("0031".into()),
                account_id: Some("0011".into()),
                opportunity_id: None,
            })
        );
        assert_eq!(
            lead.fields.keys().collect::<Vec<_>>(),
            ["City", "Email"],
            "vendor metadata left the fields"
        );
        assert_eq!(lead.match_key.as_deref(), Some("ada@example.com"));
        let loser = r
            .snapshot("contacts", "salesforce", "0032")
            .unwrap()
            .unwrap();
        assert_eq!(loser.meta.merged_into.as_deref(), Some("0033"));
        assert!(loser.deleted);
        let survivor = r.snapshot("contacts", "hubspot", "101").unwrap().unwrap();
        assert_eq!(survivor.meta.merged_ids, ["7", "8"]);
        let plain = r.snapshot("contacts", "hubspot", "102").unwrap().unwrap();
        assert_eq!(plain.meta, crate::RecordMeta::default());
        assert_eq!(
            r.snapshots_by_key("contacts", "hubspot", "ada@example.com")
                .unwrap()
                .len(),
            1
        );
        let duplicates = r.duplicates().unwrap();
        assert_eq!(duplicates.len(), 1);
        assert_eq!(duplicates[0].pair, "contacts");
        assert_eq!(duplicates[0].key, "eve@example.com");
        assert_eq!(
            r.due("salesforce", 10, 10).unwrap()[0].write.pair,
            "contacts"
        );
    }

    #[test]
    fn a_version_1_file_lacks_what_version_2_adds_until_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("truce.db");
        let v1 = Store::open_with(&path, true, &MIGRATIONS[..1]).unwrap();
        assert!(
            !schema(&v1.conn)
                .iter()
                .any(|sql| sql.contains("duplicates"))
        );
        drop(v1);
        let v2 = Store::open(&path).unwrap();
        assert!(
            schema(&v2.conn)
                .iter()
                .any(|sql| sql.contains("duplicates"))
        );
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("truce.db");
        let mut store = Store::open(&path).unwrap();
        let before = schema(&store.conn);
        let version = migrate(&mut store.conn, &path, MIGRATIONS).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(schema(&store.conn), before);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(schema(&store.conn), before);
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_migration_that_fails_leaves_the_file_at_its_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("truce.db");
        drop(Store::open_with(&path, true, &MIGRATIONS[..1]).unwrap());
        let broken = [
            MIGRATIONS[0],
            "CREATE TABLE ok_so_far (x); THIS IS NOT SQL;",
        ];
        let err = Store::open_with(&path, false, &broken).unwrap_err();
        assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");
        let store = Store::open_with(&path, false, &MIGRATIONS[..1]).unwrap();
        assert_eq!(store.schema_version().unwrap(), 1);
        assert!(
            !schema(&store.conn)
                .iter()
                .any(|sql| sql.contains("ok_so_far"))
        );
    }
}
