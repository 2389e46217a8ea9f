"""The job workflow on Step Functions: one execution per job, named after the job id."""

from __future__ import annotations

import json
import logging
from typing import Any

from tasklane.aws.clients import client

log = logging.getLogger(__name__)


class StepFunctionsStarter:
    def __init__(self, state_machine_arn: str, sfn: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._sfn = sfn or client("stepfunctions")

    def start(self, job_id: str, execution_input: dict[str, Any]) -> None:
        try:
            self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=job_id, input=json.dumps(execution_input)
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            log.info("execution for job %s already started", job_id)


class StepFunctionsResumer:
    def __init__(self, sfn: Any = None) -> None:
        self._sfn = sfn or client("stepfunctions")

    def resume(self, token: str, output: dict[str, Any]) -> None:
        try:
            self._sfn.send_task_success(taskToken=token, output=json.dumps(output))
        except (self._sfn.exceptions.TaskTimedOut, self._sfn.exceptions.InvalidToken):
            # The wait already ended (the job timed out or was cancelled): nothing is left to resume.
            log.warning("the execution no longer waits on this token")
