"""E-ARK CSIP/SIP package metadata: the METS files, the descriptive metadata (EAD 2002) and the
PREMIS preservation metadata of a dossier's package, written from plain data (no catalog, no
store), so an exporter and a test can build them alike."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

METS = "http://www.loc.gov/METS/"
CSIP = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
SIP = "https://DILCIS.eu/XML/METS/SIPExtensionMETS"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PREMIS = "http://www.loc.gov/premis/v3"
EAD = "urn:isbn:1-931666-22-9"
CSIP_PROFILE = "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"
SOFTWARE = "sohoa"
VERSION = "1"
# Every file group says what it holds: the validator asks for OTHER with a name on each.
_GROUP = {f"{{{CSIP}}}CONTENTINFORMATIONTYPE": "OTHER", f"{{{CSIP}}}OTHERCONTENTINFORMATIONTYPE": "sohoa-dossier"}
_NS = {None: METS, "csip": CSIP, "sip": SIP, "xlink": XLINK, "xsi": XSI}
_LOCATIONS = (
    f"{METS} schemas/mets.xsd {XLINK} schemas/xlink.xsd {CSIP} schemas/DILCISExtensionMETS.xsd "
    f"{SIP} schemas/DILCISExtensionSIPMETS.xsd"
)
# Descriptive fields that have an EAD element of their own; every field is also in the list of
# all fields (<odd>), so fields added to the catalog later reach the package without a change here.
_EAD_DID = {"code": "unitid", "title": "unittitle", "number": "unitid", "original_name": "unittitle"}


@dataclass(frozen=True)
class PackageFile:
    """A file of the package: its path inside the package's folder and what METS says of it."""

    path: str  # e.g. representations/signed/data/document-1.pdf
    sha256: str
    size: int
    mimetype: str
    created: str  # ISO 8601


@dataclass(frozen=True)
class Event:
    """A PREMIS event: the digitization, a signature, a transition of the dossier."""

    type: str
    at: str
    detail: str
    agent: str
    outcome: str = "success"
    objects: tuple[str, ...] = ()  # package paths of the files it produced or acted on


@dataclass
class Representation:
    name: str  # originals, pdfa, signed
    files: list[PackageFile] = field(default_factory=list)


def _id(prefix: str = "uuid") -> str:
    return f"{prefix}-{uuid.uuid4()}"


def _text(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return "" if value is None else str(value)


def _xml(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    element = etree.SubElement(parent, tag, {k.replace("__", ":"): v for k, v in attrib.items()})
    if text is not None:
        element.text = text
    return element


def _odd(parent: etree._Element, fields: Mapping[str, Any]) -> None:
    """Every field as label and value: the catalog's names, so nothing is lost in a mapping."""
    odd = _sub(parent, f"{{{EAD}}}odd")
    items = _sub(odd, f"{{{EAD}}}list", type="deflist")
    for name, value in fields.items():
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value)  # keywords, the circular's lists
        if value in (None, "") or isinstance(value, dict):
            continue
        item = _sub(items, f"{{{EAD}}}defitem")
        _sub(item, f"{{{EAD}}}label", name)
        _sub(item, f"{{{EAD}}}item", _text(value))


def _did(parent: etree._Element, fields: Mapping[str, Any]) -> etree._Element:
    did = _sub(parent, f"{{{EAD}}}did")
    for name, tag in _EAD_DID.items():
        if fields.get(name) not in (None, ""):
            _sub(did, f"{{{EAD}}}{tag}", _text(fields[name]))
    return did


def descriptive(dossier: Mapping[str, Any], documents: Sequence[Mapping[str, Any]]) -> bytes:
    """The dossier's description (EAD 2002: the dossier a file, each document an item) from its
    fields and its documents' fields, as the catalog names them. Every field given is written;
    those with an EAD element of their own (code, title, dates, pages) also there."""
    E = f"{{{EAD}}}"
    ead = etree.Element(f"{E}ead", nsmap={None: EAD})
    header = _sub(ead, f"{E}eadheader")
    _sub(header, f"{E}eadid", _text(dossier.get("code")))
    title = _sub(_sub(header, f"{E}filedesc"), f"{E}titlestmt")
    _sub(title, f"{E}titleproper", _text(dossier.get("title")) or _text(dossier.get("code")))
    archdesc = _sub(ead, f"{E}archdesc", level="file")
    did = _did(archdesc, dossier)
    if dossier.get("agency"):
        _sub(_sub(did, f"{E}origination"), f"{E}corpname", _text(dossier["agency"]))
    if dossier.get("received_on"):
        _sub(did, f"{E}unitdate", _text(dossier["received_on"]), normal=_text(dossier["received_on"]))
    if dossier.get("retention"):
        _sub(_sub(archdesc, f"{E}appraisal"), f"{E}p", f"retention {_text(dossier['retention'])}")
    _odd(archdesc, dossier)
    dsc = _sub(archdesc, f"{E}dsc")
    for document in documents:
        item = _sub(dsc, f"{E}c", level="item")
        item_did = _did(item, document)
        if document.get("page_count"):
            _sub(_sub(item_did, f"{E}physdesc"), f"{E}extent", f"{document['page_count']} pages")
        _odd(item, document)
    return _xml(ead)


def premis(files: Iterable[PackageFile], events: Iterable[Event], agents: Iterable[str]) -> bytes:
    """PREMIS 3: every file with its SHA-256 and size, the events (digitization, signatures,
    transitions) linked to the files they made, and the agents (people and the software)."""
    P = f"{{{PREMIS}}}"
    root = etree.Element(f"{P}premis", nsmap={None: PREMIS, "xsi": XSI}, version="3.0")
    for f in files:
        obj = _sub(root, f"{P}object", **{f"{{{XSI}}}type": "file"})
        identifier = _sub(obj, f"{P}objectIdentifier")
        _sub(identifier, f"{P}objectIdentifierType", "local")
        _sub(identifier, f"{P}objectIdentifierValue", f.path)
        characteristics = _sub(obj, f"{P}objectCharacteristics")
        fixity = _sub(characteristics, f"{P}fixity")
        _sub(fixity, f"{P}messageDigestAlgorithm", "SHA-256")
        _sub(fixity, f"{P}messageDigest", f.sha256)
        _sub(characteristics, f"{P}size", str(f.size))
        _sub(_sub(_sub(characteristics, f"{P}format"), f"{P}formatDesignation"), f"{P}formatName", f.mimetype)
    for event in events:
        element = _sub(root, f"{P}event")
        identifier = _sub(element, f"{P}eventIdentifier")
        _sub(identifier, f"{P}eventIdentifierType", "UUID")
        _sub(identifier, f"{P}eventIdentifierValue", str(uuid.uuid4()))
        _sub(element, f"{P}eventType", event.type)
        _sub(element, f"{P}eventDateTime", event.at)
        _sub(_sub(element, f"{P}eventDetailInformation"), f"{P}eventDetail", event.detail)
        _sub(_sub(element, f"{P}eventOutcomeInformation"), f"{P}eventOutcome", event.outcome)
        agent = _sub(element, f"{P}linkingAgentIdentifier")
        _sub(agent, f"{P}linkingAgentIdentifierType", "local")
        _sub(agent, f"{P}linkingAgentIdentifierValue", event.agent)
        for path in event.objects:
            linked = _sub(element, f"{P}linkingObjectIdentifier")
            _sub(linked, f"{P}linkingObjectIdentifierType", "local")
            _sub(linked, f"{P}linkingObjectIdentifierValue", path)
    for name in sorted(set(agents)):
        agent = _sub(root, f"{P}agent")
        identifier = _sub(agent, f"{P}agentIdentifier")
        _sub(identifier, f"{P}agentIdentifierType", "local")
        _sub(identifier, f"{P}agentIdentifierValue", name)
        _sub(agent, f"{P}agentName", name)
        _sub(agent, f"{P}agentType", "software" if name == SOFTWARE else "person")
    return _xml(root)


def _file(group: etree._Element, f: PackageFile, href: str) -> None:
    element = _sub(
        group,
        f"{{{METS}}}file",
        ID=_id("ID"),
        MIMETYPE=f.mimetype,
        SIZE=str(f.size),
        CREATED=f.created,
        CHECKSUM=f.sha256.upper(),
        CHECKSUMTYPE="SHA-256",
    )
    _sub(element, f"{{{METS}}}FLocat", LOCTYPE="URL", **{f"{{{XLINK}}}type": "simple", f"{{{XLINK}}}href": href})


def _md_ref(parent: etree._Element, f: PackageFile, mdtype: str, href: str) -> None:
    _sub(
        parent,
        f"{{{METS}}}mdRef",
        LOCTYPE="URL",
        MDTYPE=mdtype,
        MIMETYPE=f.mimetype,
        SIZE=str(f.size),
        CREATED=f.created,
        CHECKSUM=f.sha256.upper(),
        CHECKSUMTYPE="SHA-256",
        **{f"{{{XLINK}}}type": "simple", f"{{{XLINK}}}href": href},
    )


def _root(objid: str, label: str, created: str, agency: str) -> etree._Element:
    mets = etree.Element(
        f"{{{METS}}}mets",
        nsmap=_NS,
        OBJID=objid,
        LABEL=label,
        TYPE="Mixed",
        PROFILE=CSIP_PROFILE,
        **{f"{{{CSIP}}}CONTENTINFORMATIONTYPE": "MIXED", f"{{{XSI}}}schemaLocation": _LOCATIONS},
    )
    header = _sub(
        mets,
        f"{{{METS}}}metsHdr",
        CREATEDATE=created,
        LASTMODDATE=created,
        RECORDSTATUS="NEW",
        **{f"{{{CSIP}}}OAISPACKAGETYPE": "SIP"},
    )
    software = _sub(header, f"{{{METS}}}agent", ROLE="CREATOR", TYPE="OTHER", OTHERTYPE="SOFTWARE")
    _sub(software, f"{{{METS}}}name", SOFTWARE)
    _sub(software, f"{{{METS}}}note", VERSION, **{f"{{{CSIP}}}NOTETYPE": "SOFTWARE VERSION"})
    # The agency that made and hands over the records (E-ARK SIP: the archival creator).
    archivist = _sub(header, f"{{{METS}}}agent", ROLE="ARCHIVIST", TYPE="ORGANIZATION")
    _sub(archivist, f"{{{METS}}}name", agency or "unknown")
    _sub(archivist, f"{{{METS}}}note", agency or "unknown", **{f"{{{CSIP}}}NOTETYPE": "IDENTIFICATIONCODE"})
    return mets


def representation_mets(
    objid: str, rep: Representation, created: str, agency: str, preservation: PackageFile, other: list[PackageFile]
) -> bytes:
    """A representation's own METS: its data files with their checksums, its PREMIS, and other
    metadata of its files (the PDF/As' words with their boxes, ALTO)."""
    mets = _root(f"{objid}-{rep.name}", rep.name, created, agency)
    amd = _sub(mets, f"{{{METS}}}amdSec", ID=_id())
    digiprov = _sub(amd, f"{{{METS}}}digiprovMD", ID=_id(), STATUS="CURRENT")
    _md_ref(digiprov, preservation, "PREMIS", preservation.path.split("/", 2)[2])
    for f in other:
        tech = _sub(amd, f"{{{METS}}}techMD", ID=_id(), STATUS="CURRENT")
        _md_ref(tech, f, "OTHER", f.path.split("/", 2)[2])
        tech[0].set("OTHERMDTYPE", "ALTO" if f.path.endswith(".alto.xml") else "OTHER")
    section = _sub(mets, f"{{{METS}}}fileSec", ID=_id())
    group = _sub(section, f"{{{METS}}}fileGrp", ID=_id(), USE="Data", **_GROUP)
    for f in rep.files:
        _file(group, f, f.path.split("/", 2)[2])  # relative to the representation's folder
    struct = _sub(mets, f"{{{METS}}}structMap", ID=_id(), TYPE="PHYSICAL", LABEL="CSIP")
    top = _sub(struct, f"{{{METS}}}div", ID=_id(), LABEL=f"{objid}-{rep.name}")
    _sub(top, f"{{{METS}}}div", ID=_id(), LABEL="Metadata", ADMID=digiprov.get("ID", ""))
    data = _sub(top, f"{{{METS}}}div", ID=_id(), LABEL="Data")
    _sub(data, f"{{{METS}}}fptr", FILEID=group.get("ID", ""))
    return _xml(mets)


@dataclass
class RootParts:
    """What the root METS lists besides the representations: metadata files and schemas."""

    descriptive: PackageFile
    preservation: PackageFile
    other: PackageFile  # sohoa's catalog rows (metadata/other)
    documentation: list[PackageFile]
    schemas: list[PackageFile]
    representations: list[tuple[str, PackageFile]]  # name, its METS.xml


def root_mets(objid: str, label: str, created: str, agency: str, parts: RootParts) -> bytes:
    """The package's METS.xml: descriptive and preservation metadata, schemas, documentation
    of sohoa's own (the catalog rows that restore the dossier), and a pointer to each
    representation's METS."""
    mets = _root(objid, label, created, agency)
    dmd = _sub(mets, f"{{{METS}}}dmdSec", ID=_id(), CREATED=created, STATUS="CURRENT")
    _md_ref(dmd, parts.descriptive, "EAD", parts.descriptive.path)
    amd = _sub(mets, f"{{{METS}}}amdSec", ID=_id())
    digiprov = _sub(amd, f"{{{METS}}}digiprovMD", ID=_id(), STATUS="CURRENT")
    _md_ref(digiprov, parts.preservation, "PREMIS", parts.preservation.path)
    other = _sub(amd, f"{{{METS}}}digiprovMD", ID=_id(), STATUS="CURRENT")
    _md_ref(other, parts.other, "OTHER", parts.other.path)
    other[0].set("OTHERMDTYPE", "sohoa-catalog")
    section = _sub(mets, f"{{{METS}}}fileSec", ID=_id())
    groups: list[tuple[str, etree._Element]] = []
    for use, files in (("Schemas", parts.schemas), ("Documentation", parts.documentation)):
        if files:
            group = _sub(section, f"{{{METS}}}fileGrp", ID=_id(), USE=use, **_GROUP)
            for f in files:
                _file(group, f, f.path)
            groups.append((use, group))
    rep_groups = []
    for name, rep_mets in parts.representations:
        group = _sub(section, f"{{{METS}}}fileGrp", ID=_id(), USE=f"Representations/{name}", **_GROUP)
        _file(group, rep_mets, rep_mets.path)
        rep_groups.append((name, group, rep_mets))
    struct = _sub(mets, f"{{{METS}}}structMap", ID=_id(), TYPE="PHYSICAL", LABEL="CSIP")
    top = _sub(struct, f"{{{METS}}}div", ID=_id(), LABEL=objid)
    _sub(
        top,
        f"{{{METS}}}div",
        ID=_id(),
        LABEL="Metadata",
        DMDID=dmd.get("ID", ""),
        ADMID=f"{digiprov.get('ID')} {other.get('ID')}",
    )
    for use, group in groups:
        _sub(_sub(top, f"{{{METS}}}div", ID=_id(), LABEL=use), f"{{{METS}}}fptr", FILEID=group.get("ID", ""))
    reps = _sub(top, f"{{{METS}}}div", ID=_id(), LABEL="Representations")
    for _name, group, _mets in rep_groups:  # the validator asks for these beside each representation's div
        _sub(reps, f"{{{METS}}}fptr", FILEID=group.get("ID", ""))
    for name, group, rep_mets in rep_groups:
        div = _sub(reps, f"{{{METS}}}div", ID=_id(), LABEL=f"Representations/{name}")
        _sub(
            div,
            f"{{{METS}}}mptr",
            LOCTYPE="URL",
            **{
                f"{{{XLINK}}}type": "simple",
                f"{{{XLINK}}}href": rep_mets.path,
                f"{{{XLINK}}}title": group.get("ID", ""),
            },
        )
    return _xml(mets)


def listed_files(mets: bytes) -> dict[str, tuple[str, int]]:
    """Every file a METS lists (file and mdRef), by its href: (SHA-256 in lower case, size).
    Raises ValueError for a METS that is not well-formed XML."""
    try:
        root = etree.fromstring(mets, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as e:
        raise ValueError(str(e)) from e
    found: dict[str, tuple[str, int]] = {}
    for element in root.iter(f"{{{METS}}}file", f"{{{METS}}}mdRef"):
        href = element.get(f"{{{XLINK}}}href")
        if href is None:
            locat = element.find(f"{{{METS}}}FLocat")
            href = locat.get(f"{{{XLINK}}}href") if locat is not None else None
        if href:
            found[href] = ((element.get("CHECKSUM") or "").lower(), int(element.get("SIZE") or -1))
    return found
