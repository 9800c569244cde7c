"""HubSpot's official Python SDK (hubspot-api-client) against truce's HubSpot sandbox.

Covers contacts, companies, deals, the v4 associations API, deal pipelines and owners
(the SDK speaks only the v3/v4 paths; the date versions are checked in Rust over HTTP).

Reads HUBSPOT_BASE_URL and HUBSPOT_TOKEN (and, for the 429 check, HUBSPOT_LIMITED_URL: a
sandbox allowing one request per 10 s). Every check calls the sandbox through the SDK and
relies on the SDK parsing the answer into its own models, so a body the real SDK could not
read fails here. Prints "N passed, N failed" and exits 1 on any failure.
"""

import json
import os
import sys
import time
import traceback

import hubspot.crm.associations.v4 as assoc
import hubspot.crm.companies as hc
import hubspot.crm.deals as hd
from hubspot import HubSpot
from hubspot.crm.properties import PropertyCreate
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicMergeInput,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

BASE = os.environ["HUBSPOT_BASE_URL"]
TOKEN = os.environ["HUBSPOT_TOKEN"]
LIMITED = os.environ.get("HUBSPOT_LIMITED_URL")
RUN = str(int(time.time() * 1000))

client = HubSpot(access_token=TOKEN, host=BASE)
contacts = client.crm.contacts
results = []
state = {}


def check(fn):
    try:
        fn()
        results.append((fn.__name__, None))
        print(f"ok   {fn.__name__}")
    except Exception as err:  # noqa: BLE001 - every failure is reported, none stops the run
        results.append((fn.__name__, err))
        print(f"FAIL {fn.__name__}: {err!r}")
        traceback.print_exc(limit=3)
    return fn


def expect_api_error(call, status):
    # Each SDK package has its own ApiException class; all carry status and body.
    try:
        call()
    except Exception as err:  # noqa: BLE001 - checked just below
        if getattr(err, "status", None) is None:
            raise
        assert err.status == status, f"expected HTTP {status}, got {err.status}: {err.body}"
        return err, json.loads(err.body)
    raise AssertionError(f"expected HTTP {status}, the call succeeded")


def email(n):
    return f"sdk.{RUN}.{n}@example.com"


@check
def basic_create_returns_a_parsed_record():
    created = contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": email(1), "firstname": "Ada", "lifecyclestage": "lead"}
        )
    )
    assert created.id.isdigit()
    assert created.properties["email"] == email(1)
    assert created.properties["hs_object_id"] == created.id
    assert created.created_at is not None and created.updated_at is not None
    assert created.archived is False
    state["id"] = created.id


@check
def basic_get_by_id_and_by_email():
    got = contacts.basic_api.get_by_id(state["id"], properties=["email", "firstname", "city"])
    assert got.properties["firstname"] == "Ada"
    assert got.properties["city"] is None
    by_email = contacts.basic_api.get_by_id(email(1), id_property="email")
    assert by_email.id == state["id"]


@check
def basic_update_changes_values_and_lastmodifieddate():
    before = contacts.basic_api.get_by_id(state["id"]).properties["lastmodifieddate"]
    time.sleep(0.01)
    updated = contacts.basic_api.update(
        state["id"], SimplePublicObjectInput(properties={"city": "Oslo"})
    )
    assert updated.properties["city"] == "Oslo"
    assert updated.properties["lastmodifieddate"] > before


@check
def duplicate_email_is_a_409_naming_the_existing_id():
    _, body = expect_api_error(
        lambda: contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": email(1).upper()})
        ),
        409,
    )
    assert body["category"] == "CONFLICT"
    assert f"Existing ID: {state['id']}" in body["message"]


@check
def invalid_email_and_unknown_property_are_400_validation_errors():
    _, body = expect_api_error(
        lambda: contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "nope", "favourite": "x"})
        ),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    codes = sorted(e["code"] for e in body["errors"])
    assert codes == ["INVALID_EMAIL", "PROPERTY_DOESNT_EXIST"], codes


@check
def basic_archive_then_get_is_404():
    contacts.basic_api.archive(state["id"])
    _, body = expect_api_error(lambda: contacts.basic_api.get_by_id(state["id"]), 404)
    assert body["status"] == "error"
    archived = contacts.basic_api.get_by_id(state["id"], archived=True)
    assert archived.archived is True


@check
def batch_create_read_update_upsert():
    created = contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(properties={"email": email(n), "firstname": f"B{n}"})
                for n in range(10, 13)
            ]
        )
    )
    assert created.status == "COMPLETE"
    ids = sorted(r.id for r in created.results)
    assert len(ids) == 3
    read = contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids], properties=["email", "firstname"],
            properties_with_history=[],
        )
    )
    assert sorted(r.id for r in read.results) == ids
    updated = contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties={"city": "Lyon"}) for i in ids]
        )
    )
    assert all(r.properties["city"] == "Lyon" for r in updated.results)
    upserted = contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(id=email(10), id_property="email", properties={"city": "Porto"}),
                SimplePublicObjectBatchInputUpsert(id=email(13), id_property="email", properties={"city": "Porto"}),
            ]
        )
    )
    flags = sorted((r.properties["email"], r.new) for r in upserted.results)
    assert flags == [(email(10), False), (email(13), True)], flags
    state["batch_ids"] = ids


@check
def batch_read_of_a_missing_id_is_a_parsed_207():
    answer = contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=state["batch_ids"][0]), SimplePublicObjectId(id="999999999")],
            properties=["email"], properties_with_history=[],
        )
    )
    assert type(answer).__name__ == "BatchResponseSimplePublicObjectWithErrors", type(answer)
    assert answer.num_errors == 1
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert answer.errors[0].context["ids"] == ["999999999"]
    assert len(answer.results) == 1


@check
def batch_create_with_trace_ids_reports_a_bad_input_in_a_207():
    answer = contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(properties={"email": email(20)}, object_write_trace_id="t1", associations=[]),
                SimplePublicObjectBatchInputForCreate(properties={"email": "broken"}, object_write_trace_id="t2", associations=[]),
            ]
        )
    )
    assert type(answer).__name__ == "BatchResponseSimplePublicObjectWithErrors", type(answer)
    assert answer.num_errors == 1 and len(answer.results) == 1
    err = answer.errors[0]
    assert err.category == "VALIDATION_ERROR"
    assert err.context["objectWriteTraceId"] == ["t2"]
    assert err.errors[0].code == "INVALID_EMAIL"


@check
def batch_archive_is_204():
    contacts.batch_api.archive(
        BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=state["batch_ids"][2])])
    )
    expect_api_error(lambda: contacts.basic_api.get_by_id(state["batch_ids"][2]), 404)


@check
def search_on_lastmodifieddate_pages_through_every_match():
    since = str(int(time.time() * 1000) - 3_600_000)
    seen = []
    after = None
    total = None
    while True:
        page = contacts.search_api.do_search(
            PublicObjectSearchRequest(
                filter_groups=[FilterGroup(filters=[Filter(property_name="lastmodifieddate", operator="GTE", value=since)])],
                sorts=["lastmodifieddate"],
                properties=["email", "lastmodifieddate"],
                limit=2,
                after=after,
            )
        )
        total = page.total
        seen.extend(r.id for r in page.results)
        if page.paging is None or page.paging.next is None:
            break
        after = page.paging.next.after
    assert len(seen) == total and len(set(seen)) == total, (seen, total)
    assert total >= 4


@check
def search_filters_and_sorts():
    page = contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(filters=[
                    Filter(property_name="email", operator="IN", values=[email(10), email(11)]),
                    Filter(property_name="city", operator="HAS_PROPERTY"),
                ])
            ],
            sorts=["-hs_object_id"],
            properties=["email", "city"],
            limit=10,
        )
    )
    assert page.total == 2
    assert int(page.results[0].id) > int(page.results[1].id)


@check
def search_beyond_10000_results_is_a_400():
    _, body = expect_api_error(
        lambda: contacts.search_api.do_search(PublicObjectSearchRequest(limit=100, after="9950")),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"


@check
def merge_gives_a_new_record_that_old_ids_resolve_to():
    a = contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": email(30)}))
    b = contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": email(31)}))
    merged = contacts.basic_api.merge(PublicMergeInput(primary_object_id=a.id, object_id_to_merge=b.id))
    assert merged.id not in (a.id, b.id)
    assert contacts.basic_api.get_by_id(a.id).id == merged.id
    got = contacts.basic_api.get_by_id(b.id, properties=["hs_merged_object_ids"])
    assert got.properties["hs_merged_object_ids"] == f"{a.id};{b.id}"


@check
def list_pages_with_after():
    page = contacts.basic_api.get_page(limit=2)
    assert len(page.results) == 2 and page.paging.next.after
    every = contacts.get_all()
    assert len(every) >= 4


@check
def properties_api_lists_definitions():
    props = client.crm.properties.core_api.get_all("contacts")
    stage = next(p for p in props.results if p.name == "lifecyclestage")
    assert stage.type == "enumeration"
    assert "marketingqualifiedlead" in [o.value for o in stage.options]


@check
def a_wrong_token_is_a_401_with_hubspots_body():
    bad = HubSpot(access_token="pat-na1-wrong", host=BASE)
    _, body = expect_api_error(lambda: bad.crm.contacts.basic_api.get_page(), 401)
    assert body["category"] == "INVALID_AUTHENTICATION"


@check
def a_rate_limited_call_is_a_429_the_sdk_reports():
    assert LIMITED, "HUBSPOT_LIMITED_URL is not set"
    limited = HubSpot(access_token=TOKEN, host=LIMITED)
    limited.crm.contacts.basic_api.get_page(limit=1)
    err, body = expect_api_error(lambda: limited.crm.contacts.basic_api.get_page(limit=1), 429)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert err.headers["X-HubSpot-RateLimit-Remaining"] == "0"


companies = client.crm.companies
deals = client.crm.deals
associations = client.crm.associations.v4


def company_domain(n):
    return f"sdk-{RUN}-{n}.example"


@check
def companies_basic_create_get_update_archive():
    created = companies.basic_api.create(
        hc.SimplePublicObjectInputForCreate(
            properties={"name": "SDK Co", "domain": company_domain(1), "industry": "COMPUTER_SOFTWARE"}
        )
    )
    assert created.properties["hs_object_id"] == created.id
    got = companies.basic_api.get_by_id(created.id)
    assert sorted(got.properties) == ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"], got.properties
    before = got.properties["hs_lastmodifieddate"]
    time.sleep(0.01)
    updated = companies.basic_api.update(created.id, hc.SimplePublicObjectInput(properties={"city": "Oslo"}))
    assert updated.properties["city"] == "Oslo"
    assert updated.properties["hs_lastmodifieddate"] > before
    _, body = expect_api_error(
        lambda: companies.basic_api.update(created.id, hc.SimplePublicObjectInput(properties={"industry": "Software"})),
        400,
    )
    assert body["errors"][0]["code"] == "INVALID_OPTION"
    state["company"] = created.id
    spare = companies.basic_api.create(hc.SimplePublicObjectInputForCreate(properties={"name": "Spare"}))
    companies.basic_api.archive(spare.id)
    expect_api_error(lambda: companies.basic_api.get_by_id(spare.id), 404)
    archived = companies.basic_api.get_by_id(spare.id, archived=True)
    assert archived.archived is True and archived.properties["hs_lastmodifieddate"] == archived.properties["createdate"]


@check
def companies_batch_create_read_update_upsert_archive():
    prop = client.crm.properties.core_api.create(
        "companies",
        PropertyCreate(
            name="salesforce_account_id", label="Salesforce Account Id", type="string",
            field_type="text", group_name="companyinformation", has_unique_value=True,
        ),
    )
    assert prop.has_unique_value is True
    created = companies.batch_api.create(
        hc.BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                hc.SimplePublicObjectBatchInputForCreate(properties={"name": f"B{n}", "domain": company_domain(n)})
                for n in range(10, 13)
            ]
        )
    )
    ids = sorted(r.id for r in created.results)
    read = companies.batch_api.read(
        hc.BatchReadInputSimplePublicObjectId(
            inputs=[hc.SimplePublicObjectId(id=i) for i in ids], properties=["name", "domain"], properties_with_history=[]
        )
    )
    assert sorted(r.id for r in read.results) == ids
    updated = companies.batch_api.update(
        hc.BatchInputSimplePublicObjectBatchInput(
            inputs=[hc.SimplePublicObjectBatchInput(id=i, properties={"salesforce_account_id": f"001{i}"}) for i in ids]
        )
    )
    assert len(updated.results) == 3
    upserted = companies.batch_api.upsert(
        hc.BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                hc.SimplePublicObjectBatchInputUpsert(id=f"001{ids[0]}", id_property="salesforce_account_id", properties={"city": "Lyon"}),
                hc.SimplePublicObjectBatchInputUpsert(id="001NEW", id_property="salesforce_account_id", properties={"name": "New"}),
            ]
        )
    )
    flags = sorted((r.properties["salesforce_account_id"], r.new) for r in upserted.results)
    assert flags == sorted([("001NEW", True), (f"001{ids[0]}", False)]), flags
    _, body = expect_api_error(
        lambda: companies.basic_api.create(hc.SimplePublicObjectInputForCreate(properties={"salesforce_account_id": "001NEW"})),
        409,
    )
    assert body["category"] == "CONFLICT" and "Existing ID: " in body["message"]
    companies.batch_api.archive(hc.BatchInputSimplePublicObjectId(inputs=[hc.SimplePublicObjectId(id=ids[2])]))
    expect_api_error(lambda: companies.basic_api.get_by_id(ids[2]), 404)


@check
def companies_search_on_hs_lastmodifieddate():
    since = str(int(time.time() * 1000) - 3_600_000)
    page = companies.search_api.do_search(
        hc.PublicObjectSearchRequest(
            filter_groups=[hc.FilterGroup(filters=[hc.Filter(property_name="hs_lastmodifieddate", operator="GTE", value=since)])],
            sorts=["hs_lastmodifieddate"],
            properties=["name", "hs_lastmodifieddate"],
            limit=2,
        )
    )
    assert page.total >= 4, page.total
    assert len(page.results) == 2 and page.paging.next.after == "2"
    assert page.results[0].properties["hs_lastmodifieddate"] <= page.results[1].properties["hs_lastmodifieddate"]


@check
def deals_take_a_stage_of_their_pipeline_and_refuse_an_unknown_one():
    created = deals.basic_api.create(
        hd.SimplePublicObjectInputForCreate(
            properties={"dealname": "SDK deal", "amount": "1500.00", "pipeline": "default",
                        "dealstage": "contractsent", "closedate": "2026-06-30T00:00:00.000Z"}
        )
    )
    got = deals.basic_api.get_by_id(created.id, properties=["dealstage", "hs_deal_stage_probability", "hs_is_closed_won"])
    assert got.properties["hs_deal_stage_probability"] == "0.9"
    assert got.properties["hs_is_closed_won"] == "false"
    won = deals.basic_api.update(created.id, hd.SimplePublicObjectInput(properties={"dealstage": "closedwon"}))
    assert won.properties["hs_is_closed_won"] == "true"
    _, body = expect_api_error(
        lambda: deals.basic_api.create(hd.SimplePublicObjectInputForCreate(properties={"dealname": "Bad", "dealstage": "Won it"})),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["code"] == "INVALID_OPTION"
    assert body["errors"][0]["context"]["propertyName"] == ["dealstage"]
    state["deal"] = created.id


@check
def deals_batch_and_search():
    created = deals.batch_api.create(
        hd.BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                hd.SimplePublicObjectBatchInputForCreate(properties={"dealname": "B1", "dealstage": "qualifiedtobuy"}, object_write_trace_id="d1", associations=[]),
                hd.SimplePublicObjectBatchInputForCreate(properties={"dealname": "B2", "dealstage": "nope"}, object_write_trace_id="d2", associations=[]),
            ]
        )
    )
    assert type(created).__name__ == "BatchResponseSimplePublicObjectWithErrors", type(created)
    assert created.num_errors == 1 and created.errors[0].context["objectWriteTraceId"] == ["d2"]
    page = deals.search_api.do_search(
        hd.PublicObjectSearchRequest(
            filter_groups=[hd.FilterGroup(filters=[
                hd.Filter(property_name="hs_lastmodifieddate", operator="GTE", value="0"),
                hd.Filter(property_name="dealstage", operator="EQ", value="qualifiedtobuy"),
            ])],
            properties=["dealname"], limit=10,
        )
    )
    assert [r.properties["dealname"] for r in page.results] == ["B1"], page.results


@check
def associations_v4_basic_create_get_page_archive():
    state["contact"] = contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": email(40)})
    ).id
    labels = associations.basic_api.create(
        "deals", state["deal"], "companies", state["company"],
        [assoc.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=5)],
    )
    assert labels.from_object_id == state["deal"] and labels.to_object_id == state["company"]
    assert labels.labels == ["Primary"]
    page = associations.basic_api.get_page("deals", state["deal"], "companies", limit=500)
    assert [r.to_object_id for r in page.results] == [state["company"]]
    assert sorted(t.type_id for t in page.results[0].association_types) == [5, 341]
    default = associations.basic_api.create_default("contacts", state["contact"], "companies", state["company"])
    assert {r.association_spec.association_type_id for r in default.results} == {279, 280}
    with_assoc = companies.basic_api.get_by_id(state["company"], associations=["deals", "contacts"])
    assert with_assoc.associations["deals"].results[0].type == "company_to_deal"
    assert with_assoc.associations["contacts"].results[0].id == state["contact"]
    associations.basic_api.archive("contacts", state["contact"], "companies", state["company"])
    after = associations.basic_api.get_page("contacts", state["contact"], "companies")
    assert after.results == []


@check
def associations_v4_batch_create_read_archive():
    made = associations.batch_api.create(
        "deals", "contacts",
        assoc.BatchInputPublicAssociationMultiPost(inputs=[
            assoc.PublicAssociationMultiPost(
                _from=assoc.PublicObjectId(id=state["deal"]), to=assoc.PublicObjectId(id=state["contact"]),
                types=[assoc.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=3)],
            )
        ]),
    )
    assert type(made).__name__ == "BatchResponseLabelsBetweenObjectPair", type(made)
    assert made.results[0].to_object_id == state["contact"]
    lonely = deals.basic_api.create(hd.SimplePublicObjectInputForCreate(properties={"dealname": "Lonely"}))
    read = associations.batch_api.get_page(
        "deals", "contacts",
        assoc.BatchInputPublicFetchAssociationsBatchRequest(inputs=[
            assoc.PublicFetchAssociationsBatchRequest(id=state["deal"]),
            assoc.PublicFetchAssociationsBatchRequest(id=lonely.id),
        ]),
    )
    assert type(read).__name__ == "BatchResponsePublicAssociationMultiWithLabelWithErrors", type(read)
    assert read.results[0]._from.id == state["deal"]
    assert read.results[0].to[0].to_object_id == state["contact"]
    assert read.errors[0].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert read.errors[0].context["fromObjectId"] == [lonely.id]
    associations.batch_api.archive(
        "deals", "contacts",
        assoc.BatchInputPublicAssociationMultiArchive(inputs=[
            assoc.PublicAssociationMultiArchive(_from=assoc.PublicObjectId(id=state["deal"]), to=[assoc.PublicObjectId(id=state["contact"])])
        ]),
    )
    assert associations.basic_api.get_page("deals", state["deal"], "contacts").results == []


@check
def pipelines_get_all_deals():
    answer = client.crm.pipelines.pipelines_api.get_all("deals")
    default = answer.results[0]
    assert default.id == "default" and default.label == "Sales Pipeline"
    stages = {s.id: s for s in default.stages}
    assert len(stages) == 7
    assert stages["closedwon"].metadata == {"isClosed": "true", "probability": "1.0"}
    assert stages["appointmentscheduled"].metadata["probability"] == "0.2"
    one = client.crm.pipelines.pipeline_stages_api.get_by_id("deals", "default", "closedlost")
    assert one.label == "Closed Lost"


@check
def owners_page_and_get_by_id():
    page = client.crm.owners.owners_api.get_page(limit=2)
    assert len(page.results) == 2 and page.paging.next.after
    first = page.results[0]
    assert first.type == "PERSON" and first.user_id != int(first.id)
    by_email = client.crm.owners.owners_api.get_page(email=first.email)
    assert [o.id for o in by_email.results] == [first.id]
    assert client.crm.owners.owners_api.get_by_id(first.id).email == first.email
    archived = client.crm.owners.owners_api.get_page(archived=True)
    assert all(o.archived for o in archived.results) and archived.results


passed = sum(1 for _, err in results if err is None)
failed = len(results) - passed
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
