"""The public face: the job API."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.job_api import JobApi
from stacks.constructs.python_functions import PythonFunctions
from stacks.nag import apply_nag


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        table: dynamodb.ITable,
        manifests: s3.IBucket,
        state_machine: sfn.IStateMachine,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        functions = PythonFunctions(self, "Functions", config=config)
        self.api = JobApi(
            self, "JobApi", config=config, functions=functions, table=table, manifests=manifests,
            state_machine=state_machine,
        )
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url)
        CfnOutput(self, "RestApiId", value=self.api.rest_api.rest_api_id)
        apply_nag(self, "api")
