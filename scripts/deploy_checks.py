"""What `make deploy` and `make destroy` check and do around the CDK CLI, one clear line per check.

`preflight`: AWS credentials, Docker (cdk deploy builds the worker image), and a bootstrapped account and
region. `empty-bucket ENV`: empties the manifest bucket of an environment that does not retain its data, so
that `cdk destroy` can delete it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError

from stacks.config import EnvironmentConfig
from stacks.constructs.github_deploy_role import BOOTSTRAP_QUALIFIER

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP_PARAMETER = f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version"

cli = typer.Typer(add_completion=False, help=__doc__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def check_credentials(session: boto3.Session) -> tuple[Check, str | None]:
    try:
        identity = session.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        return Check("credentials", False, f"none usable ({error}); set AWS_PROFILE or run `aws sso login`"), None
    account = str(identity["Account"])
    return Check("credentials", True, f"account {account} as {identity['Arn']}"), account


def check_region(session: boto3.Session) -> Check:
    if session.region_name:
        return Check("region", True, session.region_name)
    return Check("region", False, "not set; set AWS_REGION (or the profile's region)")


def check_docker() -> Check:
    docker = shutil.which("docker")
    if docker is None:
        return Check("docker", False, "not installed; cdk deploy builds the worker image with it")
    result = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                            timeout=60, check=False)
    if result.returncode != 0:
        return Check("docker", False, "installed but its daemon does not answer; start Docker")
    return Check("docker", True, f"server {result.stdout.strip()}")


def check_bootstrap(session: boto3.Session, account: str | None) -> Check:
    target = f"aws://{account or 'ACCOUNT'}/{session.region_name or 'REGION'}"
    try:
        version = session.client("ssm").get_parameter(Name=BOOTSTRAP_PARAMETER)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return Check("bootstrap", False, f"not bootstrapped; run `npx cdk bootstrap {target}` once")
        return Check("bootstrap", False, f"cannot read {BOOTSTRAP_PARAMETER}: {error}")
    except BotoCoreError as error:
        return Check("bootstrap", False, f"cannot read {BOOTSTRAP_PARAMETER}: {error}")
    return Check("bootstrap", True, f"{target} has bootstrap version {version}")


@cli.command()
def preflight(docker: bool = typer.Option(True, help="check Docker too (deploys build the worker image)")) -> None:
    """Credentials, region, Docker and bootstrap: one line each; exits 1 if any fails."""
    session = boto3.Session()
    credentials, account = check_credentials(session)
    region = check_region(session)
    checks = [credentials, region]
    if docker:
        checks.append(check_docker())
    if credentials.ok and region.ok:
        checks.append(check_bootstrap(session, account))
    for check in checks:
        typer.echo(check.line())
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


def environment(name: str) -> EnvironmentConfig:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return EnvironmentConfig(name=name, **context["environments"][name])


def stack_output(session: boto3.Session, stack: str, key: str) -> str | None:
    """An output of a deployed stack; None if the stack does not exist."""
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError:
        return None
    (value,) = [o["OutputValue"] for o in described.get("Outputs", []) if o["OutputKey"] == key]
    return str(value)


@cli.command("empty-bucket")
def empty_bucket(env: str) -> None:
    """Empty ENV's manifest bucket before `cdk destroy`, unless the environment retains its data."""
    config = environment(env)
    if config.retain_data:
        typer.echo(f"{env} retains its data: its bucket stays, with its objects")
        return
    session = boto3.Session()
    stack = f"{config.resource_prefix()}-data"
    bucket_name = stack_output(session, stack, "ManifestBucket")
    if bucket_name is None:
        typer.echo(f"{stack} does not exist: nothing to empty")
        return
    bucket = session.resource("s3").Bucket(bucket_name)
    deleted = sum(len(batch.get("Deleted", [])) for batch in bucket.object_versions.delete())
    typer.echo(f"emptied {bucket_name}: {deleted} object versions deleted")


if __name__ == "__main__":
    cli()
