#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh) and run the main workflow: `spacy project run all`.
# BIONER_WORKFLOW=ncbi (or any workflow of project.yml) runs that one instead.
# Extra arguments go to `spacy project run` (e.g. --vars.weak_limit 0).
set -euo pipefail
cd "$(dirname "$0")/.."
workflow="${BIONER_WORKFLOW:-all}"
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
start=$(date +%s)
spacy project run "$workflow" . "$@"
echo "spacy project run $workflow: wall time $(( $(date +%s) - start )) s"
