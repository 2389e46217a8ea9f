"""`make deploy`'s preflight (one line per check, exit 1 on any failure) and `make destroy`'s bucket emptying."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from scripts import deploy_checks
from scripts.deploy_checks import BOOTSTRAP_PARAMETER, Check, cli

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # Docker is not what these tests are about.
    monkeypatch.setattr(deploy_checks, "check_docker", lambda: Check("docker", True, "server 27.0"))
    with mock_aws():
        yield


def test_preflight_passes_on_a_bootstrapped_account(aws: None) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(Name=BOOTSTRAP_PARAMETER, Value="29", Type="String")
    result = CliRunner().invoke(cli, ["preflight"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    names = [line.split(":")[0] for line in lines]
    assert names == ["ok   credentials", "ok   region", "ok   docker", "ok   bootstrap"]
    assert "bootstrap version 29" in lines[-1]


def test_preflight_says_how_to_bootstrap(aws: None) -> None:
    result = CliRunner().invoke(cli, ["preflight"])
    assert result.exit_code == 1
    (line,) = [x for x in result.output.splitlines() if x.startswith("FAIL")]
    assert line == f"FAIL bootstrap: not bootstrapped; run `npx cdk bootstrap aws://123456789012/{REGION}` once"


def test_preflight_names_a_missing_docker(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    monkeypatch.setattr(deploy_checks.shutil, "which", lambda _: None)
    check = deploy_checks.check_docker()
    assert not check.ok and check.line().startswith("FAIL docker: not installed")


def test_preflight_without_region_or_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = CliRunner().invoke(cli, ["preflight", "--no-docker"])
    assert result.exit_code == 1
    assert [line.split(":")[0] for line in result.output.splitlines()] == ["FAIL credentials", "FAIL region"]


def test_destroy_empties_the_bucket_of_an_environment_without_retained_data(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="manifests", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="manifests", VersioningConfiguration={"Status": "Enabled"})
    for key in ("a", "b", "a"):
        s3.put_object(Bucket="manifests", Key=key, Body=b"x")
    outputs = {("tasklane-dev-data", "ManifestBucket"): "manifests"}
    monkeypatch.setattr(deploy_checks, "stack_output", lambda _, stack, key: outputs[(stack, key)])
    result = CliRunner().invoke(cli, ["empty-bucket", "dev"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "emptied manifests: 3 object versions deleted"
    assert s3.list_object_versions(Bucket="manifests").get("Versions", []) == []


def test_destroy_keeps_the_bucket_of_an_environment_that_retains_its_data(aws: None) -> None:
    result = CliRunner().invoke(cli, ["empty-bucket", "prod"])
    assert result.exit_code == 0
    assert result.output.strip() == "prod retains its data: its bucket stays, with its objects"


def test_destroy_of_an_environment_never_deployed(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy_checks, "stack_output", lambda *_: None)
    result = CliRunner().invoke(cli, ["empty-bucket", "staging"])
    assert result.output.strip() == "tasklane-staging-data does not exist: nothing to empty"
