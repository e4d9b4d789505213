"""The province's figures against a hand count, on SQLite and PostgreSQL: six dossiers of a
commune, its district and a province department, over two months and two ISO weeks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import and_, select
from sqlalchemy.orm import Session, sessionmaker

import api
from service import access, statistics
from service.context import context
from service.views import StatisticsView
from storage.catalog import Document, Dossier, Signature

COMMUNE, DISTRICT, DEPARTMENT, PROVINCE = "000.05.12.H12", "000.00.12.H12", "000.00.01.H12", "000.00.00.H12"
BIRTH, LAND = "1.001612", "2.000001"
D = dt.date.fromisoformat


def _dossier(code: str, procedure: str, due: str | None, returned: str | None) -> Dossier:
    agency, day, _ = code.rsplit("-", 2)
    received = dt.datetime.strptime(day, "%y%m%d").date()
    due_on, returned_on = (D(due) if due else None), (D(returned) if returned else None)
    return Dossier(code=code, agency=agency, received_on=received, procedure_code=procedure,
                   procedure={BIRTH: "Đăng ký khai sinh", LAND: "Cấp giấy chứng nhận"}[procedure],
                   due_on=due_on, returned_on=returned_on, status="RETURNED" if returned else "RECEIVED")  # fmt: skip


def _component(
    code: str, n: int, *, digitized: bool, sealed: str | None = None, **extra: object
) -> tuple[Document, Signature | None]:
    """``sealed``: "current" (the seal on this version), "legacy" (a seal recorded without its
    version, which counts), "old" (on an earlier version: does not count)."""
    sha = f"{code}-{n}".encode().hex()[:64]
    document = Document(dossier_code=code, number=n, original_name=f"{n}.pdf", original_key=f"k/{code}/{n}",
                        original_sha256=sha, original_size=1, pdfa_key=f"p/{code}/{n}" if digitized else None,
                        pdfa_sha256=sha if digitized else None, **extra)  # fmt: skip
    if not sealed:
        return document, None
    version = {"current": sha, "legacy": None, "old": "0" * 64}[sealed]
    seal = Signature(kind="agency", version=version, field="Seal", signer="UBND", signed_at="", level="B-B",
                     object_key=f"s/{code}/{n}")  # fmt: skip
    return document, seal


def _fixture(session_factory: sessionmaker[Session]) -> None:
    c1, c2, c3 = (f"{COMMUNE}-{d}" for d in ("250527-0001", "250528-0001", "250603-0001"))
    d1, d2, p1 = f"{DISTRICT}-250527-0002", f"{DISTRICT}-250602-0001", f"{DEPARTMENT}-250601-0001"
    with session_factory.begin() as s:
        s.add_all([
            _dossier(c1, BIRTH, "2025-05-30", "2025-05-29"),  # digitized, signed, on time
            _dossier(c2, BIRTH, "2025-05-30", "2025-06-02"),  # digitized, one copy unsealed, late
            _dossier(c3, BIRTH, None, None),  # nothing handed in yet
            _dossier(d1, LAND, "2025-06-10", None),  # digitized and signed, not returned
            _dossier(d2, LAND, None, "2025-06-05"),  # not digitized; returned, no due date: on time
            _dossier(p1, BIRTH, "2025-06-05", "2025-06-05"),  # sealed on an older version; on the due day
        ])  # fmt: skip
        s.flush()
        documents = [
            _component(c1, 1, digitized=True, sealed="current"),
            _component(c1, 2, digitized=True, sealed="legacy"),
            _component(c2, 1, digitized=True, sealed="current"),
            _component(c2, 2, digitized=True),
            _component(d1, 1, digitized=True, sealed="current"),
            _component(d1, 2, digitized=False, removed_at=dt.datetime(2025, 5, 28, tzinfo=dt.UTC)),  # removed
            _component(d1, 3, digitized=False, kind="result"),  # a result is not a component
            _component(d2, 1, digitized=False),
            _component(p1, 1, digitized=True, sealed="old"),
        ]
        for document, seal in documents:
            s.add(document)
            s.flush()
            if seal is not None:
                seal.document_id = document.id
                s.add(seal)


@pytest.fixture
def figures(service_on_each_catalog: str) -> Iterator[None]:
    _fixture(context().sessions)
    yield


def _table(view: StatisticsView) -> dict[tuple[str, str, bool, str], tuple[int, ...]]:
    return {
        (r.period, r.agency, r.rollup, r.procedure_code): (
            r.received, r.digitized, r.signed, r.returned_on_time, r.returned_late
        )
        for r in view.rows
    }  # fmt: skip


def test_by_month_agency_and_procedure_with_rollups(figures: None) -> None:
    view = statistics.statistics(context(), period="month")
    assert _table(view) == {
        ("2025-05", COMMUNE, False, BIRTH): (2, 2, 1, 1, 1),
        ("2025-05", DISTRICT, False, LAND): (1, 1, 1, 0, 0),
        ("2025-05", DISTRICT, True, BIRTH): (2, 2, 1, 1, 1),
        ("2025-05", DISTRICT, True, LAND): (1, 1, 1, 0, 0),
        ("2025-05", PROVINCE, True, BIRTH): (2, 2, 1, 1, 1),
        ("2025-05", PROVINCE, True, LAND): (1, 1, 1, 0, 0),
        ("2025-06", COMMUNE, False, BIRTH): (1, 0, 0, 0, 0),
        ("2025-06", DEPARTMENT, False, BIRTH): (1, 1, 0, 1, 0),
        ("2025-06", DISTRICT, False, LAND): (1, 0, 0, 1, 0),
        ("2025-06", DISTRICT, True, BIRTH): (1, 0, 0, 0, 0),
        ("2025-06", DISTRICT, True, LAND): (1, 0, 0, 1, 0),
        ("2025-06", PROVINCE, True, BIRTH): (2, 1, 0, 1, 0),
        ("2025-06", PROVINCE, True, LAND): (1, 0, 0, 1, 0),
    }
    total = view.total
    assert (total.received, total.digitized, total.signed, total.returned_on_time, total.returned_late) == (
        6, 4, 2, 3, 1
    )  # fmt: skip
    assert total.digitization_rate == round(2 / 6, 4) and total.on_time_rate == 0.75
    commune_may = next(r for r in view.rows if r.agency == COMMUNE and r.period == "2025-05")
    assert commune_may.procedure == "Đăng ký khai sinh" and commune_may.digitization_rate == 0.5


def test_by_agency_over_everything_and_one_agency(figures: None) -> None:
    everything = statistics.statistics(context(), period="all", by=["agency"])
    assert _table(everything) == {
        ("", COMMUNE, False, ""): (3, 2, 1, 1, 1),
        ("", DISTRICT, False, ""): (2, 1, 1, 1, 0),
        ("", DEPARTMENT, False, ""): (1, 1, 0, 1, 0),
        ("", DISTRICT, True, ""): (5, 3, 2, 2, 1),
        ("", PROVINCE, True, ""): (6, 4, 2, 3, 1),
    }
    district = statistics.statistics(context(), period="all", by=["agency"], agency=DISTRICT)
    assert _table(district) == {
        ("", COMMUNE, False, ""): (3, 2, 1, 1, 1),
        ("", DISTRICT, False, ""): (2, 1, 1, 1, 0),
        ("", DISTRICT, True, ""): (5, 3, 2, 2, 1),
    }
    june = statistics.statistics(context(), period="all", by=[], received_from=D("2025-06-01"))
    assert _table(june) == {("", "", False, ""): (3, 1, 0, 2, 0)}


def test_iso_weeks_on_each_engine(figures: None) -> None:
    """Sunday 1 June 2025 closes ISO week 22; Monday 2 June opens week 23."""
    view = statistics.statistics(context(), period="week", by=["procedure"])
    assert _table(view) == {
        ("2025-W22", "", False, BIRTH): (3, 3, 1, 2, 1),
        ("2025-W22", "", False, LAND): (1, 1, 1, 0, 0),
        ("2025-W23", "", False, BIRTH): (1, 0, 0, 0, 0),
        ("2025-W23", "", False, LAND): (1, 0, 0, 1, 0),
    }
    days = statistics.statistics(context(), period="day", by=[], procedure=LAND)
    assert _table(days) == {
        ("2025-05-27", "", False, ""): (1, 1, 1, 0, 0),
        ("2025-06-02", "", False, ""): (1, 0, 0, 1, 0),
    }


def test_api_answers_json_and_csv(figures: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOHOA_EMBEDDED_WORKER", "false")
    from conftest import _clear_caches

    _clear_caches()
    token = access.issue(context().sessions, "Hệ thống một cửa", "onestop")[1]
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(api.app) as client:
        r = client.get("/api/v1/statistics", params={"period": "year", "by": "agency"}, headers=headers)
        assert r.status_code == 200, r.text
        province = next(row for row in r.json()["rows"] if row["agency"] == PROVINCE)
        assert province["rollup"] and province["received"] == 6 and province["on_time_rate"] == 0.75
        csv = client.get("/api/v1/statistics", params={"period": "year"}, headers={**headers, "Accept": "text/csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        lines = csv.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("period,agency,rollup,procedure_code,procedure,received,digitized")
        assert f"2025,{COMMUNE},False,{BIRTH},Đăng ký khai sinh,3,2,1,1,1,0.3333,0.5" in lines
        assert lines[-1] == ",,False,,,6,4,2,3,1,0.3333,0.75"
        bad = client.get("/api/v1/statistics", params={"by": "tinh"}, headers=headers)
        assert bad.status_code == 400 and bad.json()["field"] == "by"


def test_parent_agencies() -> None:
    assert statistics.ancestors(COMMUNE) == (DISTRICT, PROVINCE)
    assert statistics.ancestors("123.05.12.H12") == ("000.05.12.H12", DISTRICT, PROVINCE)
    assert statistics.parent(PROVINCE) is None and statistics.parent("UBND-XA") is None
    # the registry's parent wins over the code's; above it, each one's own (registry, else code)
    linked = {"000.20.01.H12": PROVINCE, "UBND-XA": COMMUNE}
    assert statistics.ancestors("000.20.01.H12", linked) == (PROVINCE,)
    assert statistics.ancestors("UBND-XA", linked) == (COMMUNE, DISTRICT, PROVINCE)
    assert statistics.ancestors(DISTRICT, {PROVINCE: COMMUNE}) == (PROVINCE, COMMUNE)  # a loop stops


def test_rollups_follow_the_registry(figures: None) -> None:
    """A province's one-stop centre registered under the province: its code alone would put it
    under department 01 (000.00.01.H12)."""
    from service import agencies
    from service.agencies import AgencyFields

    ctx, centre = context(), "000.20.01.H12"
    agencies.add(ctx, PROVINCE, AgencyFields(name="UBND tỉnh"), actor="t")
    agencies.add(ctx, centre, AgencyFields(name="Trung tâm Phục vụ hành chính công", parent=PROVINCE), actor="t")
    with ctx.sessions.begin() as s:
        s.add(_dossier(f"{centre}-250601-0001", LAND, "2025-06-10", "2025-06-09"))
    table = _table(statistics.statistics(ctx, period="all", by=["agency"]))
    assert table[("", centre, False, "")] == (1, 0, 0, 1, 0)
    assert table[("", PROVINCE, True, "")] == (7, 4, 2, 4, 1)  # the six dossiers and the centre's
    assert ("", DEPARTMENT, True, "") not in table  # by its code it would roll up into the department
    under_province = statistics.statistics(ctx, period="all", by=["agency"], agency=PROVINCE)
    assert under_province.total.received == 7
    department = statistics.statistics(ctx, period="all", by=["agency"], agency=DEPARTMENT)
    assert department.total.received == 1 and {r.agency for r in department.rows} == {DEPARTMENT}


def test_a_scope_of_agencies_counts_their_dossiers_and_rolls_up_only_within_it(figures: None) -> None:
    """What the agency registry passes for a person who sees some agencies only (issue 20, item 1)."""
    scoped = statistics.statistics(context(), period="all", by=["agency"], agencies=(COMMUNE, DISTRICT))
    assert _table(scoped) == {
        ("", COMMUNE, False, ""): (3, 2, 1, 1, 1),
        ("", DISTRICT, False, ""): (2, 1, 1, 1, 0),
        ("", DISTRICT, True, ""): (5, 3, 2, 2, 1),  # the province above is not in the scope: no roll-up
    }
    commune = statistics.statistics(context(), period="all", by=["agency"], agencies=(COMMUNE,), agency=DISTRICT)
    assert _table(commune) == {("", COMMUNE, False, ""): (3, 2, 1, 1, 1)}
    nothing = statistics.statistics(context(), period="month", agencies=())
    assert nothing.rows == [] and nothing.total.received == 0


def _kept_matches_a_recount(sessions: sessionmaker[Session], code: str, expected: tuple[int, int, int]) -> None:
    with sessions() as s:
        kept, recounted = statistics.kept(s), statistics.recounted(s)
    assert kept == recounted and kept[code] == expected


def test_the_counts_kept_on_each_dossier_follow_its_documents_and_seals(catalog_url: str) -> None:
    """Digitized, sealed, digitized again (the seal is then on an older version), a seal recorded
    without its version, removed, replaced, a result beside the components, a seal and a document
    deleted: after each, the counts on the dossier row are those counted from the documents."""
    from sqlalchemy import delete, update

    from service import documents
    from storage import open_catalog

    sessions = open_catalog(catalog_url)
    code = f"{COMMUNE}-250527-0001"
    with sessions.begin() as s:
        s.add(_dossier(code, BIRTH, None, None))
        s.add(_dossier(f"{DISTRICT}-250527-0002", LAND, None, None))  # another dossier, left as it is
        s.flush()
        s.add_all([_component(code, n, digitized=False)[0] for n in (1, 2)])
    _kept_matches_a_recount(sessions, code, (2, 0, 0))

    def write(statement: Any) -> None:
        with sessions.begin() as s:
            s.execute(statement)

    def seal(number: int, version: str | None) -> None:
        with sessions.begin() as s:
            document_id = s.scalar(select(Document.id).where(Document.dossier_code == code, Document.number == number))
            s.add(Signature(document_id=document_id, kind="agency", version=version, field="Seal", signer="UBND",
                            signed_at="", level="B-B", object_key=f"s/{number}/{version}"))  # fmt: skip

    one, two = (and_(Document.dossier_code == code, Document.number == n) for n in (1, 2))
    write(update(Document).where(one).values(pdfa_key="p/1", pdfa_sha256="a" * 64))
    _kept_matches_a_recount(sessions, code, (2, 1, 0))
    seal(1, "a" * 64)
    seal(1, "officer")  # not the agency's seal: a personal signature is no seal
    with sessions.begin() as s:
        s.execute(update(Signature).where(Signature.version == "officer").values(kind="officer"))
    _kept_matches_a_recount(sessions, code, (2, 1, 1))
    write(update(Document).where(one).values(pdfa_sha256="b" * 64))  # digitized again: its seal is older
    _kept_matches_a_recount(sessions, code, (2, 1, 0))
    seal(1, None)  # recorded before versions were: counts
    write(update(Document).where(two).values(pdfa_key="p/2", pdfa_sha256="c" * 64))
    _kept_matches_a_recount(sessions, code, (2, 2, 1))
    with sessions.begin() as s:  # removed at the desk, as service.documents does it
        document = s.scalars(select(Document).where(two)).one()
        documents.change(s, document, ("gỡ", "removed"), removed_at=dt.datetime.now(dt.UTC))
        documents.clear_versions(s, document)
    _kept_matches_a_recount(sessions, code, (1, 1, 1))
    with sessions.begin() as s:  # a new original: the versions made from the old one are gone
        s.add(_component(code, 3, digitized=True)[0])
        s.add(_component(code, 4, digitized=True, kind="result")[0])
    _kept_matches_a_recount(sessions, code, (2, 2, 1))
    with sessions.begin() as s:
        document = s.scalars(select(Document).where(Document.dossier_code == code, Document.number == 3)).one()
        documents.change(s, document, ("thay", "replaced"), original_key="k/new", original_sha256="d" * 64)
        documents.clear_versions(s, document)
    _kept_matches_a_recount(sessions, code, (2, 1, 1))
    write(delete(Signature).where(Signature.version.is_(None)))
    _kept_matches_a_recount(sessions, code, (2, 1, 0))
    with sessions.begin() as s:
        s.execute(delete(Signature).where(Signature.document_id.in_(select(Document.id).where(one))))
        s.execute(delete(Document).where(one))
    _kept_matches_a_recount(sessions, code, (1, 0, 0))
    sessions.kw["bind"].dispose()


def test_two_writers_of_one_dossier_count_one_after_the_other_on_postgresql(pg_url: str) -> None:
    """Two transactions each add a component to one dossier: the second waits for the first's
    lock on the dossier row, then counts with what the first committed (not 1, its own alone)."""
    import threading

    from storage import open_catalog

    sessions = open_catalog(pg_url)
    code = f"{COMMUNE}-250527-0001"
    with sessions.begin() as s:
        s.add(_dossier(code, BIRTH, None, None))
    first = sessions()
    first.begin()
    first.add(_component(code, 1, digitized=True)[0])
    first.flush()  # its trigger holds the dossier row

    def second() -> None:
        with sessions.begin() as s:
            s.add(_component(code, 2, digitized=False)[0])

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # waiting for the first
    first.commit()
    first.close()
    thread.join(10)
    _kept_matches_a_recount(sessions, code, (2, 1, 0))
    sessions.kw["bind"].dispose()
