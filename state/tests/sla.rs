//! Qualifications, hand-offs and SLA findings against a real state file.

#![allow(clippy::unwrap_used)]

use truce_state::{
    FindingKind, HandoffHow, HandoffVerdict, LinkId, NewFinding, NewHandoff, NewLink, ReadView,
    SlaOutcome, Store,
};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("truce.db")).unwrap();
    (dir, store)
}

fn link(store: &mut Store, email: &str, hubspot: &str) -> LinkId {
    store
        .transaction(|tx| {
            tx.create_link(
                &NewLink {
                    pair: "contacts".into(),
                    email: email.into(),
                    hubspot_id: Some(hubspot.into()),
                    ..NewLink::default()
                },
                1,
            )
        })
        .unwrap()
}

fn handoff(hubspot: &str, link: LinkId, at: i64) -> NewHandoff {
    NewHandoff {
        hubspot_id: hubspot.into(),
        link_id: link,
        email: format!("{hubspot}@example.com"),
        how: HandoffHow::Created,
        lead_id: None,
        owner: None,
        value: "marketingqualifiedlead".into(),
        source: Some("ORGANIC_SEARCH".into()),
        handed_off_at: at,
        since_seq: 0,
    }
}

#[test]
fn a_contact_qualifying_twice_is_qualified_and_handed_off_once() {
    let (_dir, mut store) = store();
    let l = link(&mut store, "a@example.com", "101");
    let (first, again, handed, handed_again) = store
        .transaction(|tx| {
            let first = tx.record_qualified("101", "marketingqualifiedlead", None, 10)?;
            let again = tx.record_qualified("101", "salesqualifiedlead", None, 20)?;
            let handed = tx.record_handoff(&handoff("101", l, 10))?;
            let handed_again = tx.record_handoff(&handoff("101", l, 20))?;
            Ok::<_, truce_state::StoreError>((first, again, handed, handed_again))
        })
        .unwrap();
    assert_eq!(
        (first, again, handed, handed_again),
        (true, false, true, false)
    );
    let cohort = store.reader().qualified_between(0, 100).unwrap();
    assert_eq!(cohort.len(), 1);
    assert_eq!(cohort[0].value, "marketingqualifiedlead");
    assert_eq!(cohort[0].qualified_at, 10);
    let h = cohort[0].handoff.as_ref().unwrap();
    assert_eq!((h.handed_off_at, h.how), (10, HandoffHow::Created));
    assert!(
        store
            .reader()
            .qualified_between(11, 100)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_watch_names_the_lead_once_and_a_finding_is_recorded_once_per_kind() {
    let (_dir, mut store) = store();
    let l = link(&mut store, "a@example.com", "101");
    store
        .transaction(|tx| {
            tx.record_qualified("101", "marketingqualifiedlead", None, 10)?;
            tx.record_handoff(&handoff("101", l, 10))?;
            tx.set_handoff_lead("101", "00Q1", 15)?;
            // A second naming (a restart racing the first) changes nothing.
            tx.set_handoff_lead("101", "00Q2", 99)?;
            tx.set_handoff_owner("101", "005A")?;
            tx.set_handoff_owner("101", "005B")
        })
        .unwrap();
    let h = store.reader().handoff("101").unwrap().unwrap();
    assert_eq!(h.lead_id.as_deref(), Some("00Q1"));
    assert_eq!(h.handed_off_at, 15);
    assert_eq!(h.owner.as_deref(), Some("005A"));
    let finding = NewFinding {
        hubspot_id: "101".into(),
        kind: FindingKind::Breached,
        lead_id: "00Q1".into(),
        owner: Some("005A".into()),
        status: Some("Open - Not Contacted".into()),
        age_ms: 90_000,
    };
    let recorded: Vec<bool> = store
        .transaction(|tx| {
            let a = tx.record_finding(&finding, 100)?;
            let b = tx.record_finding(&finding, 200)?;
            let c = tx.record_finding(
                &NewFinding {
                    kind: FindingKind::DiscardedUntouched,
                    ..finding.clone()
                },
                300,
            )?;
            tx.set_handoff_verdict(
                "101",
                &HandoffVerdict {
                    first_touch_at: Some(250),
                    first_status: Some("Closed - Not Converted".into()),
                    outcome: Some(SlaOutcome::DiscardedUntouched),
                    settled: true,
                },
            )?;
            Ok::<_, truce_state::StoreError>(vec![a, b, c])
        })
        .unwrap();
    assert_eq!(recorded, [true, false, true]);
    let h = store.reader().handoff("101").unwrap().unwrap();
    assert_eq!((h.breached_at, h.discarded_at), (Some(100), Some(300)));
    assert!(h.settled);
    assert!(store.reader().open_handoffs(None, 10).unwrap().is_empty());
    let findings = store.reader().sla_findings().unwrap();
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0].found_at, 100);
}

#[test]
fn status_counts_open_hand_offs_and_the_breached_among_them() {
    let (dir, mut store) = store();
    for (i, id) in ["101", "102", "103", "104"].into_iter().enumerate() {
        let l = link(&mut store, &format!("{id}@example.com"), id);
        store
            .transaction(|tx| {
                tx.record_qualified(id, "marketingqualifiedlead", None, 10)?;
                tx.record_handoff(&NewHandoff {
                    lead_id: (i > 0).then(|| format!("00Q{id}")),
                    ..handoff(id, l, 10)
                })
            })
            .unwrap();
    }
    store
        .transaction(|tx| {
            tx.set_handoff_verdict(
                "103",
                &HandoffVerdict {
                    outcome: Some(SlaOutcome::Breached),
                    ..HandoffVerdict::default()
                },
            )?;
            tx.set_handoff_verdict(
                "104",
                &HandoffVerdict {
                    first_touch_at: Some(20),
                    first_status: Some("Working - Contacted".into()),
                    outcome: Some(SlaOutcome::Met),
                    settled: true,
                },
            )
        })
        .unwrap();
    let view = ReadView::open(dir.path().join("truce.db")).unwrap();
    let summary = view.reader().sla_summary().unwrap();
    assert_eq!(summary.handoffs, 4);
    // 101 waits for its create; 102 and 103 wait for sales, 103 past the SLA.
    assert_eq!(
        (summary.open, summary.breached_open, summary.met),
        (2, 1, 1)
    );
    let open: Vec<String> = view
        .reader()
        .open_handoffs(Some("101"), 10)
        .unwrap()
        .into_iter()
        .map(|h| h.hubspot_id)
        .collect();
    assert_eq!(open, ["102", "103"]);
}
