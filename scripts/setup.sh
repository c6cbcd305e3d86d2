#!/usr/bin/env bash
# Create .venv in the checkout and install spacy_bioner with its dev and trf extras
# (the transformer tests need spacy-transformers).
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
.venv/bin/python -m pip install -q -c constraints.txt -e '.[dev,trf]'
