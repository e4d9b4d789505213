"""Scans to searchable PDF/A: ingest, OCR with Tesseract, two-layer PDF/A.

Names load on first use (PEP 562): a scanner station (``sohoa[station]``) reads separator sheets
with ``digitize.separators`` and has neither Tesseract nor the PDF/A writer installed."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digitize.pipeline import PageResult, Result, Segment, Source, digitize, digitize_batch

__all__ = ["PageResult", "Result", "Segment", "Source", "digitize", "digitize_batch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("digitize.pipeline"), name)
    raise AttributeError(f"module 'digitize' has no attribute {name!r}")
