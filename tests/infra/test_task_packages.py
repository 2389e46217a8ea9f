"""Task packages in the deployed app: bundled into the Lambda code and the worker image, named to both runtimes,
and a broken one stops `cdk synth` with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.infra.conftest import CDK_CONTEXT, ROOT, build
from tests.infra.test_lambda_functions import functions

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

EXAMPLE = ROOT / "examples" / "thumbnails"


@pytest.fixture(scope="module")
def app_with_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdkApp]:
    yield build(tmp_path_factory.mktemp("cdk-task-package"), {**CDK_CONTEXT, "task_package": str(EXAMPLE)})


def test_every_function_is_told_the_package_and_its_code_carries_it_with_its_requirements(
    app_with_package: CdkApp,
) -> None:
    found = functions(app_with_package)
    assert found
    for _, logical_id, props in found:
        assert props["Environment"]["Variables"]["TASK_PACKAGES"] == "thumbnails", logical_id
    from stacks.assets import lambda_code_dir

    code = lambda_code_dir((str(EXAMPLE),))
    assert (code / "thumbnails" / "__init__.py").read_text() == (EXAMPLE / "__init__.py").read_text()
    assert (code / "png.py").is_file()  # pypng, from the package's requirements.txt
    assert (code / "tasklane" / "task_packages.py").is_file()


def test_the_worker_image_is_built_with_the_package_and_the_pods_are_told_it(app_with_package: CdkApp) -> None:
    template = app_with_package.json("workers")
    manifests = json.dumps(template)
    assert '\\"name\\":\\"TASK_PACKAGES\\",\\"value\\":\\"thumbnails\\"' in manifests.replace(" ", "")
    assets = json.loads((app_with_package.outdir / f"{app_with_package.stacks['workers'].artifact_id}.assets.json")
                        .read_text())
    (image,) = assets["dockerImages"].values()
    staged = image["source"]["dockerBuildArgs"]["TASK_PACKAGES"]
    assert staged.startswith("build/lambda/task-packages-src-")
    image_context = app_with_package.outdir / image["source"]["directory"]
    assert (image_context / staged / "thumbnails" / "requirements.txt").is_file()


def test_without_a_package_nothing_changes(cdk_app: CdkApp) -> None:
    for _, logical_id, props in functions(cdk_app):
        assert "TASK_PACKAGES" not in props["Environment"]["Variables"], logical_id


def test_a_broken_package_stops_the_synth_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "brokentasks"
    broken.mkdir()
    (broken / "__init__.py").write_text("import not_installed\n")
    context = {**CDK_CONTEXT, "task_package": str(broken)}
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path / "out")},
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "cannot deploy: task package brokentasks: import failed: ModuleNotFoundError: No module named 'not_installed'"
    )
