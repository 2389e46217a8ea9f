"""The GitHub Actions deploy role (`make github-role`): OIDC trust for one repository's environments only,
and no permission beyond assuming the CDK bootstrap roles."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import CDK_CONTEXT, CdkApp, build

REPOSITORY = "example-org/tasklane"


@pytest.fixture(scope="module")
def github_app(tmp_path_factory: pytest.TempPathFactory) -> CdkApp:
    return build(tmp_path_factory.mktemp("cdk-github"), {**CDK_CONTEXT, "github_repository": REPOSITORY})


def _role(app: CdkApp) -> dict[str, Any]:
    (role,) = app.resources("github", "AWS::IAM::Role").values()
    return role["Properties"]  # type: ignore[no-any-return]


def test_only_the_repositorys_environment_jobs_may_assume_it(github_app: CdkApp) -> None:
    ((_, provider),) = github_app.resources("github", "AWS::IAM::OIDCProvider").items()
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]
    (statement,) = _role(github_app)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
        "StringLike": {
            "token.actions.githubusercontent.com:sub": [
                f"repo:{REPOSITORY}:environment:{env}" for env in sorted(CDK_CONTEXT["environments"])
            ]
        },
    }


def test_it_may_only_use_the_bootstrap_roles(github_app: CdkApp) -> None:
    (policy,) = github_app.resources("github", "AWS::IAM::Policy").values()
    allowed = {
        github_app.render(r): set(github_app.as_list(s["Action"]))
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        for r in github_app.as_list(s["Resource"])
    }
    assert allowed == {
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-*": {"sts:AssumeRole", "sts:TagSession"},
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/cdk-bootstrap/hnb659fds/version": {
            "ssm:GetParameter"
        },
    }


def test_nag_passes_with_its_one_suppression_used(github_app: CdkApp) -> None:
    stack = github_app.stacks["github"]
    nag = Match.string_like_regexp("AwsSolutions-.*")
    assert Annotations.from_stack(stack).find_error("*", nag) == []
    assert Annotations.from_stack(stack).find_warning("*", nag) == []
    (report,) = Path(github_app.outdir).glob(f"AwsSolutions-*-{stack.stack_name}-NagReport.csv")
    with report.open(newline="") as f:
        suppressed = {r["Rule ID"] for r in csv.DictReader(f) if r["Compliance"] == "Suppressed"}
    assert suppressed == {"AwsSolutions-IAM5"}


def test_an_existing_provider_is_reused(tmp_path: Path) -> None:
    arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    app = build(tmp_path, {**CDK_CONTEXT, "github_repository": REPOSITORY, "github_oidc_provider_arn": arn})
    assert app.resources("github", "AWS::IAM::OIDCProvider") == {}
    (statement,) = _role(app)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": arn}


def test_a_malformed_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        build(tmp_path, {**CDK_CONTEXT, "github_repository": "tasklane"})
