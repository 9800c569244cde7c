"""simple-salesforce (pinned in ensure_venv.sh) against truce's Salesforce sandbox.

Two ways in, by SALESFORCE_LOGIN_MODE:

- `token` (the default; connectors/tests/salesforce_compat.rs): the sandbox is served over
  TLS at https://127.0.0.1:PORT; the script gets a token itself and hands it to the SDK.
  Env: SALESFORCE_LOGIN_URL, SALESFORCE_INSTANCE_URL, SALESFORCE_CLIENT_ID,
  SALESFORCE_CLIENT_SECRET.
- `sdk` (connectors/sandbox/tests/salesforce_compat.rs): the SDK logs in by itself, once
  with its client-credentials login (HTTP Basic, on `https://{domain}.salesforce.com`) and
  once with its JWT bearer login (on `https://login.salesforce.com`). The test reaches those
  names through an HTTPS proxy that tunnels every `*.salesforce.com` host to the sandbox.
  Env: SALESFORCE_DOMAIN, SALESFORCE_PROXY, SALESFORCE_INSTANCE_URL, SALESFORCE_CLIENT_ID,
  SALESFORCE_CLIENT_SECRET, SALESFORCE_JWT_USERNAME, SALESFORCE_JWT_KEY_FILE.

Both: SALESFORCE_EXTERNAL_ID_FIELD, SALESFORCE_ACCOUNT_EXTERNAL_ID_FIELD,
SALESFORCE_SEEDED_LEADS, SALESFORCE_CONVERTED_LEAD (a lead the test converted; its checks
are skipped without it), REQUESTS_CA_BUNDLE (the test CA).

Prints one line per check and `N passed, N failed`; exits 1 when anything failed.
"""

import os
import sys
import traceback
import warnings
from urllib.parse import urlparse

import requests
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

MODE = os.environ.get("SALESFORCE_LOGIN_MODE", "token")
INSTANCE = os.environ["SALESFORCE_INSTANCE_URL"]
CLIENT_ID = os.environ["SALESFORCE_CLIENT_ID"]
CLIENT_SECRET = os.environ["SALESFORCE_CLIENT_SECRET"]
EXT = os.environ.get("SALESFORCE_EXTERNAL_ID_FIELD", "HubSpot_Contact_Id__c")
ACCOUNT_EXT = os.environ.get("SALESFORCE_ACCOUNT_EXTERNAL_ID_FIELD", "HubSpot_Company_Id__c")
SEEDED = int(os.environ.get("SALESFORCE_SEEDED_LEADS", "0"))
CONVERTED_LEAD = os.environ.get("SALESFORCE_CONVERTED_LEAD")
PROXIES = {"https": os.environ["SALESFORCE_PROXY"]} if os.environ.get("SALESFORCE_PROXY") else None
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


def connect(**kwargs):
    """The SDK's client, through the test's proxy when there is one."""
    if PROXIES:
        kwargs["proxies"] = PROXIES
    return Salesforce(version=VERSION, **kwargs)


def login():
    response = requests.post(
        f"{os.environ['SALESFORCE_LOGIN_URL']}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    assert body["instance_url"] == INSTANCE, body["instance_url"]
    assert body["token_type"] == "Bearer"
    return body["access_token"]


if MODE == "sdk":
    DOMAIN = os.environ["SALESFORCE_DOMAIN"]
    # The SDK's own client-credentials login: Basic auth on https://{DOMAIN}.salesforce.com.
    sf = connect(consumer_key=CLIENT_ID, consumer_secret=CLIENT_SECRET, domain=DOMAIN)
else:
    sf = connect(instance_url=INSTANCE, session_id=login())
state = {}


def refused(call):
    """The SalesforceMalformedRequest a call raises (fails when it does not)."""
    try:
        call()
    except SalesforceMalformedRequest as err:
        assert err.status == 400, err.status
        return err.content[0]
    raise AssertionError("accepted")


def auth_refused(**kwargs):
    """The (code, description) a refused SDK login raises."""
    try:
        with warnings.catch_warnings():
            # The SDK warns how to approve the app on "user hasn't approved this consumer".
            warnings.simplefilter("ignore")
            connect(**kwargs)
    except SalesforceAuthenticationFailed as err:
        return err.code, err.auth_message
    raise AssertionError("logged in")


if MODE == "sdk":

    @check("the SDK's client-credentials login (HTTP Basic) lands on the org's My Domain")
    def _():
        assert sf.sf_instance == urlparse(INSTANCE).netloc, sf.sf_instance
        assert sf.session_id.startswith("00D"), "a Salesforce-shaped session id"
        assert sf.query("SELECT Id FROM Lead LIMIT 1")["done"] is True

    @check("the SDK's JWT bearer login signs an assertion the org verifies")
    def _():
        for domain in ("login", "test"):
            jwt_sf = connect(
                username=os.environ["SALESFORCE_JWT_USERNAME"],
                consumer_key=CLIENT_ID,
                privatekey_file=os.environ["SALESFORCE_JWT_KEY_FILE"],
                domain=domain,
            )
            assert jwt_sf.sf_instance == urlparse(INSTANCE).netloc, jwt_sf.sf_instance
            assert jwt_sf.query("SELECT Id FROM Account LIMIT 1")["done"] is True
            state["jwt_sf"] = jwt_sf

    @check("refused logins raise SalesforceAuthenticationFailed with Salesforce's error")
    def _():
        assert auth_refused(consumer_key=CLIENT_ID, consumer_secret="wrong", domain=DOMAIN) == (
            "invalid_client", "invalid client credentials")
        assert auth_refused(consumer_key="unknown-app", consumer_secret=CLIENT_SECRET, domain=DOMAIN) == (
            "invalid_client_id", "client identifier invalid")
        assert auth_refused(
            username="nobody@example.com", consumer_key=CLIENT_ID,
            privatekey_file=os.environ["SALESFORCE_JWT_KEY_FILE"], domain="login",
        ) == ("invalid_grant", "user hasn't approved this consumer")


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
    stale = connect(instance_url=INSTANCE, session_id="00D000000000000!expired")
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


@check("Account create, update, SOQL, upsert on its external id and delete")
def _():
    created = sf.Account.create({"Name": "Compat Corp", "Website": "https://compat.example.com",
                                 "Industry": "Technology", "NumberOfEmployees": 42})
    account_id = created["id"]
    assert created["success"] is True and account_id.startswith("001") and len(account_id) == 18
    assert sf.Account.update(account_id, {"BillingCity": "Lisbon", "AnnualRevenue": 1250000}) == 204
    soql = format_soql("SELECT Id, Name, BillingCity, NumberOfEmployees, AnnualRevenue FROM Account "
                       "WHERE Name = {} AND NumberOfEmployees >= {}", "Compat Corp", 40)
    rows = sf.query(soql)["records"]
    assert [r["Id"] for r in rows] == [account_id], rows
    assert rows[0]["BillingCity"] == "Lisbon" and rows[0]["NumberOfEmployees"] == 42
    assert rows[0]["AnnualRevenue"] == 1250000
    assert sf.Account.upsert(f"{ACCOUNT_EXT}/hs-co-compat", {"Name": "Upserted Co"}) == 201
    assert sf.Account.upsert(f"{ACCOUNT_EXT}/hs-co-compat", {"Phone": "+1 555 0199"}) == 200
    got = sf.Account.get_by_custom_id(ACCOUNT_EXT, "hs-co-compat")
    assert got["Name"] == "Upserted Co" and got["Phone"] == "+1 555 0199"
    e = refused(lambda: sf.Account.create({"Name": "x" * 256}))
    assert e["errorCode"] == "STRING_TOO_LONG" and e["fields"] == ["Name"], e
    e = refused(lambda: sf.Contact.create({"LastName": "Misfiled", "AccountId": CONVERTED_LEAD or "00Q000000000000AAA"}))
    assert e["errorCode"] == "INVALID_CROSS_REFERENCE_KEY" and e["fields"] == ["AccountId"], e
    state["account"] = account_id
    doomed = sf.Account.create({"Name": "Doomed Co"})["id"]
    assert sf.Account.delete(doomed) == 204
    gone = sf.query_all(format_soql("SELECT Id, IsDeleted FROM Account WHERE Id = {}", doomed),
                        include_deleted=True)["records"]
    assert gone and gone[0]["IsDeleted"] is True


@check("Opportunity create with a valid stage follows it; an invalid stage is refused")
def _():
    created = sf.Opportunity.create({"Name": "Compat - Platform", "StageName": "Prospecting",
                                     "CloseDate": "2026-12-31", "AccountId": state["account"],
                                     "Amount": 25000})
    opp_id = created["id"]
    assert opp_id.startswith("006")
    got = sf.Opportunity.get(opp_id)
    assert (got["IsClosed"], got["IsWon"], got["Probability"], got["ForecastCategoryName"]) == (
        False, False, 10, "Pipeline"), got
    e = refused(lambda: sf.Opportunity.create({"Name": "x", "StageName": "Won-ish", "CloseDate": "2026-12-31"}))
    assert e == {"message": "Stage: bad value for restricted picklist field: Won-ish",
                 "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["StageName"]}, e
    e = refused(lambda: sf.Opportunity.update(opp_id, {"IsWon": True}))
    assert e["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE" and e["fields"] == ["IsWon"], e
    e = refused(lambda: sf.Opportunity.create({"Amount": 1}))
    assert e["message"] == "Required fields are missing: [Name, StageName, CloseDate]", e
    assert sf.Opportunity.update(opp_id, {"StageName": "Closed Won"}) == 204
    won = sf.query(format_soql("SELECT IsClosed, IsWon FROM Opportunity WHERE Id = {}", opp_id))["records"][0]
    assert won["IsClosed"] is True and won["IsWon"] is True
    state["opportunity"] = opp_id


@check("OpportunityStage lists the sales process in order")
def _():
    rows = sf.query_all("SELECT MasterLabel, ApiName, IsClosed, IsWon, DefaultProbability, "
                        "ForecastCategoryName, SortOrder, IsActive FROM OpportunityStage "
                        "WHERE IsActive = true ORDER BY SortOrder")["records"]
    assert rows[0]["ApiName"] == "Prospecting" and len(rows) >= 10, rows
    won = [r["ApiName"] for r in rows if r["IsClosed"] and r["IsWon"]]
    assert won == ["Closed Won"], won


@check("OpportunityContactRole create, query and delete; one primary per opportunity")
def _():
    contact = sf.Contact.create({"LastName": "Role", "AccountId": state["account"]})["id"]
    other = sf.Contact.create({"LastName": "Other", "AccountId": state["account"]})["id"]
    first = sf.OpportunityContactRole.create({"OpportunityId": state["opportunity"], "ContactId": contact,
                                              "Role": "Decision Maker", "IsPrimary": True})["id"]
    assert first.startswith("00K"), first
    second = sf.OpportunityContactRole.create({"OpportunityId": state["opportunity"], "ContactId": other,
                                               "IsPrimary": True})["id"]
    soql = format_soql("SELECT Id, ContactId, Role, IsPrimary, SystemModstamp FROM OpportunityContactRole "
                       "WHERE OpportunityId = {} ORDER BY SystemModstamp, Id", state["opportunity"])
    rows = {r["Id"]: r for r in sf.query(soql)["records"]}
    assert rows[first]["IsPrimary"] is False and rows[second]["IsPrimary"] is True, rows
    assert rows[first]["Role"] == "Decision Maker"
    e = refused(lambda: sf.OpportunityContactRole.update(first, {"OpportunityId": state["opportunity"]}))
    assert e["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE", e
    assert sf.OpportunityContactRole.delete(first) == 204
    assert [r["Id"] for r in sf.query(soql)["records"]] == [second]
    deleted = sf.query_all(soql, include_deleted=True)["records"]
    assert {r["Id"] for r in deleted} == {first, second}


if CONVERTED_LEAD:

    @check("a converted lead names its Account, Contact and Opportunity, with a primary role")
    def _():
        lead = sf.query(format_soql(
            "SELECT IsConverted, ConvertedAccountId, ConvertedContactId, ConvertedOpportunityId, "
            "ConvertedDate, Status FROM Lead WHERE Id = {}", CONVERTED_LEAD))["records"][0]
        assert lead["IsConverted"] is True and lead["Status"] == "Closed - Converted", lead
        assert len(lead["ConvertedDate"]) == 10
        contact = sf.Contact.get(lead["ConvertedContactId"])
        assert contact["AccountId"] == lead["ConvertedAccountId"]
        opp = sf.Opportunity.get(lead["ConvertedOpportunityId"])
        assert opp["AccountId"] == lead["ConvertedAccountId"] and opp["IsClosed"] is False, opp
        assert opp["StageName"] == "Prospecting"
        roles = sf.query(format_soql("SELECT ContactId, IsPrimary FROM OpportunityContactRole "
                                     "WHERE OpportunityId = {}", opp["Id"]))["records"]
        assert roles == [{"attributes": roles[0]["attributes"], "ContactId": contact["Id"],
                          "IsPrimary": True}], roles
        e = refused(lambda: sf.Lead.update(CONVERTED_LEAD, {"City": "Nowhere"}))
        assert e["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD", e


passed = sum(1 for _, err in results if err is None)
failed = len(results) - passed
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
