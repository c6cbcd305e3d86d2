#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh) and run the test suite. Extra arguments go to pytest.
# The tests run in BIONER_TEST_WORKERS pytest-xdist workers (default 2, one per core of a CI
# machine; 0 runs them in this process), each test module whole in one worker (its module-scoped
# fixtures train once), each worker with one torch/BLAS thread so that the workers do not fight
# over the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workers=${BIONER_TEST_WORKERS:-2}
if [ "$workers" != "0" ]; then
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
  exec .venv/bin/python -m pytest -n "$workers" --dist loadfile --durations 15 "$@"
fi
exec .venv/bin/python -m pytest --durations 15 "$@"
