"""The Celery app and the enqueuer, built from Settings. One of the three modules that import
Celery. Redis or RabbitMQ in production; for ``sandbox demo`` a filesystem queue under
``data_dir/broker`` that several processes on one host share, so the demo needs no server."""

from __future__ import annotations

from typing import Any

from celery import Celery

from sandbox.ids import JobId, StepId
from sandbox.jobs.queue import COORDINATOR_QUEUE, domain_queue
from sandbox.settings import Settings

ADVANCE_JOB = "sandbox.advance_job"
RUN_STEP = "sandbox.run_step"


def make_celery(settings: Settings) -> Celery:
    app = Celery("sandbox", set_as_current=False)
    conf: dict[str, Any] = {
        "broker_url": settings.celery_broker_url,
        "task_default_queue": COORDINATOR_QUEUE,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        # The row in the control DB is the durable truth; late acks only save a reaper cycle.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "include": ["sandbox.jobs.tasks"],
    }
    if settings.uses_filesystem_broker:
        queue_dir = settings.broker_dir / "queue"
        control_dir = settings.broker_dir / "control"
        for folder in (queue_dir, control_dir):
            folder.mkdir(parents=True, exist_ok=True)
        conf["broker_transport_options"] = {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "control_folder": str(control_dir),
            "store_processed": False,
            "polling_interval": 0.1,
        }
    app.conf.update(conf)
    return app


class CeleryEnqueuer:
    """Sends ids, never payloads: broker messages carry a job or step id and nothing else."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def advance_job(self, job_id: JobId) -> None:
        self.app.send_task(ADVANCE_JOB, args=[str(job_id)], queue=COORDINATOR_QUEUE)

    def run_step(self, step_id: StepId, domain: str) -> None:
        self.app.send_task(RUN_STEP, args=[str(step_id)], queue=domain_queue(domain))
