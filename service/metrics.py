"""What operations watch: readiness, and Prometheus metrics computed from the catalog and the
queue when scraped (every worker process writes to the same catalog, so the figures are the
whole service's)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from service.context import context
from service.queue import queue
from storage import Document, Job

log = logging.getLogger("sohoa")


class CatalogCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        ctx = context()
        with ctx.sessions() as session:
            by_status = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            pages = session.execute(select(func.coalesce(func.sum(Document.page_count), 0))).scalar_one()
            seconds = sum(
                float((result or {}).get("seconds", 0.0))
                for result in session.scalars(select(Job.result).where(Job.status == "done"))
            )
        finished = CounterMetricFamily("sohoa_jobs", "Jobs finished, by outcome", labels=["status"])
        for status in ("done", "failed"):
            finished.add_metric([status], by_status.get(status, 0))
        yield finished
        waiting = GaugeMetricFamily("sohoa_jobs_waiting", "Jobs queued or running", labels=["status"])
        for status in ("queued", "running"):
            waiting.add_metric([status], by_status.get(status, 0))
        yield waiting
        yield CounterMetricFamily("sohoa_pages", "Pages digitized and stored", value=pages)
        yield CounterMetricFamily(
            "sohoa_job_seconds", "Seconds spent on finished jobs (OCR, PDF/A, signing)", value=seconds
        )
        yield GaugeMetricFamily(
            "sohoa_queue_depth", "Tasks waiting in the job queue", value=queue(ctx.settings).huey.pending_count()
        )


def readiness() -> dict[str, str]:
    """Each part the service needs, "ok" or "unavailable": the catalog, the object store and the
    queue."""
    ctx = context()
    checks: dict[str, str] = {}

    def database() -> None:
        with ctx.sessions() as session:
            session.execute(text("SELECT 1")).scalar_one()

    for name, probe in (
        ("database", database),
        ("storage", ctx.store.check),
        ("queue", lambda: queue(ctx.settings).huey.pending_count()),
    ):
        try:
            probe()
            checks[name] = "ok"
        except Exception:  # any failure means "not ready": which part, and the reason in the log only
            log.warning("readiness: %s unavailable", name, exc_info=True)  # an open endpoint shows no paths or hosts
            checks[name] = "unavailable"
    return checks
