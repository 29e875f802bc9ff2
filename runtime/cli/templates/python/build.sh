#!/bin/sh
# Builds {{name}}.wasm with componentize-py 0.25.1 (COMPONENTIZE_PY names
# it; default: the one in .venv, see README.md).
set -eu
cd "$(dirname "$0")"
"${COMPONENTIZE_PY:-.venv/bin/componentize-py}" -d "{{airlock}}/wit" -w tool componentize app \
  -p . -p "{{airlock}}/sdk/python" -o {{name}}.wasm
echo "built {{name}}.wasm"
