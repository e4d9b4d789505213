"""The circular's fields that Dublin Core has no element for, in the PDF/A's XMP: properties of
sohoa's own namespace (records.XMP_NAMESPACE), declared in the same packet by a PDF/A extension
schema (ISO 19005-1 6.7.8, ISO 19005-2 6.6.2.3.2), so that the file stays PDF/A.

pikepdf's validator admits no extension schema at all, so this module also checks them (any
file's, not only sohoa's): the container well formed, every property it describes with a name,
a value type, a category and a description, every property of a described namespace declared
and of its type. It then gives the packet without them (the projection) for pikepdf to check the
rest as before (digitize.validate)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from records import XMP_NAMESPACE, XMP_PREFIX, Field, InvalidField, clean, xmp_fields

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
EXTENSION = "http://www.aiim.org/pdfa/ns/extension/"
SCHEMA = "http://www.aiim.org/pdfa/ns/schema#"
PROPERTY = "http://www.aiim.org/pdfa/ns/property#"
_CONTAINER_NAMESPACES = (EXTENSION, SCHEMA, PROPERTY, "http://www.aiim.org/pdfa/ns/type#",
                         "http://www.aiim.org/pdfa/ns/field#")  # fmt: skip
# Namespaces an extension schema may not describe: those of the XMP specification, of PDF/A and
# of RDF itself (describing them would take their properties out of pikepdf's check).
_PREDEFINED = ("http://ns.adobe.com/", "http://www.aiim.org/", "http://purl.org/dc/", "adobe:ns:meta/",
               RDF, "http://www.w3.org/XML/1998/namespace")  # fmt: skip
_DESCRIPTION, _LI, _ABOUT = f"{{{RDF}}}Description", f"{{{RDF}}}li", f"{{{RDF}}}about"
_PARSE_TYPE, _RESOURCE = f"{{{RDF}}}parseType", f"{{{RDF}}}resource"
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# The value types of the XMP specification this check knows; sohoa writes Text, Integer, Date.
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?")
_VALUES = {
    "Text": lambda v: True,
    "URI": lambda v: True,
    "URL": lambda v: True,
    "Integer": lambda v: re.fullmatch(r"[+-]?\d+", v) is not None,
    "Real": lambda v: re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", v) is not None,
    "Boolean": lambda v: v in ("True", "False"),
    "Date": lambda v: _DATE.fullmatch(v) is not None and _real_date(v),
}
_TYPES = {"text": "Text", "code": "Text", "int": "Integer", "date": "Date"}
_CATEGORIES = ("internal", "external")
_PROPERTY_FIELDS = ("name", "valueType", "category", "description")
_TITLE = "sohoa: trường của thông tư 05/2025/TT-BNV (fields of circular 05/2025/TT-BNV)"


def _real_date(value: str) -> bool:
    year, month, day = [*value[:10].split("-"), "01", "01"][:3]
    try:
        dt.date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


# Writing


def _text(value: Any) -> str:
    return escape(_XML_ILLEGAL.sub("", unicodedata.normalize("NFC", str(value))))


def values(record: dict[str, Any]) -> list[tuple[Field, str]]:
    """The record's sohoa properties with a value, checked by their field (one a field does not
    take, a reading the page gave wrongly, is left out), NFC."""
    found = []
    for f in xmp_fields():
        try:
            value = clean(f, record.get(f.key))
        except InvalidField:
            continue
        if value is not None:
            found.append((f, str(value)))
    return found


def _schema(used: list[Field]) -> str:
    """The extension schema declaring the properties the packet holds."""
    names = {f.key: _text(f"{f.vi} ({f.en})") for f in used}
    declared = "".join(
        f"""
                <rdf:li rdf:parseType="Resource">
                  <pdfaProperty:name>{f.key}</pdfaProperty:name>
                  <pdfaProperty:valueType>{_TYPES[f.kind]}</pdfaProperty:valueType>
                  <pdfaProperty:category>external</pdfaProperty:category>
                  <pdfaProperty:description>{names[f.key]}</pdfaProperty:description>
                </rdf:li>"""
        for f in used
    )
    namespaces = f'xmlns:pdfaExtension="{EXTENSION}" xmlns:pdfaSchema="{SCHEMA}" xmlns:pdfaProperty="{PROPERTY}"'
    return f"""
    <rdf:Description rdf:about="" {namespaces}>
      <pdfaExtension:schemas>
        <rdf:Bag>
          <rdf:li rdf:parseType="Resource">
            <pdfaSchema:schema>{_TITLE}</pdfaSchema:schema>
            <pdfaSchema:namespaceURI>{XMP_NAMESPACE}</pdfaSchema:namespaceURI>
            <pdfaSchema:prefix>{XMP_PREFIX}</pdfaSchema:prefix>
            <pdfaSchema:property>
              <rdf:Seq>{declared}
              </rdf:Seq>
            </pdfaSchema:property>
          </rdf:li>
        </rdf:Bag>
      </pdfaExtension:schemas>
    </rdf:Description>"""


def with_fields(packet: bytes, record: dict[str, Any]) -> bytes:
    """``packet`` (the one pikepdf's PDF/A preparation writes) with the record's sohoa properties
    and the extension schema that declares them (only those: a few hundred bytes each), each in an
    rdf:Description of its own; as it was when the record has none."""
    found = values(record)
    if not found:
        return packet
    props = "".join(f"\n      <{XMP_PREFIX}:{f.key}>{_text(v)}</{XMP_PREFIX}:{f.key}>" for f, v in found)
    own = f'\n    <rdf:Description rdf:about="" xmlns:{XMP_PREFIX}="{XMP_NAMESPACE}">{props}\n    </rdf:Description>'
    end = packet.rindex(b"</rdf:RDF>")
    return packet[:end].rstrip() + (_schema([f for f, _ in found]) + own + "\n  ").encode() + packet[end:]


def register_prefix() -> None:
    """pyHanko writes the XMP again when it signs a PDF/A-2 or -3 file, with lxml: without this
    its namespace would come out as ns0 (still valid, the prefix being only preferred)."""
    etree.register_namespace(XMP_PREFIX, XMP_NAMESPACE)


# Checking


@dataclass
class Extension:
    findings: list[str] = field(default_factory=list)
    projected: bytes | None = None  # the packet without extension schemas and their properties; None: it had none


def _finding(message: str) -> str:
    return f"XMP extension schema (ISO 19005-1 6.7.8, 19005-2 6.6.2.3): {message}"


def _elements(node: Any) -> list[Any]:
    return [c for c in node if isinstance(c.tag, str)]


def _qname(tag: str) -> tuple[str, str]:
    ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return ns, local


def _simple(value: Any) -> str | None:
    """A simple value: an attribute's text, an element's text or rdf:resource; None otherwise."""
    if isinstance(value, str):
        return value
    if _elements(value) or value.get(_PARSE_TYPE) is not None:
        return None
    return value.get(_RESOURCE) if value.get(_RESOURCE) is not None else (value.text or "")


def _struct(node: Any) -> dict[str, Any] | None:
    """The fields of an XMP structure (rdf:parseType="Resource", or one rdf:Description inside,
    fields as its attributes or elements), by expanded name; None if it is not one."""
    if node.get(_PARSE_TYPE) == "Resource":
        holder = node
    else:
        inner = _elements(node)
        if len(inner) != 1 or inner[0].tag != _DESCRIPTION or (node.text or "").strip():
            return None
        holder = inner[0]
    fields: dict[str, Any] = {k: v for k, v in holder.attrib.items() if k not in (_ABOUT, _PARSE_TYPE)}
    for child in _elements(holder):
        if child.tag in fields:
            return None
        fields[child.tag] = child
    return fields


def _items(value: Any, kind: str) -> list[Any] | None:
    """The rdf:li of an rdf:Bag or rdf:Seq property value; None if it is not one."""
    inner = [] if isinstance(value, str) else _elements(value)
    if len(inner) != 1 or inner[0].tag != f"{{{RDF}}}{kind}":
        return None
    items = _elements(inner[0])
    return items if all(i.tag == _LI for i in items) else None


def _properties(node: Any, schema: str, findings: list[str]) -> dict[str, str]:
    """The properties a schema declares: name → value type."""
    declared: dict[str, str] = {}
    items = _items(node, "Seq")
    if items is None:
        findings.append(f"pdfaSchema:property of {schema} is not an rdf:Seq")
        return declared
    known = {f"{{{PROPERTY}}}{k}" for k in _PROPERTY_FIELDS}
    for item in items:
        fields = _struct(item)
        if fields is None or set(fields) != known:
            findings.append(f"a property of {schema} is not a structure of name, valueType, category, description")
            continue
        name, kind, category, description = (_simple(fields[f"{{{PROPERTY}}}{k}"]) for k in _PROPERTY_FIELDS)
        if not name or not re.fullmatch(r"[A-Za-z_][\w.-]*", name) or name in declared:
            findings.append(f"{schema} declares a property named {name!r}")
        elif kind not in _VALUES:
            findings.append(f"{schema}:{name} has the value type {kind!r}, not one of {', '.join(_VALUES)}")
        elif category not in _CATEGORIES:
            findings.append(f"{schema}:{name} has the category {category!r}, not internal or external")
        elif not (description or "").strip():
            findings.append(f"{schema}:{name} has no description")
        else:
            declared[name] = kind
    return declared


def _schemas(container: Any, findings: list[str]) -> dict[str, dict[str, str]]:
    """The namespaces pdfaExtension:schemas describes: URI → property name → value type."""
    described: dict[str, dict[str, str]] = {}
    items = _items(container, "Bag")
    if items is None:
        findings.append("pdfaExtension:schemas is not an rdf:Bag")
        return described
    required = {f"{{{SCHEMA}}}{k}" for k in ("schema", "namespaceURI", "prefix")}
    for item in items:
        fields = _struct(item)
        if fields is None or not required <= set(fields) <= required | {f"{{{SCHEMA}}}property"}:
            findings.append("a schema is not a structure of schema, namespaceURI, prefix and property")
            continue
        uri, prefix, title = (_simple(fields[f"{{{SCHEMA}}}{k}"]) for k in ("namespaceURI", "prefix", "schema"))
        if not uri or ":" not in uri or uri.startswith(_PREDEFINED) or uri in described:
            findings.append(f"a schema describes the namespace {uri!r}")
        elif not prefix or not re.fullmatch(r"[A-Za-z_][\w.-]*", prefix) or not (title or "").strip():
            findings.append(f"the schema of {uri} has no valid prefix or no name")
        else:
            node = fields.get(f"{{{SCHEMA}}}property")
            described[uri] = {} if node is None else _properties(node, uri, findings)
    return described


def _top_properties(rdf: Any) -> list[tuple[Any, str, Any]]:
    """(description, expanded name, value) of every property of the packet's descriptions."""
    found = []
    for desc in _elements(rdf):
        if desc.tag != _DESCRIPTION:
            continue
        for key, value in desc.attrib.items():
            if _qname(key)[0] not in (RDF, "http://www.w3.org/XML/1998/namespace"):
                found.append((desc, key, value))
        found.extend((desc, child.tag, child) for child in _elements(desc))
    return found


def _parse(packet: bytes) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=False)
    try:
        tree = etree.fromstring(packet, parser).getroottree()
    except (etree.XMLSyntaxError, ValueError):
        return None  # pikepdf's check reports it
    root = tree.getroot()
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f"{{{RDF}}}RDF")
    return None if rdf is None else (tree, rdf)


def check(packet: bytes) -> Extension:
    """The packet's extension schemas and the properties they describe, checked; and the packet
    without them, for pikepdf's validator."""
    parsed = _parse(packet)
    if parsed is None:
        return Extension()
    tree, rdf = parsed
    properties = _top_properties(rdf)
    if not any(_qname(key)[0] in _CONTAINER_NAMESPACES for _, key, _ in properties):
        return Extension()
    findings: list[str] = []
    described: dict[str, dict[str, str]] = {}
    for _desc, key, value in properties:
        if key == f"{{{EXTENSION}}}schemas":
            for uri, declared in _schemas(value, findings).items():
                described.setdefault(uri, {}).update(declared)
        elif _qname(key)[0] in _CONTAINER_NAMESPACES:
            findings.append(f"{_qname(key)[1]} of the extension schema namespaces used as a property")
    for desc, key, value in properties:
        ns, name = _qname(key)
        if ns in described:
            kind = described[ns].get(name)
            text = _simple(value)
            if kind is None:
                findings.append(f"{name} ({ns}) is not declared by its extension schema")
            elif text is None or not _VALUES[kind](text):
                findings.append(f"{name} ({ns}) is not of type {kind}: {text!r}")
        if ns in described or ns in _CONTAINER_NAMESPACES:
            if isinstance(value, str):
                del desc.attrib[key]
            else:
                desc.remove(value)
    for desc in [d for d in _elements(rdf) if d.tag == _DESCRIPTION]:
        if not _elements(desc) and set(desc.attrib) <= {_ABOUT}:
            rdf.remove(desc)
    etree.cleanup_namespaces(tree)
    projected = etree.tostring(tree, encoding="utf-8", xml_declaration=False)
    return Extension([_finding(f) for f in findings], projected)
