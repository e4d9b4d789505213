"""Large jobs give way to small ones, and every job stops between pages when its worker stops.

A scan of more than ``SOHOA_LARGE_JOB_PAGES`` pages is a large job: it is queued in a lane of its
own, with its own consumer, and between pages it waits while a small job runs in this process,
so a dossier of a few pages never waits behind a thousand-page file and gets the CPU first. When
the worker stops (SIGTERM, the server shutting down), each job stops at its next page and is
put back in the queue for another worker: its pages are recorded only when it ends, so nothing
is counted twice."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

STOPPING = threading.Event()  # set while this process's workers stop; cleared once they have
_small = [0]  # small jobs running in this process
_changed = threading.Condition()


class Interrupted(Exception):
    """The worker is stopping: this job goes back to the queue."""


def is_large(pages: int | None, limit: int) -> bool:
    return pages is not None and pages > limit


@contextlib.contextmanager
def small_job() -> Iterator[None]:
    """While a small job runs, large ones in this process wait between pages."""
    with _changed:
        _small[0] += 1
    try:
        yield
    finally:
        with _changed:
            _small[0] -= 1
            _changed.notify_all()


def between_pages(large: bool) -> None:
    """What a job does between two pages: stop if the worker is stopping; a large job first
    waits while small ones run here."""
    if large:
        with _changed:
            while _small[0] and not STOPPING.is_set():
                _changed.wait(1.0)
    if STOPPING.is_set():
        raise Interrupted
