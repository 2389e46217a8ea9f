"""Rules every environment's assembly keeps so that it deploys into an empty account, and again after removal:

1. Every stack that turns on API Gateway logging depends on the stack that sets the account's CloudWatch role
   (API Gateway refuses the logging until the role is set), and that stack outlives every environment.
2. No retained resource has a fixed physical name (a re-created stack would collide with the one left behind).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacks.account_stack import ACCOUNT_STACK_NAME

if TYPE_CHECKING:
    from aws_cdk.cx_api import CloudAssembly, CloudFormationStackArtifact

    from tests.infra.conftest import CdkApp

RETAINED = {"Retain", "RetainExceptOnUpdate", "Snapshot"}
STAGES = {"AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage"}


def logs_through_api_gateway(template: dict[str, Any]) -> list[str]:
    """The stages of a template that need the account's CloudWatch role: access logs or execution logs."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] not in STAGES:
            continue
        props = resource.get("Properties", {})
        settings = [*props.get("MethodSettings", []), props.get("DefaultRouteSettings", {})]
        if "AccessLogSetting" in props or "AccessLogSettings" in props or any(
            s.get("LoggingLevel") not in (None, "OFF") or s.get("DataTraceEnabled") for s in settings
        ):
            found.append(logical_id)
    return found


def account_role_stacks(assembly: CloudAssembly) -> list[str]:
    return [
        s.stack_name for s in assembly.stacks
        if any(r["Type"] == "AWS::ApiGateway::Account" for r in s.template.get("Resources", {}).values())
    ]


def depends_on(stack: CloudFormationStackArtifact, name: str) -> bool:
    """Whether `stack` is deployed after the stack `name`, directly or through other stacks."""
    seen, todo = set(), list(stack.dependencies)
    while todo:
        artifact = todo.pop()
        if artifact.id in seen:
            continue
        seen.add(artifact.id)
        if getattr(artifact, "stack_name", None) == name:
            return True
        todo.extend(artifact.dependencies)
    return False


def logging_without_the_role(assembly: CloudAssembly) -> list[str]:
    """Stacks with logging stages that may deploy before the account's role is set."""
    (role_stack,) = account_role_stacks(assembly)
    return [
        s.stack_name for s in assembly.stacks
        if logs_through_api_gateway(s.template) and not depends_on(s, role_stack)
    ]


def retained_with_fixed_names(template: dict[str, Any]) -> list[str]:
    """Retained resources that set their physical name (any `...Name` property): the name blocks re-creation."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        policies = {resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")}
        if policies & RETAINED:
            found.extend(
                f"{logical_id}.{key}" for key in resource.get("Properties", {}) if key.endswith("Name")
            )
    return found


# --- the rules, on every environment of cdk.json ------------------------------------------------------------


def test_every_logging_stage_is_deployed_after_the_account_role(every_env_app: CdkApp) -> None:
    assembly = every_env_app.assembly
    assert account_role_stacks(assembly) == [ACCOUNT_STACK_NAME]
    logging = [s.stack_name for s in assembly.stacks if logs_through_api_gateway(s.template)]
    prefix = every_env_app.config.resource_prefix()
    assert set(logging) == {f"{prefix}-api", f"{prefix}-live"}, "the REST and WebSocket stages log"
    assert logging_without_the_role(assembly) == []


def test_the_account_role_outlives_any_environment(every_env_app: CdkApp, cdk_app: CdkApp) -> None:
    """The role's stack is the same for every environment, named after none, and keeps role and setting
    if it is ever deleted; `make destroy` removes only tasklane-<env>-* stacks."""
    account = every_env_app.assembly.get_stack_by_name(ACCOUNT_STACK_NAME)
    assert every_env_app.config.name not in ACCOUNT_STACK_NAME
    assert account.template == cdk_app.assembly.get_stack_by_name(ACCOUNT_STACK_NAME).template
    resources = account.template["Resources"].values()
    assert {r["Type"] for r in resources} == {"AWS::IAM::Role", "AWS::ApiGateway::Account"}
    assert {r["DeletionPolicy"] for r in resources} == {"Retain"}
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    (destroy,) = [line for line in makefile.splitlines() if line.startswith("\tnpx cdk destroy")]
    assert "'$(PREFIX)-*'" in destroy and "--all" not in destroy
    assert "PREFIX := tasklane-$(ENV)" in makefile


def test_no_other_stack_sets_the_account_role(every_env_app: CdkApp) -> None:
    for stack in every_env_app.assembly.stacks:
        if stack.stack_name != ACCOUNT_STACK_NAME:
            types = {r["Type"] for r in stack.template.get("Resources", {}).values()}
            assert "AWS::ApiGateway::Account" not in types, stack.stack_name


def test_no_retained_resource_has_a_fixed_name(every_env_app: CdkApp) -> None:
    found = {s.stack_name: retained_with_fixed_names(s.template) for s in every_env_app.assembly.stacks}
    assert {name: names for name, names in found.items() if names} == {}


def test_prod_does_retain_its_data(prod_app: CdkApp) -> None:
    """The rule above is not met by retaining nothing: prod keeps its tables, bucket and user pool."""
    types = {r["Type"] for r in prod_app.json("data")["Resources"].values() if r.get("DeletionPolicy") == "Retain"}
    assert types >= {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Cognito::UserPool"}


# --- the checks themselves can fail ---------------------------------------------------------------------------


def test_the_checks_catch_a_stage_without_the_dependency_and_a_retained_name(tmp_path: Path) -> None:
    from aws_cdk import App, RemovalPolicy, Stack
    from aws_cdk import aws_apigatewayv2 as apigwv2
    from aws_cdk import aws_logs as logs

    from stacks.account_stack import AccountStack

    app = App(outdir=str(tmp_path))
    AccountStack(app)
    stack = Stack(app, "Probe")
    api = apigwv2.WebSocketApi(stack, "Api")
    stage = apigwv2.WebSocketStage(stack, "Stage", web_socket_api=api, stage_name="s")
    group = logs.LogGroup(stack, "Logs", log_group_name="/fixed", removal_policy=RemovalPolicy.RETAIN)
    cfn_stage = stage.node.default_child
    assert isinstance(cfn_stage, apigwv2.CfnStage)
    cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
        destination_arn=group.log_group_arn, format="$context.requestId"
    )
    assembly = app.synth()
    assert logging_without_the_role(assembly) == ["Probe"]
    assert retained_with_fixed_names(assembly.get_stack_by_name("Probe").template) == [
        f"{stack.get_logical_id(group.node.default_child)}.LogGroupName"  # type: ignore[arg-type]
    ]

