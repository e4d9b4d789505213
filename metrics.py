"""Prometheus metrics, computed from the catalog and the queue when scraped: every worker
process writes to the same catalog, so the figures are the whole service's."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

import jobs
import service
from storage import Document, Job


class CatalogCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        ctx = service.context()
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
            "sohoa_queue_depth", "Tasks waiting in the job queue", value=jobs.queue(ctx.settings).huey.pending_count()
        )
