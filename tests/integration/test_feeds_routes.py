"""The feed routes on PostgreSQL: FHIR AdverseEvents (R4, R5, Bundles), the reporting
system's webhook and CSV export, code blue; refusals kept without a patient; one incident
for one event from two feeds; a resend taken as the same record; unknown feeds and
oversize bodies refused before anything is read.

The routes read the shipped feeds (services/feeds/mappings/feeds.yaml: fhir/ehr,
reporting/incident-reports, code_blue/code-team). Every test has its own unit and staff and
its own record ids, so no other test's incident is a candidate for matching.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from services import clock
from services.feeds.record import Source
from services.feeds.views import CSV_LIMIT, FEED_HEADER, JSON_LIMIT
from services.feeds.views import feeds as feeds_config
from tests.integration.wards import Ward, make_ward
from tests.stack import FEED_TOKEN
from tests.unit import feeds
from tests.unit.test_feeds_codeblue import PHI as CODEBLUE_PHI
from tests.unit.test_feeds_fhir import PHI as FHIR_PHI
from tests.unit.test_feeds_reporting import PHI as REPORTING_PHI

# Feeds are posted with an integration token of the feed role (services/auth.py).
AUTH = {"Authorization": f"Bearer {FEED_TOKEN}"}
# fhir/ehr's system whose identifiers are our staff ids.
FHIR_STAFF = sorted(feeds_config().get(Source.fhir, "ehr").staff_id_systems)[0]
R4 = {"Content-Type": "application/fhir+json; fhirVersion=4.0", **AUTH}
R5 = {"Content-Type": "application/fhir+json; fhirVersion=5.0", **AUTH}
JSON = {"Content-Type": "application/json", **AUTH}
CSV = {"Content-Type": "text/csv", **AUTH}


@pytest.fixture
def ward(db: Engine) -> Ward:
    return make_ward(db, "Fr", 3)


def when(hours_ago: float = 1) -> str:
    return (clock.now() - timedelta(hours=hours_ago)).isoformat(timespec="seconds")


def record_row(db: Engine, source: str, feed: str, record_id: str) -> dict[str, Any]:
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT status, incident_id, times_received, staff_ids, why FROM feed_records "
                "WHERE source = :s AND feed = :f AND record_id = :r"
            ),
            {"s": source, "f": feed, "r": record_id},
        ).one()
    return dict(row._mapping)


def refusal_ids(db: Engine) -> set[uuid.UUID]:
    with db.connect() as conn:
        return set(conn.execute(text("SELECT id FROM feed_refusals")).scalars())


def new_refusals(db: Engine, before: set[uuid.UUID]) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT id, source, feed, problems, kept FROM feed_refusals")
        ).all()
    return [dict(r._mapping) for r in rows if r.id not in before]


def assert_logged_no_phi(logged: list[dict[str, Any]], phi: Any) -> None:
    """Every event the request logged, as structlog got it (before any scrubbing): ids only."""
    assert "feed.refused" in [e["event"] for e in logged]  # the scan reads the right log
    feeds.assert_no_phi(json.dumps(logged, default=str), phi)


def incidents_on(db: Engine, unit: str) -> list[uuid.UUID]:
    with db.connect() as conn:
        return list(
            conn.execute(text("SELECT id FROM incidents WHERE unit = :u"), {"u": unit}).scalars()
        )


# --- FHIR ------------------------------------------------------------------------------------


def r4_event(ward: Ward, ident: str) -> dict[str, Any]:
    """The R4 death sample, on this test's ward and staff, happening an hour ago."""
    ev = json.loads(feeds.sample("fhir", "r4_adverse_event_death.json"))
    ev["id"] = ward.rid(ident)
    ev["date"] = when()
    ev["contained"] = [
        {"resourceType": "Location", "id": "loc", "name": ward.unit},
        *(
            {
                "resourceType": "Practitioner",
                "id": f"p{i}",
                "identifier": [{"system": FHIR_STAFF, "value": sid}],
            }
            for i, sid in enumerate(ward.staff[:2])
        ),
    ]
    ev["contributor"] = [{"reference": "#p0"}, {"reference": "#p1"}]
    return ev


def r5_event(ward: Ward, ident: str) -> dict[str, Any]:
    ev = json.loads(feeds.sample("fhir", "r5_adverse_event_death.json"))
    ev["id"] = ward.rid(ident)
    ev["occurrenceDateTime"] = when()
    ev["contained"] = [
        {"resourceType": "Location", "id": "ward", "name": ward.unit},
        {
            "resourceType": "Practitioner",
            "id": "p1",
            "identifier": [{"system": FHIR_STAFF, "value": ward.staff[0]}],
        },
    ]
    ev["participant"] = [
        {"actor": {"reference": "#p1"}},
        {
            "actor": {
                "type": "Practitioner",
                "identifier": {"system": FHIR_STAFF, "value": ward.staff[1]},
            }
        },
    ]
    return ev


R4B = {"Content-Type": "application/fhir+json; fhirVersion=4.3", **AUTH}


@pytest.mark.parametrize(("make", "headers"), [(r4_event, R4), (r4_event, R4B), (r5_event, R5)])
async def test_a_fhir_adverse_event_starts_an_incident(
    client: httpx.AsyncClient, db: Engine, ward: Ward, make: Any, headers: dict[str, str]
) -> None:
    r = await client.post(
        "/fhir/AdverseEvent", content=json.dumps(make(ward, "ae")), headers=headers
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    answer = r.json()
    assert answer["resourceType"] == "OperationOutcome"
    assert answer["issue"][0]["severity"] == "information"
    row = record_row(db, "fhir", "ehr", ward.rid("ae"))
    assert row["status"] == "started" and row["incident_id"] is not None, row["why"]
    assert str(row["incident_id"]) in answer["issue"][0]["diagnostics"]
    assert sorted(row["staff_ids"]) == sorted(ward.staff[:2])
    assert incidents_on(db, ward.unit) == [row["incident_id"]]


async def test_a_fhir_version_is_read_from_the_elements_without_a_parameter(
    client: httpx.AsyncClient, db: Engine, ward: Ward
) -> None:
    headers = {"Content-Type": "application/fhir+json", **AUTH}
    r = await client.post("/fhir/AdverseEvent", json=r5_event(ward, "ae"), headers=headers)
    assert r.status_code == 201, r.text
    assert record_row(db, "fhir", "ehr", ward.rid("ae"))["status"] == "started"


async def test_a_batch_takes_its_good_events_and_refuses_its_bad_one_without_phi(
    client: httpx.AsyncClient, db: Engine, ward: Ward
) -> None:
    phi = json.loads(feeds.sample("fhir", "phi_r4_bundle.json"))
    patient = phi["entry"][0]  # Margaret Okonkwo-Baines, her MRN, address and phone
    bad = r4_event(ward, "bad")
    bad["date"] = "1947-03-12"  # her birth date where the event's time belongs
    bad["text"] = phi["entry"][2]["resource"]["text"]
    bad["subject"] = phi["entry"][2]["resource"]["subject"]
    bad["contained"].append(copy.deepcopy(phi["entry"][2]["resource"]["contained"][1]))
    body = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r4_event(ward, "good")},
            patient,
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": bad},
        ],
    }
    before = refusal_ids(db)
    with capture_logs() as logged:
        r = await client.post("/fhir", content=json.dumps(body), headers=R4)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["resourceType"] == "Bundle" and answer["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "200 OK", "422 Unprocessable Entity"]
    issue = answer["entry"][2]["response"]["outcome"]["issue"][0]
    assert issue["expression"] == ["Bundle.entry[2].resource.date"]
    feeds.assert_no_phi(r.text, FHIR_PHI)
    assert record_row(db, "fhir", "ehr", ward.rid("good"))["status"] == "started"
    [refusal] = new_refusals(db, before)
    assert (refusal["source"], refusal["feed"]) == ("fhir", "ehr")
    assert refusal["problems"] == [
        {"where": "Bundle.entry[2].resource.date", "why": issue["diagnostics"]}
    ]
    kept = refusal["kept"]
    assert kept["format"] == "fhir"
    [kept_event] = [
        e["resource"]
        for e in kept["body"]["entry"]
        if e["resource"]["resourceType"] == "AdverseEvent"
    ]
    assert kept_event["id"] == ward.rid("bad") and "date" not in kept_event
    feeds.assert_no_phi(json.dumps(refusal, default=str), FHIR_PHI)
    assert_logged_no_phi(logged, FHIR_PHI)


async def test_a_transaction_bundle_takes_all(
    client: httpx.AsyncClient, db: Engine, ward: Ward
) -> None:
    body = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": r4_event(ward, "t1"),
                "request": {"method": "POST", "url": "AdverseEvent"},
            }
        ],
    }
    r = await client.post("/fhir", json=body, headers=R4)
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "transaction-response"
    assert [e["response"]["status"] for e in r.json()["entry"]] == ["201 Created"]
    assert record_row(db, "fhir", "ehr", ward.rid("t1"))["incident_id"] is not None


async def test_a_malformed_resource_gets_an_operation_outcome_and_a_refusal_without_phi(
    client: httpx.AsyncClient, db: Engine
) -> None:
    body = feeds.sample("fhir", "phi_r5_malformed.json")
    before = refusal_ids(db)
    with capture_logs() as logged:
        r = await client.post("/fhir/AdverseEvent", content=body, headers=R5)
    assert r.status_code == 422, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    places = {i["expression"][0] for i in outcome["issue"]}
    assert {"AdverseEvent.occurrenceDateTime", "AdverseEvent.seriousness"} <= places
    feeds.assert_no_phi(r.text, FHIR_PHI)
    [refusal] = new_refusals(db, before)
    assert len(refusal["problems"]) == len(outcome["issue"])
    assert refusal["kept"]["body"]["id"] == "ae-phi-0002"
    feeds.assert_no_phi(json.dumps(refusal, default=str), FHIR_PHI)
    assert_logged_no_phi(logged, FHIR_PHI)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"resourceType": "Patient", "id": "pat-okonkwo"}', 400),
        (b"<AdverseEvent xmlns='http://hl7.org/fhir'/>", 400),
    ],
)
async def test_a_body_that_is_no_adverse_event_is_400_and_kept_as_nothing(
    client: httpx.AsyncClient, db: Engine, body: bytes, status: int
) -> None:
    before = refusal_ids(db)
    r = await client.post("/fhir/AdverseEvent", content=body, headers=R4)
    assert r.status_code == status, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert "pat-okonkwo" not in r.text
    [refusal] = new_refusals(db, before)
    assert refusal["kept"] is None


async def test_fhir_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/fhir/AdverseEvent",
        content=b"<x/>",
        headers={"Content-Type": "application/fhir+xml", **AUTH},
    )
    assert r.status_code == 415 and r.json()["resourceType"] == "OperationOutcome"


# --- the incident-reporting system -----------------------------------------------------------


def report(ward: Ward, ident: str, **over: Any) -> dict[str, Any]:
    body = json.loads(feeds.sample("reporting", "webhook_death_ahrq.json"))
    body.update(
        report_id=ward.rid(ident),
        occurred_at=when(),
        unit=ward.unit,
        staff=f"{ward.staff[0]}; {ward.staff[2]}",
    )
    return body | over


async def test_the_reporting_webhook_starts_an_incident(
    client: httpx.AsyncClient, db: Engine, ward: Ward
) -> None:
    r = await client.post(
        "/feeds/reporting/incident-reports", content=json.dumps(report(ward, "IR")), headers=JSON
    )
    assert r.status_code == 202, r.text
    [taken] = r.json()["records"]
    assert taken["record_id"] == ward.rid("IR") and taken["disposition"] == "started"
    assert r.json()["refused"] == []
    row = record_row(db, "reporting", "incident-reports", ward.rid("IR"))
    assert str(row["incident_id"]) == taken["incident_id"]
    feeds.assert_no_phi(r.text, REPORTING_PHI)


async def test_a_malformed_report_is_422_with_places_only_and_kept_without_phi(
    client: httpx.AsyncClient, db: Engine
) -> None:
    body = feeds.sample("reporting", "webhook_malformed.json")
    before = refusal_ids(db)
    with capture_logs() as logged:
        r = await client.post("/feeds/reporting/incident-reports", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["records"] == []
    assert {"report_id", "unit", "harm"} <= {p["where"] for p in r.json()["refused"]}
    feeds.assert_no_phi(r.text, REPORTING_PHI)
    [refusal] = new_refusals(db, before)
    feeds.assert_no_phi(json.dumps(refusal, default=str), REPORTING_PHI)
    assert_logged_no_phi(logged, REPORTING_PHI)


async def test_the_csv_export_takes_good_rows_and_refuses_bad_ones_by_row_and_column(
    client: httpx.AsyncClient, db: Engine, ward: Ward
) -> None:
    header = (
        "report_id,occurred_at,patient_name,mrn,unit,event_type,harm_scale,harm,staff,narrative"
    )
    rows = [
        f"{ward.rid('C1')},{when(30)},Eleanor Whitfield,MRN00482913,{ward.unit},Medication,"
        f"NCC MERP,G,{ward.staff[0]},Eleanor Whitfield given heparin",
        f"{ward.rid('C2')},{when(1)},Tobias Quenneville,MRN00593120,{ward.unit},Fall,"
        f"AHRQ,Death,{ward.staff[1]},Tobias Quenneville found on floor",
        f"{ward.rid('C3')},1961-07-02,Henrik Albescu,MRN00110042,{ward.unit},Medication,"
        f"NCC MERP,J,Henrik Albescu;{ward.staff[2]},Henrik Albescu missed a dose",
    ]
    body = "\n".join([header, *rows]) + "\n"
    before = refusal_ids(db)
    with capture_logs() as logged:
        r = await client.post(
            "/feeds/reporting/incident-reports/csv", content=body.encode(), headers=CSV
        )
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["rows"] == 3
    assert [t["record_id"] for t in answer["records"]] == [ward.rid("C1"), ward.rid("C2")]
    assert all(t["disposition"] == "started" for t in answer["records"])
    assert {p["where"] for p in answer["refused"]} == {
        "row 4, column occurred_at",
        "row 4, column harm",
        "row 4, column staff, id 1",
    }
    feeds.assert_no_phi(r.text, REPORTING_PHI)
    [refusal] = new_refusals(db, before)
    assert refusal["kept"]["row"] == 4
    assert refusal["kept"]["cells"]["report_id"] == ward.rid("C3")
    assert refusal["kept"]["cells"]["staff"] == ward.staff[2]
    feeds.assert_no_phi(json.dumps(refusal, default=str), REPORTING_PHI)
    assert_logged_no_phi(logged, REPORTING_PHI)


async def test_a_csv_export_without_its_columns_is_refused_whole(
    client: httpx.AsyncClient, db: Engine
) -> None:
    body = feeds.sample("reporting", "export_missing_columns.csv")
    r = await client.post("/feeds/reporting/incident-reports/csv", content=body, headers=CSV)
    assert r.status_code == 422, r.text
    assert r.json()["records"] == [] and r.json()["refused"]
    assert all(p["where"].startswith("row 1") for p in r.json()["refused"])


# --- code blue, and one event from two feeds --------------------------------------------------


def activation(ward: Ward, ident: str) -> dict[str, Any]:
    body = json.loads(feeds.sample("codeblue", "code_blue.json"))
    body.update(
        activation_id=ward.rid(ident),
        unit=ward.unit,
        activated_at=when(2),
        team=[ward.staff[0], {"id": ward.staff[1], "role": "team_leader"}],
    )
    return body


async def test_a_code_blue_starts_an_incident(
    client: httpx.AsyncClient, db: Engine, ward: Ward
) -> None:
    r = await client.post(
        "/feeds/code-blue/code-team", content=json.dumps(activation(ward, "CB")), headers=JSON
    )
    assert r.status_code == 202, r.text
    [taken] = r.json()["records"]
    assert taken["disposition"] == "started"
    feeds.assert_no_phi(r.text, CODEBLUE_PHI)
    row = record_row(db, "code_blue", "code-team", ward.rid("CB"))
    assert sorted(row["staff_ids"]) == sorted(ward.staff[:2])


async def test_a_code_blue_and_its_report_are_one_incident(
    client: httpx.AsyncClient, db: Engine, ward: Ward
) -> None:
    cb = await client.post(
        "/feeds/code-blue/code-team", content=json.dumps(activation(ward, "CB")), headers=JSON
    )
    assert cb.status_code == 202, cb.text
    incident = cb.json()["records"][0]["incident_id"]
    ir = await client.post(
        "/feeds/reporting/incident-reports", content=json.dumps(report(ward, "IR")), headers=JSON
    )
    assert ir.status_code == 202, ir.text
    [taken] = ir.json()["records"]
    assert taken["disposition"] == "joined" and taken["incident_id"] == incident
    assert [str(i) for i in incidents_on(db, ward.unit)] == [incident]
    # The report named a clinician the code team did not: they join the incident.
    with db.connect() as conn:
        staff = conn.execute(
            text("SELECT staff_ids FROM incidents WHERE id = :i"), {"i": incident}
        ).scalar_one()
    assert set(staff) == set(ward.staff)


async def test_a_resend_is_the_same_record(
    client: httpx.AsyncClient, db: Engine, ward: Ward
) -> None:
    body = json.dumps(activation(ward, "CB"))
    first = await client.post("/feeds/code-blue/code-team", content=body, headers=JSON)
    again = await client.post("/feeds/code-blue/code-team", content=body, headers=JSON)
    assert first.status_code == again.status_code == 202
    # The record keeps what it first was (services.feeds.intake): the same answer again.
    assert again.json()["records"] == first.json()["records"]
    assert first.json()["records"][0]["disposition"] == "started"
    assert len(incidents_on(db, ward.unit)) == 1
    assert record_row(db, "code_blue", "code-team", ward.rid("CB"))["times_received"] == 2
    ev = json.dumps(r4_event(ward, "ae"))  # the same event again, from the EHR, twice
    one = await client.post("/fhir/AdverseEvent", content=ev, headers=R4)
    two = await client.post("/fhir/AdverseEvent", content=ev, headers=R4)
    assert one.status_code == two.status_code == 201
    assert one.json() == two.json()
    assert len(incidents_on(db, ward.unit)) == 1
    assert record_row(db, "fhir", "ehr", ward.rid("ae"))["times_received"] == 2


async def test_a_malformed_activation_is_refused_without_phi(
    client: httpx.AsyncClient, db: Engine
) -> None:
    before = refusal_ids(db)
    body = feeds.sample("codeblue", "malformed.json")
    with capture_logs() as logged:
        r = await client.post("/feeds/code-blue/code-team", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    feeds.assert_no_phi(r.text, CODEBLUE_PHI)
    [refusal] = new_refusals(db, before)
    assert refusal["kept"] == {"format": "json", "body": {"team": ["n-1013"]}}
    assert_logged_no_phi(logged, CODEBLUE_PHI)


# --- refused before the adapter ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/feeds/reporting/nonesuch-feed", JSON),
        ("/feeds/reporting/nonesuch-feed/csv", CSV),
        ("/feeds/code-blue/nonesuch-feed", JSON),
        ("/fhir/AdverseEvent", {**R4, FEED_HEADER: "nonesuch-feed"}),
        ("/fhir", {**R4, FEED_HEADER: "nonesuch-feed"}),
    ],
)
async def test_an_unknown_feed_is_404_and_not_echoed(
    client: httpx.AsyncClient, db: Engine, path: str, headers: dict[str, str]
) -> None:
    before = refusal_ids(db)
    r = await client.post(path, content=b"{}", headers=headers)
    assert r.status_code == 404, r.text
    assert "no " in r.text and "feed by that name" in r.text
    assert "nonesuch" not in r.text
    assert new_refusals(db, before) == []  # nothing of an unknown sender is kept


@pytest.mark.parametrize(
    ("path", "headers", "limit"),
    [
        ("/fhir/AdverseEvent", R4, JSON_LIMIT),
        ("/fhir", R4, JSON_LIMIT),
        ("/feeds/reporting/incident-reports", JSON, JSON_LIMIT),
        ("/feeds/code-blue/code-team", JSON, JSON_LIMIT),
        ("/feeds/reporting/incident-reports/csv", CSV, CSV_LIMIT),
    ],
)
async def test_an_oversize_body_is_413(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], limit: int
) -> None:
    r = await client.post(path, content=b" " * (limit + 1), headers=headers)
    assert r.status_code == 413, r.text[:200]
    if path.startswith("/fhir"):  # a FHIR client is answered in FHIR, even by the gate
        assert r.json()["resourceType"] == "OperationOutcome"


async def test_a_risk_manager_token_cannot_post_a_feed(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/feeds/code-blue/code-team",
        content=b"{}",
        headers={"Content-Type": "application/json", "Authorization": "Bearer test-token"},
    )
    assert r.status_code == 403
