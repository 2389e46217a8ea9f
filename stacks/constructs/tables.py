"""The one way the platform makes a DynamoDB table: on demand, with point-in-time recovery, kept or removed
with its environment's data, and protected from deletion in production."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_dynamodb as dynamodb
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
