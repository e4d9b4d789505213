"""Scans to searchable PDF/A: ingest, OCR with Tesseract, two-layer PDF/A."""

from digitize.pipeline import PageResult, Result, Segment, Source, digitize, digitize_batch

__all__ = ["PageResult", "Result", "Segment", "Source", "digitize", "digitize_batch"]
