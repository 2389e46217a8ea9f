#!/usr/bin/env bash
# Builds the Lambda dependency layer into build/lambda/layer/python from requirements-lambda.txt, without
# Docker (scripts/pip_for_lambda.sh says how).
set -euo pipefail
cd "$(dirname "$0")/.."
LAYER=build/lambda/layer/python
STAMP=build/lambda/layer/.requirements
if [ -f "$STAMP" ] && cmp -s "$STAMP" requirements-lambda.txt && [ -d "$LAYER" ]; then
  exit 0
fi
rm -rf build/lambda/layer
scripts/pip_for_lambda.sh requirements-lambda.txt "$LAYER"
cp requirements-lambda.txt "$STAMP"
echo "layer built: $(du -sh build/lambda/layer | cut -f1)"
