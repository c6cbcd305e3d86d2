#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh) and run the main workflow: `spacy project run all`.
# Extra arguments go to `spacy project run` (e.g. --vars.scale=paper).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
start=$(date +%s)
spacy project run all . "$@"
echo "spacy project run all: wall time $(( $(date +%s) - start )) s"
