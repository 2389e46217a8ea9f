#!/usr/bin/env bash
# Installs a requirements file into a folder for the Lambda functions, without Docker:
#   scripts/pip_for_lambda.sh REQUIREMENTS TARGET
# Wheels are for the functions' runtime (CPython 3.13, manylinux x86_64); the compiled extensions for this
# machine's interpreter are added beside the 3.13 ones, because the embedded AWS runs the same functions with
# the local Python. Python picks the extension matching its own ABI tag.
set -euo pipefail
REQUIREMENTS=$1
TARGET=$2
PY=${PY:-.venv/bin/python}
RUNTIME_PY=3.13
PLATFORMS=(--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64)
mkdir -p "$TARGET"
"$PY" -m pip install --quiet --disable-pip-version-check --no-compile --target "$TARGET" \
  "${PLATFORMS[@]}" --implementation cp --python-version "$RUNTIME_PY" --only-binary=:all: -r "$REQUIREMENTS"
local_abi=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if [ "$local_abi" != "$RUNTIME_PY" ]; then
  # Every compiled extension built for the local interpreter goes beside its runtime twin.
  local_dir=$(mktemp -d)
  trap 'rm -rf "$local_dir"' EXIT
  "$PY" -m pip install --quiet --disable-pip-version-check --no-compile --target "$local_dir" \
    "${PLATFORMS[@]}" --implementation cp --python-version "$local_abi" --only-binary=:all: -r "$REQUIREMENTS"
  tag="cpython-${local_abi/./}"
  (cd "$local_dir" && find . -name "*.${tag}-*.so") | while read -r so; do
    mkdir -p "$TARGET/$(dirname "$so")"
    cp "$local_dir/$so" "$TARGET/$so"
  done
fi
# boto3 comes with the Lambda runtime; a copy would shadow it.
rm -rf "$TARGET"/boto3 "$TARGET"/botocore "$TARGET"/s3transfer "$TARGET"/bin
