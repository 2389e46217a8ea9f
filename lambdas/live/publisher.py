"""The job table's stream consumer: pushes each changed job to the connections subscribed to it.

The event source mapping only delivers a job's head and counter items (filter on sk = "JOB" or "COUNT");
Lambda polls the stream 4 times a second, so a busy job's many counter updates arrive together in a batch,
and the job is read once and leaves as one push.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.live.views import job_view
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.live_connections import DynamoConnectionStore
from tasklane.aws.live_push import ApiGatewayPusher
from tasklane.aws.live_streams import job_changes
from tasklane.live import Publisher
from tasklane.live_settings import LiveSettings
from tasklane.provided import provided

logger = Logger(service="tasklane-live-publisher")


@provided
def jobs() -> DynamoJobStore:
    return DynamoJobStore(LiveSettings().table_name)


@provided
def publisher() -> Publisher:
    settings = LiveSettings()
    return Publisher(
        store=DynamoConnectionStore(settings.connections_table_name),
        pusher=ApiGatewayPusher(settings.management_endpoint),
        view=job_view,
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    report = publisher().publish(job_changes(records, jobs().get_job))
    logger.debug("published", extra={"records": len(records), "jobs": report.jobs, "posted": report.posted,
                                     "gone": len(report.gone)})
    return {"jobs": report.jobs, "posted": report.posted, "gone": len(report.gone)}
