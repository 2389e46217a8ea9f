"""The job workflow on Step Functions: one execution per job, named after the job id."""

from __future__ import annotations

import json
import logging
from typing import Any

from tasklane.aws.clients import lazy_client

log = logging.getLogger(__name__)


class StepFunctionsStarter:
    def __init__(self, state_machine_arn: str, sfn: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._sfn = sfn or lazy_client("stepfunctions")

    def start(self, name: str, execution_input: dict[str, Any]) -> None:
        try:
            self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(execution_input)
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            log.info("execution %s already started", name)


class StepFunctionsResumer:
    def __init__(self, sfn: Any = None) -> None:
        self._sfn = sfn or lazy_client("stepfunctions")

    def resume(self, token: str, output: dict[str, Any]) -> None:
        try:
            self._sfn.send_task_success(taskToken=token, output=json.dumps(output))
        except (self._sfn.exceptions.TaskTimedOut, self._sfn.exceptions.InvalidToken):
            # The wait already ended: nothing is left to resume.
            log.warning("the execution no longer waits on this token")

    def interrupt(self, token: str, error: str, cause: str) -> None:
        """End the wait with an error the state machine catches (a job asked to stop)."""
        try:
            self._sfn.send_task_failure(taskToken=token, error=error, cause=cause)
        except (self._sfn.exceptions.TaskTimedOut, self._sfn.exceptions.InvalidToken):
            log.warning("the execution no longer waits on this token")
