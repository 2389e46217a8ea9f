"""The Lambda code and dependency layer, laid out as assets without Docker.

Code: the Python files of `lambdas/` and the shared `tasklane/` package, copied at synth time into
build/lambda/code-<content hash>.
Layer: build/lambda/layer, made by scripts/build_layer.sh from requirements-lambda.txt with wheels for
the functions' runtime (Python 3.13 on x86_64) plus pydantic-core's extension built for this machine's
Python, so the very same asset imports in AWS and in the embedded AWS (which runs functions with the
local interpreter).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "lambda"
LAYER_DIR = BUILD / "layer"
CODE_PACKAGES = ("lambdas", "tasklane")


def python_sources(packages: Iterable[str]) -> list[Path]:
    return sorted(
        path for package in packages for path in (ROOT / package).rglob("*.py") if "__pycache__" not in path.parts
    )


def source_digest(packages: Iterable[str]) -> str:
    """A digest of the packages' Python files, names and contents: it changes when any of them does."""
    digest = hashlib.sha256()
    for path in python_sources(packages):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def lambda_code_dir() -> Path:
    """The code asset, in a folder named after its content: concurrent synths share it, never collide.

    Cached: every stack with functions asks for it during one synth.
    """
    sources = python_sources(CODE_PACKAGES)
    target = BUILD / f"code-{source_digest(CODE_PACKAGES)[:16]}"
    if target.is_dir():
        return target
    BUILD.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=BUILD))
    for path in sources:
        copy = staging / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    try:
        staging.rename(target)
    except OSError:  # another synth made the same folder first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def lambda_layer_dir() -> Path:
    if not (LAYER_DIR / "python").is_dir():
        raise FileNotFoundError(f"{LAYER_DIR}/python is missing: run `make layer` (scripts/build_layer.sh) first")
    return LAYER_DIR
