"""Issue an operator's admin key with AWS credentials: the first one of a deployment, or one to recover with.

Admin keys call the key administration routes (jobctl admin keys ...). Issuing one needs write access to the
deployment's API keys table, so whoever holds AWS credentials for it is the root of trust. The secret is printed
once; only its digest is stored.

    python -m scripts.issue_admin_key --stack tasklane-prod [--name alice] [--profile P] [--region R]
"""

from __future__ import annotations

from typing import Annotated

import boto3
import typer

from tasklane.auth import issue_api_key
from tasklane.aws.api_keys import DynamoApiKeyStore

OPERATOR_TENANT = "ops"

cli = typer.Typer(add_completion=False, help=__doc__)


def keys_table(session: boto3.Session, prefix: str) -> str:
    stack = f"{prefix}-data"
    outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs") or []
    found = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    if "KeysTableName" not in found:
        raise typer.BadParameter(f"stack {stack} has no KeysTableName output: is it deployed?")
    return str(found["KeysTableName"])


@cli.command()
def main(
    stack: Annotated[str, typer.Option(help="The deployment's stack prefix, e.g. tasklane-prod")],
    name: Annotated[str, typer.Option(help="Whose key this is")] = "operator",
    profile: Annotated[str | None, typer.Option(help="AWS profile")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region")] = None,
) -> None:
    session = boto3.Session(profile_name=profile, region_name=region)
    store = DynamoApiKeyStore(keys_table(session, stack), session.client("dynamodb"))
    record, secret = issue_api_key(OPERATOR_TENANT, name, store, admin=True)
    typer.echo(f"admin key {record.key_id} ({name}); the secret, shown once:\n{secret}")


if __name__ == "__main__":
    cli()
