"""The Lambda code and dependency layer, laid out as assets without Docker.

Code: `lambdas/` and the shared `tasklane/` package, copied into build/lambda/code at synth time.
Layer: build/lambda/layer, made by scripts/build_layer.sh from requirements-lambda.txt with wheels for
the functions' runtime (Python 3.13 on x86_64) plus pydantic-core's extension built for this machine's
Python, so the very same asset imports in AWS and in the embedded AWS (which runs functions with the
local interpreter).
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "lambda"
CODE_DIR = BUILD / "code"
LAYER_DIR = BUILD / "layer"
CODE_PACKAGES = ("lambdas", "tasklane")


def lambda_code_dir() -> Path:
    if CODE_DIR.exists():
        shutil.rmtree(CODE_DIR)
    for package in CODE_PACKAGES:
        shutil.copytree(ROOT / package, CODE_DIR / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return CODE_DIR


def lambda_layer_dir() -> Path:
    if not (LAYER_DIR / "python").is_dir():
        raise FileNotFoundError(f"{LAYER_DIR}/python is missing: run `make layer` (scripts/build_layer.sh) first")
    return LAYER_DIR
