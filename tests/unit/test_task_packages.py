"""Task packages: the users' task types, imported from folders outside the platform by one loader."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path

import png
import pytest

from tasklane.registry import TaskRegistry
from tasklane.task_packages import TaskPackageError, load_task_packages, registered_by, task_registry
from tasklane.testing import run_task

EXAMPLE = Path(__file__).parents[2] / "examples" / "thumbnails"


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[TaskRegistry]:
    """A registry and an import path of the test's own, so packages imported here leave no trace."""
    import tasklane.registry
    import tasklane.task_packages

    tasks = TaskRegistry()
    monkeypatch.setattr(tasklane.registry, "registry", tasks)
    monkeypatch.setattr(tasklane.task_packages, "registry", tasks)
    monkeypatch.setattr(sys, "path", list(sys.path))
    # Imported by an earlier test (jobctl run-local, say): imported afresh here, into this registry.
    monkeypatch.delitem(sys.modules, EXAMPLE.name, raising=False)
    before = set(sys.modules)
    yield tasks
    for name in set(sys.modules) - before:
        del sys.modules[name]


def package(tmp_path: Path, name: str, body: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "__init__.py").write_text(body)
    return folder


GOOD = """from tasklane.registry import registry


@registry.task("double")
def double(payload, ctx):
    return payload["n"] * 2
"""


def test_a_package_folder_registers_its_types(tmp_path: Path, isolated: TaskRegistry) -> None:
    folder = package(tmp_path, "mytasks", GOOD)
    names = load_task_packages([str(folder)], tasks=isolated)
    assert "double" in names and registered_by("mytasks", isolated) == ["double"]
    # imported again (a warm process): nothing is registered twice, nothing fails
    assert load_task_packages([str(folder)], tasks=isolated) == names


def test_a_package_is_also_found_by_module_name(tmp_path: Path, isolated: TaskRegistry) -> None:
    package(tmp_path, "bymodule", GOOD)
    sys.path.insert(0, str(tmp_path))
    assert "double" in load_task_packages(["bymodule"], tasks=isolated)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("raise RuntimeError('no config')\n", "import failed: RuntimeError: no config"),
        ("import not_installed\n", "import failed: ModuleNotFoundError: No module named 'not_installed'"),
        ("X = 1\n", "its import registered no task type"),
    ],
)
def test_a_broken_package_fails_with_one_line_naming_it(
    tmp_path: Path, isolated: TaskRegistry, body: str, why: str
) -> None:
    folder = package(tmp_path, "broken", body)
    with pytest.raises(TaskPackageError) as caught:
        load_task_packages([str(folder)], tasks=isolated)
    assert str(caught.value) == f"task package {folder}: {why}"


def test_a_folder_that_is_not_a_package_is_refused(tmp_path: Path, isolated: TaskRegistry) -> None:
    with pytest.raises(TaskPackageError) as caught:
        load_task_packages([str(tmp_path)], tasks=isolated)
    assert str(caught.value) == f"task package {tmp_path}: not a folder with an __init__.py"


def test_an_unknown_module_name_is_refused(isolated: TaskRegistry) -> None:
    with pytest.raises(TaskPackageError, match="task package no_such_tasks: import failed: ModuleNotFoundError"):
        load_task_packages(["no_such_tasks"], tasks=isolated)


def test_the_process_registry_loads_the_packages_of_its_setting(
    tmp_path: Path, isolated: TaskRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = package(tmp_path, "fromsetting", GOOD)
    monkeypatch.setenv("TASK_PACKAGES", f" {folder} ,")
    task_registry.reset()
    try:
        assert task_registry() is isolated and isolated.get("double") is not None
    finally:
        task_registry.reset()


def test_the_example_package_makes_thumbnails(isolated: TaskRegistry) -> None:
    load_task_packages([str(EXAMPLE)], tasks=isolated)
    run = run_task("thumbnail", {"width": 300, "height": 150, "max_side": 60}, tasks=isolated)
    assert run.succeeded, run.error
    assert (run.result["width"], run.result["height"]) == (60, 30)
    width, height, rows, _ = png.Reader(bytes=base64.b64decode(run.result["png_base64"])).read()
    assert (width, height, len(list(rows))) == (60, 30, 30)
    assert run.progress == [(0.5, "300x150 -> 60x30")]


def test_the_example_package_refuses_what_is_not_a_png_without_retrying(isolated: TaskRegistry) -> None:
    load_task_packages([str(EXAMPLE)], tasks=isolated)
    run = run_task("thumbnail", {"png_base64": base64.b64encode(b"not a png").decode()}, tasks=isolated)
    assert not run.succeeded and len(run.attempts) == 1
    assert run.error is not None and run.error.startswith("NonRetryableTaskFailure: payload.png_base64 is not a PNG")
