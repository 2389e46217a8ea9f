"""Where jobs live: the job/task table, the API keys' table, the idempotency table and the manifest bucket."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.tables import on_demand_table

KEYS_BY_TENANT = "by-tenant"  # tasklane.aws.api_keys.BY_TENANT
UPLOAD_RETENTION_DAYS = 2


class JobStore(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        self.table = on_demand_table(
            self, "Jobs", config, partition_key="pk", sort_key="sk",
            # Streams feed live status to dashboards.
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        )
        # A tenant's jobs, newest first, without scanning the table.
        self.table.add_global_secondary_index(
            index_name="by-tenant",
            partition_key=dynamodb.Attribute(name="gsi1pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="gsi1sk", type=dynamodb.AttributeType.STRING),
        )
        # API keys, under their digest, apart from jobs: only the authorizers and the key administration
        # route are granted this table, never a role that runs task code (see tasklane/aws/api_keys.py).
        self.keys = on_demand_table(self, "ApiKeys", config, partition_key="digest")
        self.keys.add_global_secondary_index(
            index_name=KEYS_BY_TENANT,
            partition_key=dynamodb.Attribute(name="tenant", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="key_id", type=dynamodb.AttributeType.STRING),
        )
        # Replays of POSTs with the same Idempotency-Key; Powertools' idempotency layout, expired by TTL.
        self.idempotency = on_demand_table(
            self, "Idempotency", config, partition_key="id", time_to_live_attribute="expiration"
        )
        self.manifests = s3.Bucket(
            self,
            "Manifests",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            removal_policy=config.removal_policy,
            auto_delete_objects=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=f"expire-{prefix.rstrip('/')}", prefix=prefix, expiration=Duration.days(days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
                for prefix, days in (
                    ("manifests/", config.data_retention_days),
                    ("payloads/", config.data_retention_days),
                    # An upload is read once, at submission; it stays only as long as a replay of that
                    # submission with the same Idempotency-Key (25 hours) may read it again.
                    ("uploads/", UPLOAD_RETENTION_DAYS),
                )
            ],
        )
