//! Links: which HubSpot record and which Salesforce record are one thing, within one object
//! pair (a person: a HubSpot contact and a Lead or Contact; a company and an Account; a deal
//! and an Opportunity).
//!
//! The link row is the one place that says which records belong together; snapshots, base
//! values and conflicts hang off it. A record belongs to at most one *active* link of its
//! pair (unique indexes enforce it). Links are never deleted: unlinking (a delete under the `unlink`
//! policy, a merge that went wrong) sets the state to `unlinked`, so `truce history` can still
//! tell what the record used to be joined to.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};

use crate::base::BaseValue;
use crate::error::{Result, SqlContext, StoreError};
use crate::snapshots::Snapshot;
use crate::sql::{id_type, text_enum};
use crate::{HUBSPOT, Reader, SALESFORCE, Tx, normalize_email};

id_type!(
    /// A link's id; stable for the life of the file.
    LinkId
);

text_enum!(
    /// Whether a link still joins its records.
    LinkState {
        /// The records are kept in agreement.
        Active => "active",
        /// The link was dissolved; kept as history.
        Unlinked => "unlinked",
    }
);

/// One thing known to both systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The link's id.
    pub id: LinkId,
    /// The object pair (`contacts`, `companies`, `deals`).
    pub pair: String,
    /// The normalised email the records were matched on (people only; empty otherwise).
    pub email: String,
    /// What people call it, for pairs without an email (a company's or deal's name).
    pub name: Option<String>,
    /// The HubSpot record id, once known.
    pub hubspot_id: Option<String>,
    /// The Salesforce object (`Lead`, `Contact`, `Account`...), once known.
    pub salesforce_object: Option<String>,
    /// The Salesforce record id, once known.
    pub salesforce_id: Option<String>,
    /// Active or unlinked.
    pub state: LinkState,
    /// When the link was made (ms).
    pub created_at: i64,
    /// When the link last changed (ms).
    pub updated_at: i64,
}

/// A link to create. A side may be missing while its create is still in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewLink {
    /// The object pair.
    pub pair: String,
    /// The email the records were matched on (normalised by the store); empty for pairs
    /// that are not people.
    pub email: String,
    /// The display name, for pairs without an email.
    pub name: Option<String>,
    /// The HubSpot record id.
    pub hubspot_id: Option<String>,
    /// The Salesforce object; required when `salesforce_id` is given.
    pub salesforce_object: Option<String>,
    /// The Salesforce record id.
    pub salesforce_id: Option<String>,
}

/// An active link with everything the merge needs: both snapshots and the base values.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkView {
    /// The link.
    pub link: Link,
    /// The HubSpot record's last snapshot, if observed.
    pub hubspot: Option<Snapshot>,
    /// The Salesforce record's last snapshot, if observed.
    pub salesforce: Option<Snapshot>,
    /// Base values by field.
    pub base: BTreeMap<String, BaseValue>,
}

const COLUMNS: &str = "id, pair, email, name, hubspot_id, salesforce_object, salesforce_id, \
                       state, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Link> {
    Ok(Link {
        id: row.get(0)?,
        pair: row.get(1)?,
        email: row.get(2)?,
        name: row.get(3)?,
        hubspot_id: row.get(4)?,
        salesforce_object: row.get(5)?,
        salesforce_id: row.get(6)?,
        state: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
    })
}

impl Tx<'_> {
    /// Creates an active link and returns its id. Fails if either record already belongs to
    /// an active link.
    pub fn create_link(&mut self, link: &NewLink, now: i64) -> Result<LinkId> {
        crate::sql::insert_row(
            self.conn(),
            "INSERT INTO links (pair, email, name, hubspot_id, salesforce_object,
                                salesforce_id, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?7)",
            params![
                link.pair,
                normalize_email(&link.email),
                link.name,
                link.hubspot_id,
                link.salesforce_object,
                link.salesforce_id,
                now
            ],
        )
        .map(LinkId)
        .ctx(self.path(), "creating a link")
    }

    /// Points the link at another HubSpot record (a merge winner, or the id a create
    /// returned).
    pub fn set_link_hubspot(&mut self, id: LinkId, hubspot_id: &str, now: i64) -> Result<()> {
        self.update_link(
            id,
            "UPDATE links SET hubspot_id = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, hubspot_id, now],
            "setting a link's HubSpot id",
        )
    }

    /// Points the link at another Salesforce record (a converted lead's Contact, or the id a
    /// create returned).
    pub fn set_link_salesforce(
        &mut self,
        id: LinkId,
        object: &str,
        salesforce_id: &str,
        now: i64,
    ) -> Result<()> {
        self.update_link(
            id,
            "UPDATE links SET salesforce_object = ?2, salesforce_id = ?3, updated_at = ?4
             WHERE id = ?1",
            params![id, object, salesforce_id, now],
            "setting a link's Salesforce record",
        )
    }

    /// Changes the email a link is known by (normalised by the store).
    pub fn set_link_email(&mut self, id: LinkId, email: &str, now: i64) -> Result<()> {
        self.update_link(
            id,
            "UPDATE links SET email = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, normalize_email(email), now],
            "setting a link's email",
        )
    }

    /// Renames a link (a company's or deal's name changed).
    pub fn set_link_name(&mut self, id: LinkId, name: Option<&str>, now: i64) -> Result<()> {
        self.update_link(
            id,
            "UPDATE links SET name = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, name, now],
            "renaming a link",
        )
    }

    /// Dissolves a link; its records are free to be linked again. Unlinking an unlinked link
    /// is a no-op.
    pub fn unlink(&mut self, id: LinkId, now: i64) -> Result<()> {
        self.update_link(
            id,
            "UPDATE links SET state = 'unlinked',
                 updated_at = CASE state WHEN 'unlinked' THEN updated_at ELSE ?2 END
             WHERE id = ?1",
            params![id, now],
            "unlinking",
        )
    }

    fn update_link(
        &mut self,
        id: LinkId,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
        context: &'static str,
    ) -> Result<()> {
        let changed = self
            .conn()
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params))
            .ctx(self.path(), context)?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                path: self.path().to_path_buf(),
                what: "link",
                id: id.0,
            });
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// The link with this id, in any state.
    pub fn link(&self, id: LinkId) -> Result<Option<Link>> {
        self.query_link(
            &format!("SELECT {COLUMNS} FROM links WHERE id = ?1"),
            &[&id],
        )
    }

    /// The active link of `pair` for this email (compared normalised); the oldest if,
    /// against the matching rules, there are several.
    pub fn link_by_email(&self, pair: &str, email: &str) -> Result<Option<Link>> {
        self.query_link(
            &format!(
                "SELECT {COLUMNS} FROM links WHERE email = ?1 AND pair = ?2 AND state = 'active'
                 ORDER BY id LIMIT 1"
            ),
            &[&normalize_email(email), &pair],
        )
    }

    /// Every link of `pair`, active or not, ever made for this email, oldest first.
    pub fn links_by_email(&self, pair: &str, email: &str) -> Result<Vec<Link>> {
        let email = normalize_email(email);
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM links WHERE email = ?1 AND pair = ?2 ORDER BY id"
            ))
            .and_then(|mut stmt| stmt.query_map(params![email, pair], from_row)?.collect())
            .ctx(self.path, "reading links by email")
    }

    /// The active link of `pair` holding this HubSpot record.
    pub fn link_by_hubspot_id(&self, pair: &str, hubspot_id: &str) -> Result<Option<Link>> {
        self.query_link(
            &format!(
                "SELECT {COLUMNS} FROM links
                 WHERE pair = ?1 AND hubspot_id = ?2 AND state = 'active'"
            ),
            &[&pair, &hubspot_id],
        )
    }

    /// The active link of `pair` holding this Salesforce record.
    pub fn link_by_salesforce_id(&self, pair: &str, salesforce_id: &str) -> Result<Option<Link>> {
        self.query_link(
            &format!(
                "SELECT {COLUMNS} FROM links
                 WHERE pair = ?1 AND salesforce_id = ?2 AND state = 'active'"
            ),
            &[&pair, &salesforce_id],
        )
    }

    /// The active link of `pair` holding this record of `system` (`hubspot` or
    /// `salesforce`).
    pub fn link_by_record(&self, pair: &str, system: &str, id: &str) -> Result<Option<Link>> {
        match system {
            HUBSPOT => self.link_by_hubspot_id(pair, id),
            _ => self.link_by_salesforce_id(pair, id),
        }
    }

    /// Up to `limit` active links with ids above `after`, in id order, each with its
    /// snapshots and base values. Page through every link without holding them all:
    /// pass the last id of one page as `after` of the next.
    pub fn link_views(&self, after: Option<LinkId>, limit: usize) -> Result<Vec<LinkView>> {
        let links: Vec<Link> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM links WHERE state = 'active' AND id > ?1
                 ORDER BY id LIMIT ?2"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![after.map_or(i64::MIN, |id| id.0), crate::sql::limit(limit)],
                    from_row,
                )?
                .collect()
            })
            .ctx(self.path, "reading a page of links")?;
        links.into_iter().map(|link| self.view(link)).collect()
    }

    /// The link with this id (in any state), with its snapshots and base values.
    pub fn link_view(&self, id: LinkId) -> Result<Option<LinkView>> {
        match self.link(id)? {
            Some(link) => self.view(link).map(Some),
            None => Ok(None),
        }
    }

    fn view(&self, link: Link) -> Result<LinkView> {
        let hubspot = match &link.hubspot_id {
            Some(id) => self.snapshot(&link.pair, HUBSPOT, id)?,
            None => None,
        };
        let salesforce = match &link.salesforce_id {
            Some(id) => self.snapshot(&link.pair, SALESFORCE, id)?,
            None => None,
        };
        let base = self.base(link.id)?;
        Ok(LinkView {
            link,
            hubspot,
            salesforce,
            base,
        })
    }

    fn query_link(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Option<Link>> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_row(params, from_row).optional())
            .ctx(self.path, "reading a link")
    }

    /// How many links are active and how many unlinked.
    pub(crate) fn link_counts(&self) -> Result<(i64, i64)> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE state = 'active'),
                        count(*) FILTER (WHERE state = 'unlinked')
                 FROM links",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx(self.path, "counting links")
    }

    /// Up to `limit` record ids of `system` held by active links of `pair`, above `after`,
    /// in id order: page through them to visit every linked record (an association sweep).
    pub fn linked_ids(
        &self,
        pair: &str,
        system: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let column = match system {
            HUBSPOT => "hubspot_id",
            _ => "salesforce_id",
        };
        self.conn
            .prepare_cached(&format!(
                "SELECT {column} FROM links
                 WHERE pair = ?1 AND state = 'active' AND {column} IS NOT NULL
                   AND (?2 IS NULL OR {column} > ?2)
                 ORDER BY {column} LIMIT ?3"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(params![pair, after, crate::sql::limit(limit)], |r| r.get(0))?
                    .collect()
            })
            .ctx(self.path, "reading linked record ids")
    }

    /// Every active link of `pair`, in id order.
    pub fn active_link_ids(&self, pair: &str) -> Result<Vec<LinkId>> {
        self.conn
            .prepare_cached("SELECT id FROM links WHERE pair = ?1 AND state = 'active' ORDER BY id")
            .and_then(|mut stmt| stmt.query_map([pair], |r| r.get(0))?.collect())
            .ctx(self.path, "reading a pair's links")
    }

    /// Active links per pair, in pair order (`companies`, `contacts`, `deals`).
    pub(crate) fn active_links_by_pair(&self) -> Result<Vec<(String, i64)>> {
        self.conn
            .prepare_cached(
                "SELECT pair, count(*) FROM links WHERE state = 'active' GROUP BY pair ORDER BY pair",
            )
            .and_then(|mut stmt| stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .ctx(self.path, "counting links per pair")
    }
}
