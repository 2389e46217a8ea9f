"""Infrastructure-test fixtures: the whole CDK app, built and synthesized once per session.

Synthesis is slow (jsii, cdk-nag, asset staging), so tests share session fixtures: `cdk_app` (env=dev, what
`cdk synth` builds by default) and, for per-environment settings only, `prod_app`. Each app gets cdk.json's
context, as `cdk synth` would, and no CDK_DEFAULT_ACCOUNT/REGION, so the stacks are environment-agnostic
and their templates the same on every machine.
"""

from __future__ import annotations

import json
import os
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

    @property
    def data(self) -> DataStack:
        return self.stacks["data"]  # type: ignore[return-value]

    @property
    def orchestration(self) -> OrchestrationStack:
        return self.stacks["orchestration"]  # type: ignore[return-value]

    @property
    def api(self) -> ApiStack:
        return self.stacks["api"]  # type: ignore[return-value]

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

    def role_policies(self, role: str, function: lambda_.Function) -> list[dict[str, Any]]:
        """Every statement of the inline policies attached to a function's execution role."""
        role_id = self.logical_id(role, function.role)
        statements: list[dict[str, Any]] = []
        for policy in self.resources(role, "AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"].get("Roles", []):
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements

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
