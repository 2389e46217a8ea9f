#!/usr/bin/env bash
# Builds the Lambda dependency layer into build/lambda/layer/python, without Docker.
# Wheels are for the functions' runtime (CPython 3.13, manylinux x86_64); the compiled
# extensions for this machine's interpreter are added beside the 3.13 ones, because the embedded AWS runs
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
PLATFORMS=(--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64)
"$PY" -m pip install --quiet --disable-pip-version-check --no-compile --target "$LAYER" \
  "${PLATFORMS[@]}" --implementation cp --python-version "$RUNTIME_PY" --only-binary=:all: \
  -r requirements-lambda.txt
local_abi=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if [ "$local_abi" != "$RUNTIME_PY" ]; then
  # Every compiled extension built for the local interpreter goes beside its runtime twin.
  "$PY" -m pip install --quiet --disable-pip-version-check --no-compile --target build/lambda/local-abi \
    "${PLATFORMS[@]}" --implementation cp --python-version "$local_abi" --only-binary=:all: \
    -r requirements-lambda.txt
  tag="cpython-${local_abi/./}"
  (cd build/lambda/local-abi && find . -name "*.${tag}-*.so") | while read -r so; do
    mkdir -p "$LAYER/$(dirname "$so")"
    cp "build/lambda/local-abi/$so" "$LAYER/$so"
  done
  rm -rf build/lambda/local-abi
fi
# boto3 comes with the Lambda runtime; a copy in the layer would shadow it.
rm -rf "$LAYER"/boto3 "$LAYER"/botocore "$LAYER"/s3transfer "$LAYER"/bin
cp requirements-lambda.txt "$STAMP"
echo "layer built: $(du -sh build/lambda/layer | cut -f1)"
