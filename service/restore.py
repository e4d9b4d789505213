"""E-ARK packages back into the archive (``sohoa import``): every file's SHA-256 and size against
the package's METS files, every signature of the signed PDFs checked, all before anything is
written; then the dossier restored (objects, catalog rows, search index, history)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Date, DateTime
from sqlalchemy.orm import Session

import storage.search
from checksums import sha256_stream
from errors import SohoaError
from service.context import Context, audit
from service.dossiers import DossierExists, write_manifest
from service.packages import CATALOG, FORMAT
from storage import Document, Dossier, Page, Signature, eark
from storage.catalog import Base, StoredObject
from storage.objects import check_key


class PackageRefused(SohoaError):
    status = 422
    code = "package-refused"


def _refuse(vi: str, en: str, name: str) -> PackageRefused:
    return PackageRefused(f"Gói {name} bị từ chối: {vi}.", f"Package {name} refused: {en}.", field=name)


@dataclass
class Checked:
    """A package whose every file matched its checksum: the folder it is in and its catalog rows."""

    zip: zipfile.ZipFile
    folder: str
    catalog: dict[str, Any]
    name: str


def _folder(archive: zipfile.ZipFile, name: str) -> str:
    tops = {PurePosixPath(n).parts[0] for n in archive.namelist() if n.strip("/")}
    if len(tops) != 1 or any(n.startswith("/") or ".." in PurePosixPath(n).parts for n in archive.namelist()):
        raise _refuse(
            "gói phải là một thư mục duy nhất chứa METS.xml",
            "a package must be one folder holding METS.xml",
            name,
        )
    return tops.pop()


def _listed(archive: zipfile.ZipFile, folder: str, name: str) -> dict[str, tuple[str, int]]:
    """Every file the package's METS files list, by path in the package: (SHA-256, size). Each
    representation's METS is listed (with its checksum) by the root's, and lists its own files."""
    try:
        listed = eark.listed_files(archive.read(f"{folder}/METS.xml"))
    except KeyError as e:
        raise _refuse("thiếu METS.xml", "METS.xml is missing", name) from e
    except ValueError as e:  # lxml's XMLSyntaxError, a size that is not a number
        raise _refuse(f"METS.xml hỏng ({e})", f"METS.xml is malformed ({e})", name) from e
    for path in [p for p in listed if p.startswith("representations/") and p.endswith("/METS.xml")]:
        rep = path.rsplit("/", 1)[0]
        try:
            inner = eark.listed_files(archive.read(f"{folder}/{path}"))
        except KeyError as e:
            raise _refuse(f"thiếu {path}", f"{path} is missing", name) from e
        except ValueError as e:
            raise _refuse(f"{path} hỏng ({e})", f"{path} is malformed ({e})", name) from e
        listed.update({f"{rep}/{p}": v for p, v in inner.items()})
    return listed


def _check_files(archive: zipfile.ZipFile, folder: str, name: str) -> dict[str, tuple[str, int]]:
    """Every file of the package against its METS checksum and size; returns what METS lists."""
    listed = _listed(archive, folder, name)
    present = {n[len(folder) + 1 :] for n in archive.namelist() if not n.endswith("/")} - {"METS.xml"}
    if extra := sorted(present - set(listed)):
        raise _refuse(f"tệp {extra[0]} không có trong METS.xml", f"file {extra[0]} is not listed in METS.xml", name)
    for path, (sha256, size) in sorted(listed.items()):
        if path not in present:
            raise _refuse(f"thiếu tệp {path}", f"file {path} is missing", name)
        with archive.open(f"{folder}/{path}") as f:
            actual, actual_size = sha256_stream(f)  # type: ignore[arg-type]
        if actual != sha256 or actual_size != size:
            raise _refuse(
                f"tệp {path} không khớp tổng kiểm SHA-256 trong METS.xml (đã bị sửa hoặc hỏng)",
                f"file {path} does not match its SHA-256 checksum in METS.xml (altered or damaged)",
                name,
            )
    return listed


def check(path: Path) -> Checked:
    """Open the package and check every file against the checksums its METS files list, and the
    catalog rows against those files. Raises PackageRefused naming what failed."""
    name = path.name
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise _refuse("không phải tệp zip đọc được", "not a readable zip file", name) from e
    folder = _folder(archive, name)
    listed = _check_files(archive, folder, name)
    try:
        catalog = json.loads(archive.read(f"{folder}/{CATALOG}"))
    except (KeyError, ValueError) as e:
        raise _refuse(f"thiếu hoặc hỏng {CATALOG}", f"{CATALOG} is missing or unreadable", name) from e
    if catalog.get("format") != FORMAT:
        raise _refuse("không phải gói sohoa", "not a sohoa package", name)
    for obj in catalog["objects"]:
        check_key(obj["key"])
        if listed.get(obj["path"], ("", 0))[0] != obj["sha256"]:
            raise _refuse(
                f"đối tượng {obj['key']} không khớp tệp {obj['path']}",
                f"object {obj['key']} does not match file {obj['path']}",
                name,
            )
    return Checked(archive, folder, catalog, name)


def check_signatures(checked: Checked, workdir: Path, trust_roots: list[Path]) -> list[Path]:
    """Every signed PDF of the package taken out and verified: a signature that is not intact, or
    a change after it, refuses the package. Returns the files taken out (the caller removes them)."""
    from signing import verify_pdf  # pyHanko: only here, never in the API process

    out: list[Path] = []
    for obj in checked.catalog["objects"]:
        if obj["kind"] != "signed":
            continue
        target = workdir / f"{len(out)}-{PurePosixPath(obj['path']).name}"
        with checked.zip.open(f"{checked.folder}/{obj['path']}") as src, target.open("wb") as dest:
            shutil.copyfileobj(src, dest, 1 << 20)
        out.append(target)
        report = verify_pdf(target, trust_roots)
        broken = [s.field for s in report.signatures if not (s.intact and s.valid) or s.changed_after]
        broken += [t.field for t in report.timestamps if not (t.intact and t.valid)]
        if broken or report.lost_signatures or not report.signatures:
            raise _refuse(
                f"chữ ký trong {obj['path']} không còn nguyên vẹn ({report.verdict_vi})",
                f"the signature in {obj['path']} is broken ({report.verdict_en})",
                checked.name,
            )
    return out


def _values(model: type[Base], data: dict[str, Any], *, skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    """A row's values as the catalog types them (dates and moments back from ISO 8601)."""
    values = {}
    for column in model.__table__.columns:
        if column.key in skip or column.key not in data:
            continue
        value = data[column.key]
        kind = getattr(column.type, "impl", column.type)  # UtcDateTime decorates DateTime
        if isinstance(value, str) and isinstance(kind, DateTime):
            value = dt.datetime.fromisoformat(value)
        elif isinstance(value, str) and isinstance(kind, Date):
            value = dt.date.fromisoformat(value)
        values[column.key] = value
    return values


def _restore_rows(session: Session, catalog: dict[str, Any], actor: str) -> None:
    session.add(Dossier(**_values(Dossier, catalog["dossier"], skip=())))
    ids: dict[int, int] = {}
    for data in catalog["documents"]:
        document = Document(**_values(Document, data))
        session.add(document)
        session.flush()
        ids[data["id"]] = document.id
    for data in catalog["pages"]:
        session.add(Page(**{**_values(Page, data), "document_id": ids[data["document_id"]]}))
    for data in catalog["signatures"]:
        session.add(Signature(**{**_values(Signature, data), "document_id": ids[data["document_id"]]}))
    for data in catalog["objects"]:
        session.add(StoredObject(**_values(StoredObject, data, skip=())))
    session.flush()
    code = catalog["dossier"]["code"]
    for document in session.query(Document).filter(Document.dossier_code == code):
        storage.search.index_document(session, document)
    for entry in catalog.get("history", []):  # the lifecycle as it was, each move with its first time and actor
        detail = {k: v for k, v in entry.items() if k not in ("at", "actor")}
        audit(session, entry["actor"], "dossier.transition", code, **detail, imported=True, original_at=entry["at"])


def import_package(ctx: Context, path: Path, *, actor: str) -> str:
    """Check the package whole, then restore its dossier: objects (write-once), catalog rows,
    search index, history. Returns the dossier's code. Nothing is written if a check fails."""
    checked = check(path)
    code = checked.catalog["dossier"]["code"]
    work = ctx.tmp / f"import-{path.stem}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        check_signatures(checked, work, ctx.trust_roots())
        with ctx.sessions() as session:
            if session.get(Dossier, code) is not None:
                raise DossierExists(f"Hồ sơ {code} đã có.", f"Dossier {code} exists already.", field="code")
        for obj in checked.catalog["objects"]:
            target = work / "object"
            with checked.zip.open(f"{checked.folder}/{obj['path']}") as src, target.open("wb") as dest:
                shutil.copyfileobj(src, dest, 1 << 20)
            retain = obj["kind"] == "signed"
            ctx.store.put_file(obj["key"], target, write_once=True, retain=retain, sha256=obj["sha256"], move=True)
        with ctx.sessions.begin() as session:
            _restore_rows(session, checked.catalog, actor)
            audit(session, actor, "dossier.imported", code, package=path.name, objects=len(checked.catalog["objects"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        checked.zip.close()
    write_manifest(ctx, code)
    return code
