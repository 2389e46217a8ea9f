"""Which API jobctl talks to and as whom: endpoints file and tenants, --api-url, --stack, credentials."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cli_fakes import API_URL, FakeApi, Jobctl, write_endpoints

from cli.targets import CliError, TargetOptions, resolve_target


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def endpoints(tmp_path: Path) -> Path:
    return write_endpoints(tmp_path / "endpoints.json")


@pytest.fixture
def jobctl(api: FakeApi, endpoints: Path) -> Jobctl:
    return Jobctl(api, endpoints)


def sent_auth(api: FakeApi) -> list[str]:
    return [r.headers.get("authorization", "") for r in api.requests]


def test_the_first_tenant_of_the_endpoints_file_is_the_default(jobctl: Jobctl, api: FakeApi) -> None:
    job = api.add_job(tenant="acme")

    result = jobctl("get", job)

    assert result.exit_code == 0, result.output
    assert sent_auth(api) == ["ApiKey tlk_acme"]
    assert str(api.requests[0].url) == f"{API_URL}jobs/{job}"


def test_tenant_picks_another_tenant_which_sees_only_its_jobs(jobctl: Jobctl, api: FakeApi) -> None:
    acme_job = api.add_job(tenant="acme")
    globex_job = api.add_job(tenant="globex")

    listed = jobctl("--tenant", "globex", "-o", "json", "list")
    other = jobctl("--tenant", "globex", "get", acme_job)

    assert [j["job_id"] for j in json.loads(listed.stdout)["items"]] == [globex_job]
    assert other.exit_code == 3
    assert set(sent_auth(api)) == {"ApiKey tlk_globex"}


def test_jobctl_tenant_env_picks_the_tenant(jobctl: Jobctl, api: FakeApi) -> None:
    jobctl("list", env={"JOBCTL_TENANT": "globex"})

    assert sent_auth(api) == ["ApiKey tlk_globex"]


def test_an_unknown_tenant_names_the_known_ones(jobctl: Jobctl, api: FakeApi, endpoints: Path) -> None:
    result = jobctl("--tenant", "initech", "list")

    assert result.exit_code == 3
    assert result.stderr == f"error: no tenant 'initech' in {endpoints} (tenants: acme, globex)\n"
    assert api.requests == []


def test_a_missing_endpoints_file_says_to_start_the_platform(api: FakeApi, tmp_path: Path) -> None:
    result = Jobctl(api, tmp_path / "missing.json")("list")

    assert result.exit_code == 3
    assert "missing.json is missing: start the local platform with `make up`" in result.stderr


def test_the_default_endpoints_file_is_the_repos(api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cli.targets.LOCAL_ENDPOINTS", write_endpoints(tmp_path / "repo.json", {"solo": "tlk_acme"}))

    result = Jobctl(api, tmp_path / "unused")("list", target=False)

    assert result.exit_code == 0, result.output
    assert sent_auth(api) == ["ApiKey tlk_acme"]


def test_an_endpoints_file_without_tenants_sends_no_credentials(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"api_url": API_URL}))

    result = Jobctl(api, path)("list")

    assert result.exit_code == 3
    assert sent_auth(api) == [""]
    assert "missing or invalid credentials" in result.stderr and "HTTP 401 unauthorized" in result.stderr


def test_a_broken_endpoints_file_is_one_line(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")

    result = Jobctl(api, path)("list")

    assert result.exit_code == 3
    assert result.stderr.startswith(f"error: cannot read {path}: ")


def test_api_key_overrides_the_tenants_credentials(jobctl: Jobctl, api: FakeApi) -> None:
    jobctl("--api-key", "tlk_globex", "list")

    assert sent_auth(api) == ["ApiKey tlk_globex"]


def test_api_url_with_api_key(jobctl: Jobctl, api: FakeApi) -> None:
    result = jobctl("--api-url", "https://api.test/v1", "--api-key", "tlk_globex", "list", target=False)

    assert result.exit_code == 0, result.output
    assert sent_auth(api) == ["ApiKey tlk_globex"]
    assert str(api.requests[0].url).startswith("https://api.test/v1/jobs?")


def test_api_url_and_key_from_the_environment(jobctl: Jobctl, api: FakeApi) -> None:
    env = {"TASKLANE_API_URL": API_URL, "TASKLANE_API_KEY": "tlk_acme"}

    result = jobctl("list", env=env, target=False)

    assert result.exit_code == 0, result.output
    assert sent_auth(api) == ["ApiKey tlk_acme"]


def test_a_cognito_token_is_sent_as_bearer(jobctl: Jobctl, api: FakeApi) -> None:
    result = jobctl("--api-url", API_URL, "--token", "id-token-acme", "list", target=False)

    assert result.exit_code == 0, result.output
    assert sent_auth(api) == ["Bearer id-token-acme"]


def test_api_url_without_credentials_is_refused_before_any_request(jobctl: Jobctl, api: FakeApi) -> None:
    result = jobctl("--api-url", API_URL, "list", target=False)

    assert result.exit_code == 3
    assert result.stderr == (
        f"error: no credentials for {API_URL}: pass --api-key (or set TASKLANE_API_KEY) or --token\n"
    )
    assert api.requests == []


def test_a_wrong_api_key_is_the_api_401(jobctl: Jobctl, api: FakeApi) -> None:
    result = jobctl("--api-url", API_URL, "--api-key", "tlk_wrong", "list", target=False)

    assert result.exit_code == 3
    assert result.stderr == (
        "error: missing or invalid credentials: send Authorization: ApiKey <key> (HTTP 401 unauthorized)\n"
    )


def test_api_url_and_stack_together_are_refused() -> None:
    with pytest.raises(CliError, match="pass only one"):
        resolve_target(TargetOptions(api_url=API_URL, stack="tasklane-prod", api_key="k"))


def test_api_key_and_token_together_are_refused() -> None:
    with pytest.raises(CliError, match="pass only one"):
        resolve_target(TargetOptions(api_url=API_URL, api_key="k", token="t"))


@dataclass
class FakeCloudFormation:
    """boto3.Session stand-in whose CloudFormation client is a real client stubbed with botocore's Stubber."""

    answers: list[tuple[str, dict[str, str] | None]] = field(default_factory=list)  # (stack, outputs or missing)
    sessions: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **kwargs: Any) -> FakeCloudFormation:
        self.sessions.append(kwargs)
        return self

    def client(self, service: str) -> Any:
        assert service == "cloudformation"
        client = boto3.session.Session(region_name="us-east-1").client("cloudformation")
        stubber = Stubber(client)
        stack, outputs = self.answers.pop(0)
        if outputs is None:
            stubber.add_client_error("describe_stacks", "ValidationError", f"Stack with id {stack} does not exist",
                                     400, expected_params={"StackName": stack})
        else:
            described = {"StackName": stack, "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                         "StackStatus": "CREATE_COMPLETE",
                         "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}
            stubber.add_response("describe_stacks", {"Stacks": [described]}, expected_params={"StackName": stack})
        stubber.activate()
        return client


@pytest.fixture
def cloudformation(monkeypatch: pytest.MonkeyPatch) -> FakeCloudFormation:
    fake = FakeCloudFormation()
    monkeypatch.setattr(boto3, "Session", fake)
    return fake


def test_stack_reads_the_api_url_from_the_api_stack_outputs(cloudformation: FakeCloudFormation, jobctl: Jobctl,
                                                            api: FakeApi) -> None:
    cloudformation.answers.append(("tasklane-prod-api", {"ApiUrl": API_URL, "RestApiId": "abc"}))

    result = jobctl("--stack", "tasklane-prod", "--profile", "ops", "--region", "eu-west-1", "--api-key",
                    "tlk_globex", "list", target=False)

    assert result.exit_code == 0, result.output
    assert cloudformation.sessions == [{"profile_name": "ops", "region_name": "eu-west-1"}]
    assert str(api.requests[0].url).startswith(API_URL)
    assert sent_auth(api) == ["ApiKey tlk_globex"]


def test_stack_key_from_the_environment(cloudformation: FakeCloudFormation, jobctl: Jobctl, api: FakeApi) -> None:
    cloudformation.answers.append(("tasklane-dev-api", {"ApiUrl": API_URL}))

    result = jobctl("--stack", "tasklane-dev", "list", env={"TASKLANE_API_KEY": "tlk_acme"}, target=False)

    assert result.exit_code == 0, result.output
    assert sent_auth(api) == ["ApiKey tlk_acme"]


def test_stack_without_the_output_or_the_stack_is_one_line(cloudformation: FakeCloudFormation, jobctl: Jobctl,
                                                           api: FakeApi) -> None:
    cloudformation.answers += [("half-api", {"RestApiId": "abc"}), ("nope-api", None)]

    no_output = jobctl("--stack", "half", "--api-key", "k", "list", target=False)
    no_stack = jobctl("--stack", "nope", "--api-key", "k", "list", target=False)

    assert no_output.exit_code == no_stack.exit_code == 3
    assert no_output.stderr == "error: stack half-api has no ApiUrl output: is it deployed completely?\n"
    assert no_stack.stderr == (
        "error: cannot read the outputs of stack nope-api: An error occurred (ValidationError) when calling the "
        "DescribeStacks operation: Stack with id nope-api does not exist\n"
    )
    assert api.requests == []


def test_stack_without_credentials_is_refused_before_asking_aws(cloudformation: FakeCloudFormation,
                                                                  jobctl: Jobctl) -> None:
    result = jobctl("--stack", "tasklane-dev", "list", target=False)

    assert result.exit_code == 3
    assert "no credentials for stack tasklane-dev" in result.stderr
    assert cloudformation.sessions == []


def test_stack_with_an_unknown_profile_is_one_line(jobctl: Jobctl) -> None:
    result = jobctl("--stack", "tasklane-prod", "--profile", "nobody", "--api-key", "k", "list", target=False)

    assert result.exit_code == 3
    assert "The config profile (nobody) could not be found" in result.stderr
