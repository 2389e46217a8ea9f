"""The Lambda code and dependency layer, laid out as assets without Docker.

Code: the Python files of `lambdas/` and the shared `tasklane/` package, copied at synth time into
build/lambda/code-<content hash>, with the task packages the app was given (`-c task_package=DIR[,DIR]`) and
their requirements beside them.
Layer: build/lambda/layer, made by scripts/build_layer.sh from requirements-lambda.txt with wheels for
the functions' runtime (Python 3.13 on x86_64) plus pydantic-core's extension built for this machine's
Python, so the very same asset imports in AWS and in the embedded AWS (which runs functions with the
local interpreter).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from tasklane.task_packages import TaskPackageError

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "lambda"
LAYER_DIR = BUILD / "layer"
CODE_PACKAGES = ("lambdas", "tasklane")


def python_sources(packages: Iterable[str]) -> list[Path]:
    return sorted(
        path for package in packages for path in (ROOT / package).rglob("*.py") if "__pycache__" not in path.parts
    )


def package_files(folder: Path) -> list[Path]:
    """Every file of a task package (data files too), without caches."""
    return sorted(path for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts)


def _digest(files: Iterable[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def source_digest(packages: Iterable[str]) -> str:
    """A digest of the packages' Python files, names and contents: it changes when any of them does."""
    return _digest((str(path.relative_to(ROOT)), path) for path in python_sources(packages))


def task_package_folders(folders: Iterable[str]) -> list[Path]:
    """The task packages' folders, each checked to be an importable package."""
    found = [Path(folder).expanduser().resolve() for folder in folders]
    for folder, path in zip(folders, found, strict=True):
        if not (path / "__init__.py").is_file():
            raise TaskPackageError(f"task package {folder}: not a folder with an __init__.py")
    return found


@cache
def task_package_sources(folders: tuple[str, ...]) -> Path | None:
    """The task packages alone, copied into build/lambda/task-packages-src-<content hash> (what the worker image
    copies; it installs their requirements itself); None without packages."""
    if not folders:
        return None
    packages = task_package_folders(folders)
    files = [(f"{package.name}/{path.relative_to(package)}", path) for package in packages
             for path in package_files(package)]
    target = BUILD / f"task-packages-src-{_digest(files)[:16]}"
    if not target.is_dir():
        staging = _staging()
        for name, path in files:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, staging / name)
        _publish(staging, target)
    return target


@cache
def task_packages_dir(folders: tuple[str, ...]) -> Path | None:
    """The task packages and their requirements, for the Lambda runtime and this machine's Python, in
    build/lambda/task-packages-<content hash>; None without packages. Each package is imported there once, so a
    missing or broken package fails the synth with one line (TaskPackageError), not the first task."""
    sources = task_package_sources(folders)
    if sources is None:
        return None
    target = BUILD / sources.name.replace("-src-", "-")
    if not target.is_dir():
        staging = _staging()
        shutil.copytree(sources, staging, dirs_exist_ok=True)
        for requirements in sorted(sources.glob("*/requirements.txt")):
            _pip_for_lambda(requirements, staging)
        _check_imports(staging, sorted(path.name for path in sources.iterdir()))
        _publish(staging, target)
    return target


def _pip_for_lambda(requirements: Path, target: Path) -> None:
    script = ROOT / "scripts" / "pip_for_lambda.sh"
    done = subprocess.run(
        ["bash", str(script), str(requirements), str(target)], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PY": sys.executable},
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise TaskPackageError(f"task package {requirements.parent}: its requirements do not install: {last}")


def _check_imports(folder: Path, modules: list[str]) -> None:
    """Import the packages in a fresh interpreter, as a function would: one line on failure."""
    check = (
        "import sys\nfrom tasklane.task_packages import TaskPackageError, load_task_packages\n"
        "try:\n    load_task_packages(sys.argv[1:])\nexcept TaskPackageError as exc:\n    sys.exit(str(exc))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, *modules], cwd=folder, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])},
    )
    if done.returncode != 0:
        raise TaskPackageError((done.stderr.strip().splitlines() or ["task packages failed to import"])[-1])


def _staging() -> Path:
    BUILD.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="staging-", dir=BUILD))


def _publish(staging: Path, target: Path) -> None:
    try:
        staging.rename(target)
    except OSError:  # another synth made the same folder first
        shutil.rmtree(staging, ignore_errors=True)


@cache
def lambda_code_dir(task_packages: tuple[str, ...] = ()) -> Path:
    """The code asset, in a folder named after its content: concurrent synths share it, never collide.

    Cached: every stack with functions asks for it during one synth.
    """
    sources = python_sources(CODE_PACKAGES)
    packages = task_packages_dir(task_packages)
    name = source_digest(CODE_PACKAGES) + (packages.name if packages else "")
    target = BUILD / f"code-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    if target.is_dir():
        return target
    staging = _staging()
    for path in sources:
        copy = staging / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    if packages:
        shutil.copytree(packages, staging, dirs_exist_ok=True)
    _publish(staging, target)
    return target


def lambda_layer_dir() -> Path:
    if not (LAYER_DIR / "python").is_dir():
        raise FileNotFoundError(f"{LAYER_DIR}/python is missing: run `make layer` (scripts/build_layer.sh) first")
    return LAYER_DIR
