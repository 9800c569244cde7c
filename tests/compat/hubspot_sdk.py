"""HubSpot's official Python SDK (hubspot-api-client) against truce's HubSpot sandbox.

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

from hubspot import HubSpot
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
    try:
        call()
    except ApiException as err:
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


passed = sum(1 for _, err in results if err is None)
failed = len(results) - passed
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
