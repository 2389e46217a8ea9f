"""Infrastructure-test fixtures: the whole CDK app, built and synthesized once per session.

Synthesis is slow (jsii, cdk-nag, asset staging), so tests share session fixtures: `cdk_app` (env=dev, what
`cdk synth` builds by default) and, for per-environment settings only, `prod_app`. Each app gets cdk.json's
context, as `cdk synth` would, and no CDK_DEFAULT_ACCOUNT/REGION, so the stacks are environment-agnostic
and their templates the same on every machine.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk.assertions import Template
    from aws_cdk.cx_api import CloudAssembly

    from stacks.api_stack import ApiStack
    from stacks.config import EnvironmentConfig
    from stacks.data_stack import DataStack
    from stacks.orchestration_stack import OrchestrationStack
    from stacks.workers_stack import WorkersStack

# jsii prints a banner when its Node process starts on a Node version it calls deprecated or end-of-life;
# this runs before any test module imports aws_cdk. The end-of-life switch is a list of Node majors.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = ",".join(
    v for v in (os.environ.get("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"), "18,20") if v
)

ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]


def render(value: Any) -> str:
    """A CloudFormation string value as text, each token replaced by a ${...} placeholder.

    `Fn::Join` is joined; `Ref` becomes ${Name}, `Fn::GetAtt` ${Resource.Attribute}, `Fn::ImportValue`
    ${Import:Name}; any other intrinsic becomes ${Fn::Name}.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(render(p) for p in parts)
        if fn == "Ref":
            return f"${{{arg}}}"
        if fn == "Fn::GetAtt":
            return f"${{{'.'.join(arg) if isinstance(arg, list) else arg}}}"
        if fn == "Fn::ImportValue":
            return f"${{Import:{render(arg)}}}"
        return f"${{{fn}}}"
    raise TypeError(f"not a CloudFormation string value: {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement["Action"]))


DYNAMODB_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
SQS_CONSUME = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}
SQS_METADATA = {"sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
STATES_RESUME = {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}


def access_level(allowed: set[str]) -> str:
    """The actions allowed on one resource as a label: "read", "read-write" (DynamoDB); "consume", "send",
    "consume+send" (SQS); "read", "put", "read+put+delete" (S3); "start", "resume", "start+resume" (Step
    Functions). Anything else is labelled "unexpected: ..." so that comparing labels fails."""
    unexpected = "unexpected: " + ", ".join(sorted(allowed))
    services = {a.split(":")[0] for a in allowed}
    if len(services) != 1:
        return unexpected
    (service,) = services
    if service == "dynamodb":
        if not {"dynamodb:GetItem", "dynamodb:Query"} <= allowed:
            return unexpected
        if not allowed & DYNAMODB_WRITES:
            return "read"
        return "read-write" if allowed >= DYNAMODB_WRITES else unexpected
    if service == "sqs":
        if not allowed <= SQS_CONSUME | SQS_METADATA | {"sqs:SendMessage"} or (
            allowed & SQS_CONSUME and not allowed >= SQS_CONSUME
        ):
            return unexpected
        return "+".join(name for name, present in (
            ("consume", allowed & SQS_CONSUME), ("send", "sqs:SendMessage" in allowed)) if present) or unexpected
    if service == "s3":
        groups = {
            "read": {a for a in allowed if a.startswith(("s3:Get", "s3:List"))},
            "put": {a for a in allowed if a.startswith(("s3:Put", "s3:Abort"))},
            "delete": {a for a in allowed if a.startswith("s3:Delete")},
        }
        if set().union(*groups.values()) != allowed:
            return unexpected
        return "+".join(name for name, found in groups.items() if found)
    if service == "states":
        if not allowed <= STATES_RESUME | {"states:StartExecution"} or (
            allowed & STATES_RESUME and allowed & STATES_RESUME != STATES_RESUME
        ):
            return unexpected
        return "+".join(name for name, present in (
            ("start", "states:StartExecution" in allowed), ("resume", allowed & STATES_RESUME)) if present)
    return unexpected


@dataclass
class CdkApp:
    """The built app: its stacks by role, its config, and the synthesized templates."""

    app: App
    stacks: dict[str, Stack]
    config: EnvironmentConfig
    assembly: CloudAssembly
    outdir: Path
    _templates: dict[str, Template] = field(default_factory=dict)
    _json: dict[str, dict[str, Any]] = field(default_factory=dict)

    render = staticmethod(render)
    as_list = staticmethod(as_list)
    actions = staticmethod(actions)
    access_level = staticmethod(access_level)

    @property
    def data(self) -> DataStack:
        return self.stacks["data"]  # type: ignore[return-value]

    @property
    def orchestration(self) -> OrchestrationStack:
        return self.stacks["orchestration"]  # type: ignore[return-value]

    @property
    def api(self) -> ApiStack:
        return self.stacks["api"]  # type: ignore[return-value]

    @property
    def workers(self) -> WorkersStack:
        return self.stacks["workers"]  # type: ignore[return-value]

    def template(self, role: str) -> Template:
        from aws_cdk.assertions import Template

        if role not in self._templates:
            self._templates[role] = Template.from_stack(self.stacks[role])
        return self._templates[role]

    def json(self, role: str) -> dict[str, Any]:
        if role not in self._json:
            self._json[role] = self.template(role).to_json()
        return self._json[role]

    def resources(self, role: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.json(role)["Resources"].items() if v["Type"] == type_}

    def logical_id(self, role: str, construct: Any) -> str:
        """The logical id of a construct (or of an L2's default child) in the stack of `role`."""
        cfn = construct.node.default_child if construct.node.default_child is not None else construct
        return self.stacks[role].resolve(self.stacks[role].get_logical_id(cfn))  # type: ignore[no-any-return]

    def resource(self, role: str, construct: Any) -> dict[str, Any]:
        return self.json(role)["Resources"][self.logical_id(role, construct)]  # type: ignore[no-any-return]

    def role_policies(self, role: str, function: lambda_.Function | Any) -> list[dict[str, Any]]:
        """Every statement of the policies attached to a function's (or service account's) IAM role; only AWS
        managed policies (a function's AWSLambdaBasicExecutionRole) are left out."""
        role_id = self.logical_id(role, function.role)
        assert "Policies" not in self.json(role)["Resources"][role_id]["Properties"], role_id
        for managed in self.resources(role, "AWS::IAM::ManagedPolicy").values():
            assert {"Ref": role_id} not in managed["Properties"].get("Roles", []), role_id
        statements: list[dict[str, Any]] = []
        for policy in self.resources(role, "AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"].get("Roles", []):
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements

    def resolve(self, value: Any) -> str:
        """Like render, with each ${Import:...} replaced by what the exporting stack renders it from."""
        return re.sub(r"\$\{Import:([^}]+)\}", lambda m: render(self.export(m.group(1))), render(value))

    def permissions(self, role: str, grantee: lambda_.Function | Any) -> dict[str, set[str]]:
        """What a function's (or service account's) role may do: resolved resource -> allowed actions.

        A table is `${<TableId>.Arn}`, its indexes `${<TableId>.Arn}/index/*`, a queue `${<QueueId>.Arn}`,
        wherever the stack that owns it is. Only plain Allow statements are expected.
        """
        allowed: dict[str, set[str]] = {}
        for statement in self.role_policies(role, grantee):
            assert statement["Effect"] == "Allow" and set(statement) == {"Action", "Effect", "Resource"}, statement
            for resource in as_list(statement["Resource"]):
                allowed.setdefault(self.resolve(resource), set()).update(actions(statement))
        return allowed

    def access(self, role: str, grantee: lambda_.Function | Any) -> dict[str, str]:
        """`permissions` summed up: resolved resource -> what may be done with it (see `access_level`)."""
        return {resource: access_level(allowed) for resource, allowed in self.permissions(role, grantee).items()}

    def arn(self, role: str, construct: Any) -> str:
        """How `permissions` names a construct's ARN (its Fn::GetAtt Arn, or its Ref for a state machine)."""
        logical_id = self.logical_id(role, construct)
        if self.json(role)["Resources"][logical_id]["Type"] == "AWS::StepFunctions::StateMachine":
            return f"${{{logical_id}}}"
        return f"${{{logical_id}.Arn}}"

    def arns(self) -> PlatformArns:
        return PlatformArns(self)

    def export(self, import_name: str) -> Any:
        """The value another stack exports under `import_name` (what an Fn::ImportValue resolves to)."""
        for role in self.stacks:
            for output in self.json(role).get("Outputs", {}).values():
                if output.get("Export", {}).get("Name") == import_name:
                    return output["Value"]
        raise KeyError(f"no stack exports {import_name!r}")

    def stack_of_export(self, import_name: str) -> str:
        for role in self.stacks:
            for output in self.json(role).get("Outputs", {}).values():
                if output.get("Export", {}).get("Name") == import_name:
                    return role
        raise KeyError(f"no stack exports {import_name!r}")


class PlatformArns:
    """How CdkApp.permissions and CdkApp.access name the platform's resources."""

    def __init__(self, app: CdkApp) -> None:
        store, queues, workflow = app.data.store, app.orchestration.queues, app.orchestration.workflow
        self.table = app.arn("data", store.table)
        self.indexes = f"{self.table}/index/*"
        self.idempotency = app.arn("data", store.idempotency)
        self.bucket = app.arn("data", store.manifests)
        self.short, self.long, self.control, self.short_dlq, self.long_dlq = (
            app.arn("orchestration", q)
            for q in (queues.short, queues.long, queues.control, queues.short_dlq, queues.long_dlq)
        )
        self.state_machine = app.arn("orchestration", workflow.state_machine)
        machine = app.resource("orchestration", workflow.state_machine)["Properties"]
        # grant_resume names the machine by its name: the machine's definition refers to the functions it grants.
        self.resume = (
            "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:" + machine["StateMachineName"]
        )


def build(tmp: Path, context: dict[str, Any]) -> CdkApp:
    from aws_cdk import App, Stack

    from stacks.app_builder import build_app
    from stacks.config import load_config

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
        mp.delenv("CDK_DEFAULT_REGION", raising=False)
        app = App(context=context, outdir=str(tmp))
        stacks = build_app(app)
        assembly = app.synth()
    return CdkApp(
        app=app,
        stacks={role: stack for role, stack in stacks.items() if isinstance(stack, Stack)},
        config=load_config(app.node),
        assembly=assembly,
        outdir=tmp,
    )


@pytest.fixture(scope="session")
def cdk_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdkApp]:
    """The app as `cdk synth` builds it by default (env=dev)."""
    yield build(tmp_path_factory.mktemp("cdk-dev"), CDK_CONTEXT)


@pytest.fixture(scope="session")
def prod_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdkApp]:
    """The app as `cdk synth -c env=prod` builds it, for the settings that differ per environment."""
    yield build(tmp_path_factory.mktemp("cdk-prod"), {**CDK_CONTEXT, "env": "prod"})



def pytest_sessionstart(session: pytest.Session) -> None:
    """The stacks package the Lambda dependency layer and the dashboard's build as assets: build them when
    missing, as `make test-infra` does, so that plain `pytest` from the root works after `make install`."""
    import subprocess

    from stacks.assets import LAYER_DIR
    from stacks.constructs.dashboard_site import WEB_DIST

    if not (LAYER_DIR / "python").is_dir() or not (WEB_DIST / "index.html").is_file():
        root = Path(__file__).parents[2]
        subprocess.run(["make", "--no-print-directory", "-s", "layer", "web"], cwd=root, check=True)
