"""Errors raised by the object store, the catalog and search."""

from __future__ import annotations

from errors import SohoaError


class StorageError(SohoaError):
    code = "storage"


class InvalidDossierCode(StorageError):
    status = 422
    code = "invalid-dossier-code"


class NotFound(StorageError):
    status = 404
    code = "not-found"


class ObjectExists(StorageError):
    status = 409
    code = "object-exists"


class NotSupported(StorageError):
    status = 501
    code = "not-supported"


class StorageUnavailable(StorageError):
    status = 503
    code = "storage-unavailable"


def no_dossier(code: str) -> NotFound:
    """The answer for a dossier that is not there, or that the caller may not know is there."""
    return NotFound(f"Không có hồ sơ {code}.", f"No dossier {code}.", field="code")
