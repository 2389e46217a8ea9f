"""Move a deployment's API keys out of the job table into the keys table, and enroll their tenants.

Keys used to be items (APIKEY#<digest>, APIKEY) of the job table. The authorizers now read only the keys
table, and every tenant needs its usage key in a usage plan. Run this with AWS credentials of the account:

    1. cdk deploy tasklane-<env>-data          (creates the keys table)
    2. python -m scripts.migrate_api_keys --stack tasklane-<env>      (copies the keys)
    3. cdk deploy --all                         (the authorizers switch to the keys table; the plans appear)
    4. python -m scripts.migrate_api_keys --stack tasklane-<env>      (enrolls every tenant)

It is idempotent: a key already copied is left as it is, a tenant already enrolled stays enrolled. Once every
caller works, `--delete` removes the old items from the job table.
"""

from __future__ import annotations

from typing import Annotated, Any

import boto3
import typer
from botocore.exceptions import ClientError

from tasklane.auth import ApiKeyRecord, usage_plan_name
from tasklane.aws.api_keys import DynamoApiKeyStore
from tasklane.aws.usage_plans import ApiGatewayUsagePlans

OLD_PREFIX = "APIKEY#"
cli = typer.Typer(add_completion=False, help=__doc__)


def old_keys(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """The job table's key items: one scan, by an operator, once."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {
        "TableName": table, "FilterExpression": "begins_with(pk, :key)",
        "ExpressionAttributeValues": {":key": {"S": OLD_PREFIX}},
    }
    while True:
        page = dynamodb.scan(**query)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def copy_keys(items: list[dict[str, Any]], keys: DynamoApiKeyStore) -> int:
    copied = 0
    for item in items:
        record = ApiKeyRecord(
            key_id=item["key_id"]["S"], tenant=item["tenant"]["S"], name=item["name"]["S"],
            created_at=item["created_at"]["S"], revoked=item.get("revoked", {}).get("BOOL", False),
        )
        try:
            keys.put_key(item["pk"]["S"].removeprefix(OLD_PREFIX), record)
            copied += 1
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise  # anything but "already copied"
    return copied


def migrate(dynamodb: Any, apigateway: Any, jobs_table: str, keys_table: str, prefix: str,
            delete: bool = False) -> str:
    items = old_keys(dynamodb, jobs_table)
    copied = copy_keys(items, DynamoApiKeyStore(keys_table, dynamodb))
    report = f"{len(items)} keys in the job table, {copied} copied now"
    plans = {p["name"] for p in apigateway.get_usage_plans(limit=500).get("items", [])}
    if usage_plan_name(prefix) not in plans:
        return report + "; no usage plans yet: deploy the API stack, then run this again to enroll the tenants"
    usage = ApiGatewayUsagePlans(prefix, apigateway)
    tenants = sorted({item["tenant"]["S"] for item in items})
    for tenant in tenants:
        usage.enroll(tenant)
    report += f", {len(tenants)} tenants enrolled"
    if delete:
        for item in items:
            dynamodb.delete_item(TableName=jobs_table, Key={"pk": item["pk"], "sk": item["sk"]})
        report += f", {len(items)} old items deleted"
    return report


@cli.command()
def main(
    stack: Annotated[str, typer.Option(help="The deployment's stack prefix, e.g. tasklane-prod")],
    delete: Annotated[bool, typer.Option(help="Also delete the old key items from the job table")] = False,
    profile: Annotated[str | None, typer.Option(help="AWS profile")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region")] = None,
) -> None:
    session = boto3.Session(profile_name=profile, region_name=region)
    stacks = session.client("cloudformation").describe_stacks(StackName=f"{stack}-data")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs") or []}
    typer.echo(migrate(session.client("dynamodb"), session.client("apigateway"), outputs["TableName"],
                       outputs["KeysTableName"], stack, delete))


if __name__ == "__main__":
    cli()
