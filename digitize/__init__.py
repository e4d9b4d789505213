"""Scans to searchable PDF/A: ingest, OCR with Tesseract, two-layer PDF/A."""

from digitize.pipeline import PageResult, Result, Source, digitize

__all__ = ["PageResult", "Result", "Source", "digitize"]
