"""simple-salesforce (pinned in ensure_venv.sh) against truce's Salesforce sandbox.

Run by connectors/tests/salesforce_compat.rs, which serves the sandbox over TLS (the SDK
only builds https:// URLs) and passes:

  SALESFORCE_LOGIN_URL, SALESFORCE_INSTANCE_URL, SALESFORCE_CLIENT_ID,
  SALESFORCE_CLIENT_SECRET, SALESFORCE_EXTERNAL_ID_FIELD, SALESFORCE_SEEDED_LEADS,
  REQUESTS_CA_BUNDLE (the test CA)

Prints one line per check and `N passed, N failed`; exits 1 when anything failed.
"""

import os
import sys
import traceback

import requests
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

LOGIN = os.environ["SALESFORCE_LOGIN_URL"]
INSTANCE = os.environ["SALESFORCE_INSTANCE_URL"]
EXT = os.environ.get("SALESFORCE_EXTERNAL_ID_FIELD", "HubSpot_Contact_Id__c")
SEEDED = int(os.environ.get("SALESFORCE_SEEDED_LEADS", "0"))
VERSION = "62.0"

results = []


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
            print(f"ok    {name}")
        except Exception as err:  # noqa: BLE001 - report every failure the same way
            results.append((name, err))
            print(f"FAIL  {name}: {err!r}")
            traceback.print_exc()
        return fn

    return wrap


def login():
    response = requests.post(
        f"{LOGIN}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": os.environ["SALESFORCE_CLIENT_ID"],
            "client_secret": os.environ["SALESFORCE_CLIENT_SECRET"],
        },
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    assert body["instance_url"] == INSTANCE, body["instance_url"]
    assert body["token_type"] == "Bearer"
    return body["access_token"]


token = login()
sf = Salesforce(instance_url=INSTANCE, session_id=token, version=VERSION)
state = {}


@check("query returns the first 2,000 rows and a nextRecordsUrl")
def _():
    page = sf.query("SELECT Id, Email FROM Lead ORDER BY Id")
    assert page["totalSize"] == SEEDED, page["totalSize"]
    assert page["done"] is False
    assert len(page["records"]) == 2000
    assert page["records"][0]["attributes"]["type"] == "Lead"
    more = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert len(more["records"]) == min(2000, SEEDED - 2000)
    first = {r["Id"] for r in page["records"]}
    assert not first & {r["Id"] for r in more["records"]}


@check("query_all follows nextRecordsUrl to the end")
def _():
    everything = sf.query_all("SELECT Id, SystemModstamp FROM Lead")
    assert everything["done"] is True
    ids = [r["Id"] for r in everything["records"]]
    assert len(ids) == SEEDED and len(set(ids)) == SEEDED
    assert all(len(i) == 18 and i.startswith("00Q") for i in ids)
    stamp = everything["records"][0]["SystemModstamp"]
    assert stamp.endswith(".000+0000"), stamp


@check("Lead create, get, update")
def _():
    created = sf.Lead.create({"LastName": "O'Brien\\", "Company": "Compat", "Email": "compat@example.com"})
    assert created["success"] is True and created["errors"] == []
    lead_id = created["id"]
    assert len(lead_id) == 18 and lead_id.startswith("00Q")
    state["lead"] = lead_id
    got = sf.Lead.get(lead_id)
    assert got["LastName"] == "O'Brien\\" and got["Status"] == "Open - Not Contacted"
    assert got["attributes"]["type"] == "Lead"
    assert sf.Lead.update(lead_id, {"City": "Lisbon"}) == 204
    assert sf.Lead.get(lead_id)["City"] == "Lisbon"


@check("format_soql escaping finds the record it names")
def _():
    soql = format_soql("SELECT Id, LastName FROM Lead WHERE LastName = {}", "O'Brien\\")
    rows = sf.query(soql)["records"]
    assert [r["Id"] for r in rows] == [state["lead"]], rows
    like = format_soql("SELECT Id FROM Lead WHERE Email LIKE '{:like}%'", "compat@")
    assert [r["Id"] for r in sf.query(like)["records"]] == [state["lead"]]


@check("upsert by external id creates, then updates")
def _():
    assert sf.Lead.upsert(f"{EXT}/hs-42", {"LastName": "Upserted", "Company": "Compat"}) == 201
    assert sf.Lead.upsert(f"{EXT}/hs-42", {"LastName": "Upserted Again"}) == 200
    got = sf.Lead.get_by_custom_id(EXT, "hs-42")
    assert got["LastName"] == "Upserted Again" and got[EXT] == "hs-42"


@check("delete, then the record is gone but visible to queryAll")
def _():
    lead_id = state["lead"]
    assert sf.Lead.delete(lead_id) == 204
    try:
        sf.Lead.get(lead_id)
        raise AssertionError("deleted lead still readable")
    except SalesforceResourceNotFound as err:
        assert err.status == 404
    soql = format_soql("SELECT Id, IsDeleted FROM Lead WHERE Id = {}", lead_id)
    assert sf.query(soql)["totalSize"] == 0
    rows = sf.query_all(soql, include_deleted=True)["records"]
    assert rows and rows[0]["IsDeleted"] is True


@check("describe reports lengths, required fields, picklists and the external id")
def _():
    d = sf.Lead.describe()
    assert d["name"] == "Lead" and d["keyPrefix"] == "00Q"
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["LastName"]["length"] == 80 and fields["LastName"]["nillable"] is False
    assert fields["Email"]["type"] == "email"
    assert "Working - Contacted" in [p["value"] for p in fields["Status"]["picklistValues"]]
    assert fields[EXT]["externalId"] is True
    assert sf.Contact.describe()["keyPrefix"] == "003"


@check("describe global and object metadata list Lead and Contact")
def _():
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Lead", "Contact", "Account"} <= names, names
    meta = sf.Lead.metadata()
    assert meta["objectDescribe"]["keyPrefix"] == "00Q"


@check("a malformed query raises SalesforceMalformedRequest with MALFORMED_QUERY")
def _():
    try:
        sf.query("SELECT Id FROM Lead WHERE")
        raise AssertionError("accepted")
    except SalesforceMalformedRequest as err:
        assert err.status == 400
        assert err.content[0]["errorCode"] == "MALFORMED_QUERY", err.content


@check("validation errors keep Salesforce's code, message and fields")
def _():
    try:
        sf.Lead.create({"FirstName": "NoLast"})
        raise AssertionError("accepted")
    except SalesforceMalformedRequest as err:
        e = err.content[0]
        assert e["errorCode"] == "REQUIRED_FIELD_MISSING", e
        assert e["fields"] == ["LastName", "Company"], e
    try:
        sf.Lead.create({"LastName": "X", "Company": "Y", "Email": "nope"})
        raise AssertionError("accepted")
    except SalesforceMalformedRequest as err:
        assert err.content[0]["errorCode"] == "INVALID_EMAIL_ADDRESS"


@check("an expired session raises SalesforceExpiredSession")
def _():
    stale = Salesforce(instance_url=INSTANCE, session_id="00D000000000000!expired", version=VERSION)
    try:
        stale.query("SELECT Id FROM Lead")
        raise AssertionError("accepted")
    except SalesforceExpiredSession as err:
        assert err.status == 401
        assert err.content[0]["errorCode"] == "INVALID_SESSION_ID"


@check("Sforce-Limit-Info is parsed into api_usage and limits() answers")
def _():
    sf.query("SELECT Id FROM Lead LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert usage.used > 0 and usage.total > usage.used
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == usage.total


@check("composite with references runs as one call")
def _():
    before = sf.api_usage["api-usage"].used
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": f"/services/data/v{VERSION}/sobjects/Lead",
             "referenceId": "newLead", "body": {"LastName": "Comp", "Company": "Osite"}},
            {"method": "GET", "url": f"/services/data/v{VERSION}/sobjects/Lead/@{{newLead.id}}",
             "referenceId": "readBack"},
        ],
    }
    out = sf.restful("composite", method="POST", json=body)
    codes = [r["httpStatusCode"] for r in out["compositeResponse"]]
    assert codes == [201, 200], out
    location = out["compositeResponse"][0]["httpHeaders"]["Location"]
    assert location.endswith("/sobjects/Lead/" + out["compositeResponse"][0]["body"]["id"]), location
    assert out["compositeResponse"][1]["body"]["LastName"] == "Comp"
    sf.query("SELECT Id FROM Lead LIMIT 1")
    assert sf.api_usage["api-usage"].used == before + 2


passed = sum(1 for _, err in results if err is None)
failed = len(results) - passed
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
