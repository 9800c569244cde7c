//! Identity for companies (the `companies` pair): a HubSpot company and a Salesforce Account
//! are one company when linked people say so, or (with `match = "domain"`) when they share
//! a normalised domain.
//!
//! - **Through people** ([`from_people`]): for every person link whose records both name a
//!   company (the HubSpot contact's primary company, the Salesforce Contact's `AccountId`),
//!   that company and that Account are linked. People who disagree (one company, two
//!   Accounts) are a duplicate to report, never a guess.
//! - **By domain**: an unlinked company and an unlinked Account with one domain are
//!   linked; two of a kind with one domain, on either side, are a duplicate.
//! - **Creating**: under `referenced` (the default) a company is created on the other side
//!   only once a synced record there refers to it: a linked person — a Contact, never a
//!   Lead, so a person who is only a Lead in Salesforce never makes an Account — or a
//!   synced deal ([`from_deals`]: linked, or being created on the other side); `always`
//!   creates every record, `never` none. With `match = "domain"` a create is preceded by a domain lookup
//!   (among the records truce has read).
//! - A linked record's name follows its record, for logs and `truce status`.

use std::collections::BTreeSet;

use truce_connectors::{ObjectType, System, UpsertKey};
use truce_state::{Link, LinkId, NewLink, Snapshot, Tx};

use super::{Create, Identity, Step};
use crate::engine::EngineError;
use crate::engine::mapping::FieldMap;
use crate::engine::merge::{Rule as FieldRule, Side};
use crate::engine::pair::{Companies, CompanyMatch, CreatePolicy, Identity as Rule, Pair};
use crate::engine::record::Touched;
use crate::engine::settings::Settings;
use crate::engine::stored;

/// The association of a HubSpot contact with its primary company, as the connector names
/// it among the contact's fields.
pub const PRIMARY_COMPANY: &str = "@company";
/// The field of a Salesforce Contact naming its Account.
pub const CONTACT_ACCOUNT: &str = "AccountId";

/// Resolves one live company record.
pub(super) fn resolve(
    step: &mut Step<'_, '_>,
    companies: &Companies,
    system: System,
    snap: &Snapshot,
) -> Result<(), EngineError> {
    if let Some(link) = step.link_of(system, &snap.record_id)? {
        keep_name(step, &link, snap)?;
        step.out.dirty.insert(link.id);
        return Ok(());
    }
    if companies.matching == CompanyMatch::Domain
        && let Some(domain) = &snap.match_key
        && link_by_domain(step, system, snap, domain)?
    {
        return Ok(());
    }
    if policy(companies, system) == CreatePolicy::Always {
        create(step, companies, snap, None)?;
    }
    Ok(())
}

/// The create policy for records of `from` (a HubSpot company is created in Salesforce by
/// `create_in_salesforce`).
fn policy(companies: &Companies, from: System) -> CreatePolicy {
    match from {
        System::HubSpot => companies.create_in_salesforce,
        System::Salesforce => companies.create_in_hubspot,
    }
}

/// Links `snap` to the one unlinked record of the other side with its domain. True when
/// it linked, or found the domain ambiguous and reported it: several unlinked records of
/// either side with it, or `snap` sharing it with a record of its own side that is
/// already linked to the other side's (a guess either way, so nothing is linked or
/// created).
fn link_by_domain(
    step: &mut Step<'_, '_>,
    system: System,
    snap: &Snapshot,
    domain: &str,
) -> Result<bool, EngineError> {
    let other = other(system);
    let (own_free, own_linked) = by_domain(step, system, domain)?;
    let mut own_free: Vec<String> = own_free.into_iter().map(|s| s.record_id).collect();
    if !own_free.contains(&snap.record_id) {
        own_free.push(snap.record_id.clone());
    }
    if own_free.len() > 1 {
        step.report_duplicate(system, domain, &own_free)?;
        return Ok(true);
    }
    let (free, linked) = by_domain(step, other, domain)?;
    match free.as_slice() {
        [] if !own_linked.is_empty() && !linked.is_empty() => {
            let ids: Vec<String> = own_linked
                .into_iter()
                .map(|s| s.record_id)
                .chain(own_free)
                .collect();
            step.report_duplicate(system, domain, &ids)?;
            Ok(true)
        }
        [] => Ok(false),
        [one] => {
            let (hubspot, salesforce) = match system {
                System::HubSpot => (snap, one),
                System::Salesforce => (one, snap),
            };
            link_records(step, hubspot, salesforce)?;
            Ok(true)
        }
        many => {
            let ids: Vec<String> = many.iter().map(|s| s.record_id.clone()).collect();
            step.report_duplicate(other, domain, &ids)?;
            Ok(true)
        }
    }
}

/// The live records of `system` with `domain`: (unlinked, linked).
fn by_domain(
    step: &Step<'_, '_>,
    system: System,
    domain: &str,
) -> Result<(Vec<Snapshot>, Vec<Snapshot>), EngineError> {
    let pair = step.spec.pair.as_str();
    let mut free = Vec::new();
    let mut linked = Vec::new();
    for candidate in step
        .tx
        .reader()
        .snapshots_by_key(pair, stored::system_name(system), domain)?
    {
        if candidate.deleted {
            continue;
        }
        if step.link_of(system, &candidate.record_id)?.is_some() {
            linked.push(candidate);
        } else {
            free.push(candidate);
        }
    }
    Ok((free, linked))
}

fn other(system: System) -> System {
    match system {
        System::HubSpot => System::Salesforce,
        System::Salesforce => System::HubSpot,
    }
}

/// Links a HubSpot company and an Account.
fn link_records(
    step: &mut Step<'_, '_>,
    hubspot: &Snapshot,
    salesforce: &Snapshot,
) -> Result<LinkId, EngineError> {
    let name = hubspot
        .meta
        .name
        .clone()
        .or_else(|| salesforce.meta.name.clone());
    let link = step.tx.create_link(
        &NewLink {
            pair: step.spec.pair.as_str().into(),
            email: String::new(),
            name,
            hubspot_id: Some(hubspot.record_id.clone()),
            salesforce_object: Some(salesforce.object.clone()),
            salesforce_id: Some(salesforce.record_id.clone()),
        },
        step.now,
    )?;
    tracing::info!(
        object = step.spec.pair.as_str(),
        link = link.0,
        hubspot = %hubspot.record_id,
        salesforce = %salesforce.record_id,
        name = hubspot.meta.name.as_deref().unwrap_or(""),
        "companies linked"
    );
    step.out.linked += 1;
    step.out.dirty.insert(link);
    Ok(link)
}

/// A linked company's name follows its record.
fn keep_name(step: &mut Step<'_, '_>, link: &Link, snap: &Snapshot) -> Result<(), EngineError> {
    if let Some(name) = &snap.meta.name
        && link.name.as_ref() != Some(name)
    {
        step.tx.set_link_name(link.id, Some(name), step.now)?;
    }
    Ok(())
}

/// Queues the create of `snap` on the other side, first looking for the same company
/// there by domain when companies match by domain.
fn create(
    step: &mut Step<'_, '_>,
    companies: &Companies,
    snap: &Snapshot,
    link: Option<LinkId>,
) -> Result<(), EngineError> {
    let from = stored::system(&snap.system)?;
    let upsert = match from {
        System::HubSpot => companies.external_id_field.as_ref(),
        System::Salesforce => companies.hubspot_id_property.as_ref(),
    }
    .map(|field| UpsertKey::Field {
        field: field.clone(),
        value: snap.record_id.clone(),
    });
    let target = match from {
        System::HubSpot => ObjectType::SalesforceAccount,
        System::Salesforce => ObjectType::HubSpotCompany,
    };
    tracing::info!(
        object = step.spec.pair.as_str(),
        record = %snap.record_id,
        name = snap.meta.name.as_deref().unwrap_or(""),
        "company created in {}",
        other(from).label()
    );
    step.create_other_side(
        snap,
        Create {
            target,
            upsert,
            link,
            email: None,
        },
    )?;
    Ok(())
}

/// Companies matched and created through people: looks at every person link identity just
/// touched (and at `recheck`, people whose companies had to be fetched first) and links
/// (or creates) the companies its two records name.
pub(super) fn from_people(
    tx: &mut Tx<'_>,
    settings: &Settings,
    now: i64,
    out: &mut Identity,
    recheck: &BTreeSet<LinkId>,
) -> Result<(), EngineError> {
    let Some(spec) = settings.pair(Pair::Companies) else {
        return Ok(());
    };
    let Rule::Company(companies) = &spec.identity else {
        return Ok(());
    };
    let people: Vec<LinkId> = out.dirty.union(recheck).copied().collect();
    let mut step = Step {
        tx,
        spec,
        settings,
        now,
        out,
    };
    for id in people {
        let Some(link) = step.tx.reader().link(id)? else {
            continue;
        };
        if link.pair != Pair::Contacts.as_str() || link.state != truce_state::LinkState::Active {
            continue;
        }
        person(&mut step, companies, &link)?;
    }
    Ok(())
}

/// Companies created because a synced deal refers to them: for every deal link identity
/// just touched (the links of `touched` deal records, including those whose other side
/// is still being created, and the deal links in its dirty set and in `recheck`), the
/// company each of its records names through a mapped company reference is linked by
/// domain or created on the other side, as the pair's rules allow. A deal that needed a
/// company fetched first joins the dirty set, so it is looked at again once it arrived.
pub(super) fn from_deals(
    tx: &mut Tx<'_>,
    settings: &Settings,
    now: i64,
    out: &mut Identity,
    touched: &[Touched],
    recheck: &BTreeSet<LinkId>,
) -> Result<(), EngineError> {
    let (Some(spec), Some(deals)) = (settings.pair(Pair::Companies), settings.pair(Pair::Deals))
    else {
        return Ok(());
    };
    let Rule::Company(companies) = &spec.identity else {
        return Ok(());
    };
    let references: Vec<&FieldMap> = deals
        .fields
        .iter()
        .filter(|m| {
            m.reference
                .is_some_and(|r| r.target == Pair::Companies && !r.many)
        })
        .collect();
    if references.is_empty() {
        return Ok(());
    }
    let mut links: BTreeSet<LinkId> = out.dirty.union(recheck).copied().collect();
    for record in touched.iter().filter(|t| t.pair == Pair::Deals) {
        let linked = tx.reader().link_by_record(
            Pair::Deals.as_str(),
            stored::system_name(record.system),
            &record.id,
        )?;
        links.extend(linked.map(|l| l.id));
    }
    let mut step = Step {
        tx,
        spec,
        settings,
        now,
        out,
    };
    for id in links {
        let Some(link) = step.tx.reader().link(id)? else {
            continue;
        };
        if link.pair != Pair::Deals.as_str() || link.state != truce_state::LinkState::Active {
            continue;
        }
        let fetches = step.out.fetch.len();
        for (system, record) in [
            (System::HubSpot, &link.hubspot_id),
            (System::Salesforce, &link.salesforce_id),
        ] {
            let Some(record) = record else {
                continue;
            };
            let Some(snap) = step.tx.reader().snapshot(
                Pair::Deals.as_str(),
                stored::system_name(system),
                record,
            )?
            else {
                continue;
            };
            if snap.deleted {
                continue;
            }
            for map in references.iter().filter(|m| carries_from(m, system)) {
                let side = match system {
                    System::HubSpot => Side::HubSpot,
                    System::Salesforce => Side::Salesforce,
                };
                let named = snap
                    .fields
                    .get(map.name(side))
                    .and_then(serde_json::Value::as_str)
                    .filter(|company| !company.is_empty());
                if let Some(company) = named {
                    referenced(&mut step, companies, system, company)?;
                }
            }
        }
        if step.out.fetch.len() > fetches {
            step.out.dirty.insert(link.id);
        }
    }
    Ok(())
}

/// True when the reference's rule can carry a value from `system` to the other side: a
/// company referenced where its value is never carried over needs no twin there.
fn carries_from(map: &FieldMap, system: System) -> bool {
    !matches!(
        (map.rule, system),
        (FieldRule::None, _)
            | (FieldRule::AlwaysHubspot, System::Salesforce)
            | (FieldRule::AlwaysSalesforce, System::HubSpot)
    )
}

/// The companies the two records of one person link name.
struct Named {
    /// The HubSpot contact's primary company.
    company: Option<String>,
    /// The Salesforce Contact's Account (a Lead names none).
    account: Option<String>,
    /// True when the Salesforce record is a Contact: only a Contact refers to a company.
    is_contact: bool,
}

/// What one person link's records name; `None` when a side is not known yet.
///
/// A Salesforce Contact whose HubSpot contact truce is still creating already refers to
/// its Account: the company is created alongside the contact (in the same backfill or
/// cycle) rather than once the contact is read back.
fn named_companies(step: &Step<'_, '_>, link: &Link) -> Result<Option<Named>, EngineError> {
    let Some(salesforce_id) = &link.salesforce_id else {
        return Ok(None);
    };
    let reader = step.tx.reader();
    let people = Pair::Contacts.as_str();
    let hubspot = match &link.hubspot_id {
        Some(id) => match reader.snapshot(people, stored::system_name(System::HubSpot), id)? {
            Some(snap) => Some(snap),
            None => return Ok(None),
        },
        None => None,
    };
    let Some(salesforce) = reader.snapshot(
        people,
        stored::system_name(System::Salesforce),
        salesforce_id,
    )?
    else {
        return Ok(None);
    };
    let id_in = |snap: &Snapshot, field: &str| {
        snap.fields
            .get(field)
            .and_then(serde_json::Value::as_str)
            .filter(|id| !id.is_empty())
            .map(String::from)
    };
    let is_contact = salesforce.object == ObjectType::SalesforceContact.as_str();
    let account = is_contact
        .then(|| id_in(&salesforce, CONTACT_ACCOUNT))
        .flatten();
    Ok(Some(Named {
        company: hubspot.and_then(|h| id_in(&h, PRIMARY_COMPANY)),
        account,
        is_contact,
    }))
}

/// One person link's companies: linked together, or created where referenced.
fn person(step: &mut Step<'_, '_>, companies: &Companies, link: &Link) -> Result<(), EngineError> {
    let Some(named) = named_companies(step, link)? else {
        return Ok(());
    };
    match (named.company, named.account) {
        (Some(company), Some(account)) => pair_up(step, link, &company, &account),
        (Some(company), None) if named.is_contact => {
            referenced(step, companies, System::HubSpot, &company)
        }
        (None, Some(account)) => referenced(step, companies, System::Salesforce, &account),
        _ => Ok(()),
    }
}

/// A person names company `company` in HubSpot and Account `account` in Salesforce: they
/// are one company, unless either is linked elsewhere (people disagree: report it).
fn pair_up(
    step: &mut Step<'_, '_>,
    person: &Link,
    company: &str,
    account: &str,
) -> Result<(), EngineError> {
    let by_company = step.link_of(System::HubSpot, company)?;
    let by_account = step.link_of(System::Salesforce, account)?;
    match (by_company, by_account) {
        (Some(a), Some(b)) if a.id == b.id => Ok(()),
        (None, None) => {
            let pair = step.spec.pair.as_str();
            let reader = step.tx.reader();
            let hubspot = reader.snapshot(pair, stored::system_name(System::HubSpot), company)?;
            let salesforce =
                reader.snapshot(pair, stored::system_name(System::Salesforce), account)?;
            match (hubspot, salesforce) {
                (Some(h), Some(s)) if !h.deleted && !s.deleted => {
                    link_records(step, &h, &s)?;
                }
                (h, s) => {
                    // Not read yet: fetch them; the person is looked at again after.
                    if h.is_none() {
                        step.out
                            .fetch
                            .push((ObjectType::HubSpotCompany, company.into()));
                    }
                    if s.is_none() {
                        step.out
                            .fetch
                            .push((ObjectType::SalesforceAccount, account.into()));
                    }
                }
            }
            Ok(())
        }
        (Some(waiting), None) if waiting.salesforce_id.is_none() => {
            adopt(step, &waiting, System::Salesforce, account)
        }
        (None, Some(waiting)) if waiting.hubspot_id.is_none() => {
            adopt(step, &waiting, System::HubSpot, company)
        }
        (by_company, by_account) => {
            let ids: Vec<String> = [by_company, by_account]
                .into_iter()
                .flatten()
                .flat_map(|l| [l.hubspot_id, l.salesforce_id])
                .flatten()
                .chain([company.to_string(), account.to_string()])
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let key = format!("person {}", person.email);
            step.report_duplicate(System::Salesforce, &key, &ids)
        }
    }
}

/// A company link still waiting for its other side finds it through a person: the
/// record is adopted, unless a create for it is already on the way.
fn adopt(
    step: &mut Step<'_, '_>,
    waiting: &Link,
    system: System,
    id: &str,
) -> Result<(), EngineError> {
    if !step.tx.reader().pending_for_link(waiting.id)?.is_empty() {
        return Ok(());
    }
    match system {
        System::HubSpot => step.tx.set_link_hubspot(waiting.id, id, step.now)?,
        System::Salesforce => step.tx.set_link_salesforce(
            waiting.id,
            ObjectType::SalesforceAccount.as_str(),
            id,
            step.now,
        )?,
    }
    step.out.dirty.insert(waiting.id);
    Ok(())
}

/// A synced record (a linked person, a synced deal) refers to a company (of `system`)
/// that has no link: it is linked by domain or created on the other side, as the pair's
/// rules allow.
fn referenced(
    step: &mut Step<'_, '_>,
    companies: &Companies,
    system: System,
    id: &str,
) -> Result<(), EngineError> {
    if step.link_of(system, id)?.is_some() || policy(companies, system) == CreatePolicy::Never {
        return Ok(());
    }
    let pair = step.spec.pair.as_str();
    let Some(snap) = step
        .tx
        .reader()
        .snapshot(pair, stored::system_name(system), id)?
    else {
        let object = match system {
            System::HubSpot => ObjectType::HubSpotCompany,
            System::Salesforce => ObjectType::SalesforceAccount,
        };
        step.out.fetch.push((object, id.into()));
        return Ok(());
    };
    if snap.deleted {
        return Ok(());
    }
    if companies.matching == CompanyMatch::Domain
        && let Some(domain) = snap.match_key.clone()
        && link_by_domain(step, system, &snap, &domain)?
    {
        return Ok(());
    }
    create(step, companies, &snap, None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::engine::pair::{DeletePolicy, PairSpec, People, Qualify};

    fn settings(matching: CompanyMatch, create: CreatePolicy) -> Settings {
        let people = PairSpec {
            pair: Pair::Contacts,
            identity: Rule::Email(People {
                qualify: Qualify::default(),
                create_as: ObjectType::SalesforceLead,
                external_id_field: None,
            }),
            fields: Vec::new(),
            create_defaults: Vec::new(),
            extra_reads: Vec::new(),
        };
        let companies = PairSpec {
            pair: Pair::Companies,
            identity: Rule::Company(Companies {
                matching,
                create_in_salesforce: create,
                create_in_hubspot: create,
                external_id_field: Some("HubSpot_Company_Id__c".into()),
                hubspot_id_property: None,
            }),
            fields: Vec::new(),
            create_defaults: Vec::new(),
            extra_reads: Vec::new(),
        };
        Settings {
            pairs: vec![companies, people],
            deletes: DeletePolicy::Unlink,
            lookback: Duration::from_secs(60),
            association_sweep: Duration::from_secs(300),
            max_attempts: 8,
            apply_batch: 100,
            sla: None,
        }
    }

    use crate::engine::identity::fixture::Fixture;

    #[test]
    fn a_person_linked_on_both_sides_links_the_company_and_account_it_names() {
        let mut f = Fixture::new();
        f.company("501", None);
        f.account("0011", None);
        let person = f.person(
            "101",
            Some("501"),
            ObjectType::SalesforceContact,
            "0031",
            Some("0011"),
        );
        let out = f.resolve(
            &settings(CompanyMatch::Contacts, CreatePolicy::Referenced),
            &[],
            &[person],
        );
        assert_eq!(out.linked, 1);
        let link = f.link_of(Pair::Companies, "501").unwrap();
        assert_eq!(link.salesforce_id.as_deref(), Some("0011"));
        assert_eq!(link.name.as_deref(), Some("companies 501"));
        assert!(out.dirty.contains(&link.id));
    }

    #[test]
    fn a_company_whose_person_is_only_a_lead_makes_no_account() {
        let mut f = Fixture::new();
        f.company("502", None);
        let person = f.person("102", Some("502"), ObjectType::SalesforceLead, "00Q2", None);
        let out = f.resolve(
            &settings(CompanyMatch::Contacts, CreatePolicy::Referenced),
            &[],
            &[person],
        );
        assert_eq!(out.creates, 0);
        assert!(f.creates(System::Salesforce).is_empty());
        assert!(f.link_of(Pair::Companies, "502").is_none());
    }

    #[test]
    fn referenced_records_are_created_on_the_other_side_keyed_for_idempotence() {
        let mut f = Fixture::new();
        f.company("503", None);
        f.account("0014", None);
        let to_salesforce = f.person(
            "103",
            Some("503"),
            ObjectType::SalesforceContact,
            "0033",
            None,
        );
        let to_hubspot = f.person(
            "104",
            None,
            ObjectType::SalesforceContact,
            "0034",
            Some("0014"),
        );
        let out = f.resolve(
            &settings(CompanyMatch::Contacts, CreatePolicy::Referenced),
            &[],
            &[to_salesforce, to_hubspot],
        );
        assert_eq!(out.creates, 2);
        let account = &f.creates(System::Salesforce)[0].write;
        assert_eq!(account.object, "Account");
        assert_eq!(account.pair, "companies");
        let key = account.upsert.as_ref().unwrap();
        assert_eq!(
            (key.field.as_str(), key.value.as_str()),
            ("HubSpot_Company_Id__c", "503")
        );
        let company = &f.creates(System::HubSpot)[0].write;
        assert_eq!(company.object, "companies");
        assert!(
            company.upsert.is_none(),
            "no unique property configured: a blind create"
        );
        // The links exist at once, waiting for the created side.
        assert!(
            f.link_of(Pair::Companies, "503")
                .unwrap()
                .salesforce_id
                .is_none()
        );
    }

    #[test]
    fn never_creates_nothing_and_always_creates_unreferenced_records_too() {
        let mut f = Fixture::new();
        f.account("0015", None);
        let person = f.person(
            "105",
            None,
            ObjectType::SalesforceContact,
            "0035",
            Some("0015"),
        );
        let out = f.resolve(
            &settings(CompanyMatch::Contacts, CreatePolicy::Never),
            &[],
            &[person],
        );
        assert_eq!(out.creates, 0);
        let mut f = Fixture::new();
        f.company("506", None);
        let s = settings(CompanyMatch::Contacts, CreatePolicy::Always);
        let out = f.resolve(&s, &[(ObjectType::HubSpotCompany, "506")], &[]);
        assert_eq!(out.creates, 1);
    }

    #[test]
    fn people_who_disagree_on_a_companys_account_are_a_duplicate_not_a_guess() {
        let mut f = Fixture::new();
        f.company("507", None);
        f.account("0017", None);
        f.account("0018", None);
        let one = f.person(
            "106",
            Some("507"),
            ObjectType::SalesforceContact,
            "0036",
            Some("0017"),
        );
        let two = f.person(
            "107",
            Some("507"),
            ObjectType::SalesforceContact,
            "0037",
            Some("0018"),
        );
        let out = f.resolve(
            &settings(CompanyMatch::Contacts, CreatePolicy::Referenced),
            &[],
            &[one, two],
        );
        assert_eq!(out.linked, 1);
        assert_eq!(out.duplicates, 1);
        let duplicates = f.store.reader().duplicates().unwrap();
        assert_eq!(duplicates[0].pair, "companies");
        assert!(duplicates[0].record_ids.contains(&"0018".to_string()));
        assert_eq!(
            f.link_of(Pair::Companies, "507")
                .unwrap()
                .salesforce_id
                .as_deref(),
            Some("0017")
        );
    }

    #[test]
    fn by_domain_unlinked_records_with_one_domain_are_linked_and_two_of_a_kind_reported() {
        for (matching, linked) in [
            (CompanyMatch::Domain, true),
            (CompanyMatch::Contacts, false),
        ] {
            let mut f = Fixture::new();
            f.company("508", Some("acme.com"));
            f.account("0019", Some("acme.com"));
            let s = settings(matching, CreatePolicy::Referenced);
            f.resolve(&s, &[(ObjectType::HubSpotCompany, "508")], &[]);
            assert_eq!(
                f.link_of(Pair::Companies, "508").is_some(),
                linked,
                "{matching:?}"
            );
        }
        let mut f = Fixture::new();
        f.company("509", Some("twin.io"));
        f.account("0020", Some("twin.io"));
        f.account("0021", Some("twin.io"));
        let s = settings(CompanyMatch::Domain, CreatePolicy::Always);
        let out = f.resolve(&s, &[(ObjectType::HubSpotCompany, "509")], &[]);
        assert_eq!((out.duplicates, out.creates), (1, 0));
        assert!(f.link_of(Pair::Companies, "509").is_none());
        // Twins on the record's own side are as ambiguous: whichever came first would win.
        let mut f = Fixture::new();
        f.company("511", Some("pair.io"));
        f.company("512", Some("pair.io"));
        f.account("0023", Some("pair.io"));
        let out = f.resolve(&s, &[(ObjectType::HubSpotCompany, "511")], &[]);
        assert_eq!((out.duplicates, out.creates, out.linked), (1, 0, 0));
        let duplicates = f.store.reader().duplicates().unwrap();
        assert_eq!(duplicates[0].system, "hubspot");
        assert_eq!(duplicates[0].record_ids.len(), 2);
    }

    #[test]
    fn a_company_not_read_yet_is_fetched_before_the_person_is_looked_at_again() {
        let mut f = Fixture::new();
        let person = f.person(
            "110",
            Some("510"),
            ObjectType::SalesforceContact,
            "0040",
            Some("0022"),
        );
        let out = f.resolve(
            &settings(CompanyMatch::Contacts, CreatePolicy::Referenced),
            &[],
            &[person],
        );
        assert_eq!(
            out.fetch,
            [
                (ObjectType::HubSpotCompany, "510".to_string()),
                (ObjectType::SalesforceAccount, "0022".to_string())
            ]
        );
        f.company("510", None);
        f.account("0022", None);
        let out = f.resolve(
            &settings(CompanyMatch::Contacts, CreatePolicy::Referenced),
            &[],
            &[person],
        );
        assert_eq!(out.linked, 1);
    }
}
