"""Object store, catalog and Vietnamese search."""

from storage.catalog import AuditEvent, Document, Dossier, Job, JobStatus, Page, Signature, open_catalog
from storage.codes import DossierCode, parse_code
from storage.filesystem import FilesystemStore
from storage.objects import ObjectStore, dossier_prefix
from storage.stores import open_store

__all__ = [
    "AuditEvent",
    "Document",
    "Dossier",
    "DossierCode",
    "FilesystemStore",
    "Job",
    "JobStatus",
    "ObjectStore",
    "Page",
    "Signature",
    "dossier_prefix",
    "open_catalog",
    "open_store",
    "parse_code",
]
