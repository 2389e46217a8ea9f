"""The job API: API Gateway (REST) in front of one Powertools-routed Lambda function."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.python_functions import PythonFunctions


class JobApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        functions: PythonFunctions,
        table: dynamodb.ITable,
        manifests: s3.IBucket,
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = functions.function(
            "Handler",
            handler="lambdas.api.handler.lambda_handler",
            description="Tasklane's job API",
            environment={
                "TABLE_NAME": table.table_name,
                "MANIFEST_BUCKET": manifests.bucket_name,
                "STATE_MACHINE_ARN": state_machine.state_machine_arn,
            },
            timeout=Duration.seconds(29),
            memory_mb=1769,  # one full vCPU: validating 100,000 tasks is CPU-bound
        )
        table.grant_read_write_data(self.function)
        manifests.grant_read_write(self.function)
        state_machine.grant_start_execution(self.function)

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=config.removal_policy
        )
        self.rest_api = apigw.LambdaRestApi(
            self,
            "Api",
            handler=self.function,
            proxy=True,
            description="Submit and follow Tasklane jobs",
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True,
                ),
                throttling_rate_limit=1000,
                throttling_burst_limit=2000,
            ),
        )
