#!/usr/bin/env bash
# Builds the Lambda dependency layer into build/lambda/layer/python, without Docker.
# Wheels are for the functions' runtime (CPython 3.13, manylinux x86_64); pydantic-core's compiled
# extension for this machine's interpreter is added beside the 3.13 one, because the embedded AWS runs
# the same functions with the local Python. Python picks the extension matching its own ABI tag.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNTIME_PY=3.13
LAYER=build/lambda/layer/python
STAMP=build/lambda/layer/.requirements
if [ -f "$STAMP" ] && cmp -s "$STAMP" requirements-lambda.txt && [ -d "$LAYER" ]; then
  exit 0
fi
rm -rf build/lambda/layer build/lambda/local-abi
mkdir -p "$LAYER"
"$PY" -m pip install --quiet --disable-pip-version-check --no-compile --target "$LAYER" \
  --platform manylinux2014_x86_64 --implementation cp --python-version "$RUNTIME_PY" --only-binary=:all: \
  -r requirements-lambda.txt
local_abi=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if [ "$local_abi" != "$RUNTIME_PY" ]; then
  core=$(grep -E '^pydantic-core==' requirements-lambda.txt)
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile --target build/lambda/local-abi \
    --platform manylinux2014_x86_64 --implementation cp --python-version "$local_abi" --only-binary=:all: "$core"
  cp build/lambda/local-abi/pydantic_core/_pydantic_core.cpython-*.so "$LAYER/pydantic_core/"
  rm -rf build/lambda/local-abi
fi
# boto3 comes with the Lambda runtime; a copy in the layer would shadow it.
rm -rf "$LAYER"/boto3 "$LAYER"/botocore "$LAYER"/s3transfer "$LAYER"/bin
cp requirements-lambda.txt "$STAMP"
echo "layer built: $(du -sh build/lambda/layer | cut -f1)"
