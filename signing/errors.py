"""Errors raised while signing or verifying."""

from __future__ import annotations

from errors import SohoaError


class SigningError(SohoaError):
    code = "signing"


class WrongPassword(SigningError):
    status = 422
    code = "wrong-password"


class CertificateUnusable(SigningError):
    status = 422
    code = "certificate-unusable"


class NotAPdf(SigningError):
    status = 422
    code = "not-a-pdf"
