"""cdk-nag findings, cfn-lint over the synthesized templates, and `cdk synth` itself, offline and without Docker."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aws_cdk.assertions import Annotations, Match
from cfnlint.api import ManualArgs, lint_file

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

ROOT = Path(__file__).resolve().parents[2]
NAG = Match.string_like_regexp("AwsSolutions-.*")
# The stacks these tests know by role; every stack the app builds is checked whatever its role.
ROLES = ("account", "data", "orchestration", "api", "workers")

# cfn-lint rules ignored, each for a known CDK/cfn-lint mismatch. Only errors fail the test; none is ignored yet.
CFN_LINT_IGNORED: list[str] = []
CFN_LINT_REGIONS = ["us-east-1", "eu-west-1"]


def test_the_app_builds_the_known_stacks(cdk_app: CdkApp) -> None:
    assert set(ROLES) <= set(cdk_app.stacks)


def test_no_unsuppressed_nag_errors(every_env_app: CdkApp) -> None:
    stacks = every_env_app.stacks.values()
    errors = [e for stack in stacks for e in Annotations.from_stack(stack).find_error("*", NAG)]
    assert errors == [], "\n".join(f"{e.id}: {e.entry.data}" for e in errors)


def test_no_unsuppressed_nag_warnings(every_env_app: CdkApp) -> None:
    stacks = every_env_app.stacks.values()
    warnings = [w for stack in stacks for w in Annotations.from_stack(stack).find_warning("*", NAG)]
    assert warnings == [], "\n".join(f"{w.id}: {w.entry.data}" for w in warnings)


def test_nag_checked_every_stack(cdk_app: CdkApp) -> None:
    """The reports prove the AwsSolutions pack ran (an empty finding list means nothing otherwise)."""
    reports = {p.name: p for p in cdk_app.outdir.glob("AwsSolutions-*-NagReport.csv")}
    for stack in cdk_app.stacks.values():
        suffix = f"-{stack.stack_name}-NagReport.csv"
        assert any(name.endswith(suffix) for name in reports), f"cdk-nag did not check {stack.stack_name}"
    for name, path in reports.items():
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        # The edge stack holds only a web ACL and an SSM parameter, which no rule of the pack checks.
        assert rows or name.endswith("-edge-NagReport.csv"), name
        unresolved = [r for r in rows if r["Compliance"] not in {"Compliant", "Suppressed", "Not Applicable"}]
        assert unresolved == [], f"{name}: {unresolved}"


def test_suppressions_say_why(cdk_app: CdkApp) -> None:
    from stacks.nag import COMMON_SUPPRESSIONS, PUBLIC_METHOD_SUPPRESSIONS, STACK_SUPPRESSIONS

    by_stack = [s for group in STACK_SUPPRESSIONS.values() for s in group]
    for suppression in COMMON_SUPPRESSIONS + PUBLIC_METHOD_SUPPRESSIONS + by_stack:
        assert suppression.id.startswith("AwsSolutions-")
        assert len(suppression.reason) >= 40, suppression.id
        assert "not yet" not in suppression.reason.lower(), suppression.id  # a reason that has gone stale


def _report_rows(cdk_app: CdkApp, role: str) -> list[dict[str, str]]:
    """The nag report rows of a stack and of its nested stacks."""
    stack_name = cdk_app.stacks[role].stack_name
    rows = []
    for path in cdk_app.outdir.glob("AwsSolutions-*-NagReport.csv"):
        if path.name.endswith(f"-{stack_name}-NagReport.csv") or path.name.split("-", 2)[-1].startswith(
            stack_name.replace("-", "")
        ):
            with path.open(newline="") as f:
                rows.extend(csv.DictReader(f))
    assert rows, role
    return rows


def test_every_suppression_still_suppresses_a_finding(cdk_app: CdkApp) -> None:
    """A suppression whose finding is gone (a fixed rule, a removed resource) must go too."""
    from stacks.nag import STACK_SUPPRESSIONS

    # The GitHub deploy stack is built only with -c github_repository (test_github_deploy_stack.py checks it).
    assert set(STACK_SUPPRESSIONS) == set(cdk_app.stacks) | {"github"}, "a suppression list for each stack"
    stale = {}
    for role, suppressions in STACK_SUPPRESSIONS.items():
        if role not in cdk_app.stacks or not suppressions:
            continue
        suppressed = {r["Rule ID"] for r in _report_rows(cdk_app, role) if r["Compliance"] == "Suppressed"}
        if unused := {s.id for s in suppressions} - suppressed:
            stale[role] = sorted(unused)
    assert stale == {}


def test_common_suppressions_are_each_used_somewhere(cdk_app: CdkApp) -> None:
    from stacks.nag import COMMON_SUPPRESSIONS

    suppressed = {
        r["Rule ID"] for role in cdk_app.stacks if role != "edge"
        for r in _report_rows(cdk_app, role) if r["Compliance"] == "Suppressed"
    }
    assert {s.id for s in COMMON_SUPPRESSIONS} <= suppressed


def test_missing_authorization_is_accepted_on_the_public_routes_only(cdk_app: CdkApp) -> None:
    """APIG4 is suppressed per method, on GET /health, /openapi.json and /docs; the rest pass it."""
    rows = [r for r in _report_rows(cdk_app, "api") if r["Rule ID"] == "AwsSolutions-APIG4"]
    by_method = {r["Resource ID"].split("/Default", 1)[1].removesuffix("/Resource"): r["Compliance"] for r in rows}
    assert by_method == {
        "/ANY": "Compliant",
        "/{proxy+}/ANY": "Compliant",
        "/health/GET": "Suppressed",
        "/openapi.json/GET": "Suppressed",
        "/docs/GET": "Suppressed",
    }


def test_an_unauthorized_private_route_would_fail_nag(tmp_path: Path) -> None:
    """The API stack's suppressions do not hide a route that lost its authorizer."""
    from aws_cdk import App, Aspects, Stack
    from aws_cdk import aws_apigateway as apigw
    from cdk_nag import AwsSolutionsChecks

    from stacks.nag import apply_nag

    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Probe")
    api = apigw.RestApi(stack, "Api", deploy=False)
    api.root.add_resource("health").add_method("GET", apigw.MockIntegration())
    api.root.add_resource("jobs").add_method("GET", apigw.MockIntegration())
    apply_nag(stack, "api")
    Aspects.of(app).add(AwsSolutionsChecks())
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-APIG4.*"))
    assert [e.id for e in errors] == ["/Probe/Api/Default/jobs/GET/Resource"]


# Actions granted on "*": those AWS only grants so (Step Functions' log delivery to CloudWatch Logs, X-Ray
# tracing, the ListStreams call of a DynamoDB stream event source), and the CloudFront invalidation that
# aws-cdk-lib's BucketDeployment grants so itself.
WILDCARD_ONLY_ACTIONS = {
    "logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:UpdateLogDelivery",
    "xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments",
    "dynamodb:ListStreams",
    "cloudfront:CreateInvalidation", "cloudfront:GetInvalidation",
}


def test_no_wildcard_resource_beyond_what_aws_requires(cdk_app: CdkApp) -> None:
    """AwsSolutions-IAM5 is suppressed stack-wide for CDK's grant wildcards; this keeps "Resource": "*" out.
    The workers stack is left out: its wildcards are aws-cdk-lib's EKS module's, suppressed by applies_to."""
    for role in set(cdk_app.stacks) - {"workers"}:
        for logical_id, policy in cdk_app.resources(role, "AWS::IAM::Policy").items():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if "*" in cdk_app.as_list(statement["Resource"]):
                    assert cdk_app.actions(statement) <= WILDCARD_ONLY_ACTIONS, (role, logical_id, statement)


def test_cfn_lint_finds_no_errors(every_env_app: CdkApp) -> None:
    """On the templates of dev, staging and prod."""
    templates = sorted(every_env_app.outdir.glob("*.template.json"))
    expected = {f"{s.artifact_id}.template.json" for s in every_env_app.stacks.values()}
    assert {t.name for t in templates} >= expected
    config = ManualArgs(regions=CFN_LINT_REGIONS, ignore_checks=CFN_LINT_IGNORED)
    errors = [m for t in templates for m in lint_file(t, config) if m.rule.id.startswith("E")]
    assert errors == [], "\n".join(f"{m.rule.id} {m.filename}:{m.linenumber} {m.message}" for m in errors)


def test_cfn_lint_can_fail(tmp_path: Path) -> None:
    """The linter really runs: a broken template is reported."""
    broken = tmp_path / "broken.template.json"
    broken.write_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "x"}}}}')
    assert [m for m in lint_file(broken, ManualArgs(regions=CFN_LINT_REGIONS)) if m.rule.id.startswith("E")]


def test_cdk_synth_works_offline_without_docker(cdk_app: CdkApp, tmp_path: Path) -> None:
    """The CDK CLI synthesizes every stack with no network, no AWS credentials and no Docker."""
    bin_dir = ROOT / "node_modules" / ".bin"
    if not (bin_dir / "cdk").exists():
        pytest.skip("the CDK CLI is not installed (npm ci)")
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION",
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    # No Docker: a bundling step would fail instead of silently using one.
    env["CDK_DOCKER"] = str(tmp_path / "no-docker")
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    # No credentials and no endpoint: nothing to look up in an account.
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    out = tmp_path / "cdk.out"
    result = subprocess.run(
        ["cdk", "synth", "--quiet", "--no-notices", "--output", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    for stack in cdk_app.stacks.values():
        assert (out / f"{stack.artifact_id}.template.json").is_file(), stack.stack_name
