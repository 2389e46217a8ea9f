"""Every Lambda function of the platform's own stacks (all but workers): runtime, layer, handler, code."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic_settings import BaseSettings

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

RUNTIME = "python3.13"
# What the Lambda Python runtime brings itself; the layer deliberately leaves these out.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "six.py", "urllib3")


def functions(cdk_app: CdkApp) -> list[tuple[str, str, dict[str, Any]]]:
    """The platform's own functions, made by a PythonFunctions construct (not aws-cdk-lib's custom resources)."""
    from aws_cdk import aws_lambda as lambda_

    from stacks.constructs.python_functions import PythonFunctions

    found = []
    for role, stack in cdk_app.stacks.items():
        for group in (c for c in stack.node.find_all() if isinstance(c, PythonFunctions)):
            for function in (c for c in group.node.children if isinstance(c, lambda_.Function)):
                logical_id = cdk_app.logical_id(role, function)
                found.append((role, logical_id, cdk_app.json(role)["Resources"][logical_id]["Properties"]))
    return found


def test_every_function_of_this_repository_is_made_by_python_functions(cdk_app: CdkApp) -> None:
    ours = {logical_id for _, logical_id, _ in functions(cdk_app)}
    for role in cdk_app.stacks:
        for logical_id, resource in cdk_app.resources(role, "AWS::Lambda::Function").items():
            if resource["Properties"].get("Handler", "").startswith(("lambdas.", "tasklane.", "workers.")):
                assert logical_id in ours, f"{role}/{logical_id} bypasses PythonFunctions (runtime, layer, logs)"


EXPECTED_HANDLERS = {
    "data": [],
    "api": [
        "lambdas.api.handler.lambda_handler",
        "lambdas.authorizer.handler.lambda_handler",
    ],
    "orchestration": [
        "lambdas.runner.handler.lambda_handler",
        "lambdas.orchestrator.watchdog.lambda_handler",
        "lambdas.dead_letters.handler.lambda_handler",
        "lambdas.orchestrator.handlers.mark_running",
        "lambdas.orchestrator.handlers.dispatch_tasks",
        "lambdas.orchestrator.handlers.wait_for_tasks",
        "lambdas.orchestrator.handlers.stop_tasks",
        "lambdas.orchestrator.handlers.finalize",
        "lambdas.orchestrator.handlers.fail_job",
    ],
}


def test_the_stacks_have_exactly_the_expected_functions(cdk_app: CdkApp) -> None:
    for role, expected in EXPECTED_HANDLERS.items():
        handlers = sorted(props["Handler"] for r, _, props in functions(cdk_app) if r == role)
        assert handlers == sorted(expected), role


def _settings_class(handler: str) -> type[BaseSettings]:
    """The one pydantic-settings class the handler reads its configuration with, in its module or in a module
    of lambdas/ it builds its dependencies with (the authorizers share lambdas/authorizer/credentials.py)."""
    module = importlib.import_module(handler.rpartition(".")[0])
    namespaces = [vars(module)] + [
        vars(importlib.import_module(value.__module__))
        for value in vars(module).values()
        if callable(value) and getattr(value, "__module__", "").startswith("lambdas.")
        and value.__module__ != module.__name__
    ]
    (found,) = {
        v for namespace in namespaces for v in namespace.values() if isinstance(v, type) and issubclass(v, BaseSettings)
    }
    return found


def test_every_function_environment_satisfies_its_settings(cdk_app: CdkApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each function validates its settings at start-up: a missing variable would fail every invocation."""
    from pydantic import ValidationError

    for _, logical_id, props in functions(cdk_app):
        settings = _settings_class(props["Handler"])
        variables = props.get("Environment", {}).get("Variables", {})
        with monkeypatch.context() as env:
            for name in {n.upper() for n in settings.model_fields} | set(variables):
                env.delenv(name, raising=False)
            for name, value in variables.items():
                env.setenv(name, value if isinstance(value, str) else f"placeholder-{name.lower()}")
            env.setenv("AWS_REGION", "eu-west-1")  # set by Lambda itself in every function
            try:
                settings()
            except ValidationError as invalid:
                pytest.fail(f"{logical_id} ({props['Handler']}): {invalid}")


def test_every_function_runs_python_3_13_on_the_shared_layer(cdk_app: CdkApp) -> None:
    for role, logical_id, props in functions(cdk_app):
        assert props["Runtime"] == RUNTIME, logical_id
        layer = cdk_app.stacks[role].node.find_child("Functions").layer  # type: ignore[attr-defined]
        assert props["Layers"] == [{"Ref": cdk_app.logical_id(role, layer)}], logical_id


def roles_with_functions(cdk_app: CdkApp) -> list[str]:
    roles = sorted({role for role, _, _ in functions(cdk_app)})
    assert {"orchestration", "api"} <= set(roles)
    return roles


def test_the_layer_is_built_for_the_runtime(cdk_app: CdkApp) -> None:
    for role in roles_with_functions(cdk_app):
        _check_layer(cdk_app, role)


def _check_layer(cdk_app: CdkApp, role: str) -> None:
    layers = cdk_app.resources(role, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    (layer,) = layers.values()
    assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
    assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    python = _asset_dir(cdk_app, layer["Properties"]["Content"]["S3Key"]) / "python"
    # pydantic-core is compiled: the layer must carry its extension for the functions' Python.
    assert (python / "pydantic_core" / "__init__.py").is_file()
    assert list((python / "pydantic_core").glob("_pydantic_core.cpython-313-x86_64-linux-gnu.so"))
    for package in RUNTIME_PACKAGES:
        assert not (python / package).exists(), f"{package} in the layer would shadow the runtime's"


def test_every_handler_is_an_importable_function(cdk_app: CdkApp) -> None:
    for _, logical_id, props in functions(cdk_app):
        module_name, _, attribute = props["Handler"].rpartition(".")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute, None)), f"{logical_id}: {props['Handler']} is not a function"


def _asset_dir(cdk_app: CdkApp, s3_key: Any) -> Path:
    asset_hash = cdk_app.render(s3_key).removesuffix(".zip")
    path = cdk_app.outdir / f"asset.{asset_hash}"
    assert path.is_dir(), f"asset {asset_hash} is not in the cloud assembly"
    return path


IMPORT_HANDLERS = """
import importlib, json, sys
missing = []
for handler in json.loads(sys.argv[1]):
    module_name, _, attribute = handler.rpartition(".")
    if not callable(getattr(importlib.import_module(module_name), attribute, None)):
        missing.append(handler)
origins = {n: getattr(m, "__file__", None) or "" for n, m in sys.modules.items()}
print(json.dumps({"missing": missing, "origins": origins}))
"""


def test_handlers_import_from_the_deployed_code_and_layer_alone(cdk_app: CdkApp, tmp_path: Path) -> None:
    """A cold start: the code asset, the layer asset and the runtime's own boto3, nothing from this venv."""
    import boto3

    site = Path(boto3.__file__).parent.parent
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for package in RUNTIME_PACKAGES:
        if (site / package).exists():
            (runtime / package).symlink_to(site / package)
    for role in roles_with_functions(cdk_app):
        props = [p for r, _, p in functions(cdk_app) if r == role]
        code = {_asset_dir(cdk_app, p["Code"]["S3Key"]) for p in props}
        assert len(code) == 1, "the functions of a stack share one code asset"
        layer = next(iter(cdk_app.resources(role, "AWS::Lambda::LayerVersion").values()))
        layer_dir = _asset_dir(cdk_app, layer["Properties"]["Content"]["S3Key"]) / "python"
        path = [str(code.pop()), str(layer_dir), str(runtime)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": os.pathsep.join(path)})
        for p in props:
            variables = p.get("Environment", {}).get("Variables", {}).items()
            env.update({k: v if isinstance(v, str) else "placeholder" for k, v in variables})
        handlers = sorted({p["Handler"] for p in props})
        # -S: no site-packages, so only the stdlib and PYTHONPATH are importable.
        result = subprocess.run(
            [sys.executable, "-S", "-c", IMPORT_HANDLERS, json.dumps(handlers)],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout.splitlines()[-1])
        assert report["missing"] == []
        # Worthless if the repository or this venv leaked in: only the runtime's own packages may come from there.
        local = (Path(sys.prefix).resolve(), Path(__file__).resolve().parents[2])
        runtime_modules = {p.removesuffix(".py") for p in RUNTIME_PACKAGES}
        leaked = {
            name: origin
            for name, origin in report["origins"].items()
            if origin
            and any(Path(origin).resolve().is_relative_to(d) for d in local)
            and name.split(".")[0] not in runtime_modules
        }
        assert leaked == {}
