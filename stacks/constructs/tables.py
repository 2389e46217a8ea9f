"""The one way the platform makes a DynamoDB table (on demand, with point-in-time recovery, kept or removed
with its environment's data, and protected from deletion in production), and the one way a role is granted the
job table's items."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import EnvironmentConfig


def _string_key(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def on_demand_table(
    scope: Construct,
    construct_id: str,
    config: EnvironmentConfig,
    *,
    partition_key: str,
    sort_key: str | None = None,
    **options: Any,
) -> dynamodb.Table:
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=_string_key(partition_key),
        sort_key=_string_key(sort_key) if sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=config.removal_policy,
        deletion_protection=config.production,
        **options,
    )


# What each role may do with the job table, by DynamoDB action. Nothing of the platform scans the table or
# deletes an item from it, so no role gets Scan or DeleteItem. A transaction is authorized action by action
# (Put, Update, ConditionCheck), so TransactWriteItems needs no action of its own.
JOB_READS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
JOB_WRITES = (*JOB_READS, "dynamodb:PutItem", "dynamodb:UpdateItem")
# BatchWriteItem also carries deletes and IAM cannot tell them apart: only the dispatcher, which writes a
# job's tasks in batches, gets it.
JOB_BATCH_WRITES = (*JOB_WRITES, "dynamodb:BatchWriteItem")
# The partition keys of the job table: a job and its tasks and counters (JOB#<id>, possibly spread over
# several keys that all start so) and a tenant's dead letters (DEAD#<tenant>). Patterns, never exact keys.
JOB_ITEM_PREFIXES = ("JOB#*", "DEAD#*")
BY_TENANT_INDEX = "by-tenant"


def grant_job_items(
    grantee: iam.IGrantable, table: dynamodb.ITable, actions: tuple[str, ...], *, by_tenant: bool = False
) -> None:
    """`actions` on the job table's items under JOB_ITEM_PREFIXES only (dynamodb:LeadingKeys), and, with
    `by_tenant`, Query on the index that lists a tenant's jobs."""
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(actions),
        resource_arns=[table.table_arn],
        conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(JOB_ITEM_PREFIXES)}},
    )
    if by_tenant:
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["dynamodb:Query"], resource_arns=[f"{table.table_arn}/index/{BY_TENANT_INDEX}"]
        )
