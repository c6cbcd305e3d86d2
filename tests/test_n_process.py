"""``nlp.pipe(n_process=2)`` and ``evaluate --n-process 2`` finish, whatever OMP_NUM_THREADS is.

torch's OpenMP pool does not survive a fork: before the fix, a forked spaCy worker sat at 0 % CPU
inside the BiLSTM forever. Each check runs in a fresh interpreter under a timeout, with torch on
two threads in the parent (OMP_NUM_THREADS=2, and unset), so that the pool exists before the fork.

``BIONER_PACKAGED_MODEL=en_bioner_cd`` (an installed package name or a pipeline folder) runs the
same check on that pipeline too.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.training import Example
from thinc.api import fix_random_seed

from train_data import TWO_SENTENCES as TRAIN_DATA

TIMEOUT = 150

# Runs in the child interpreter: the parent tags first (the OpenMP pool starts), then two workers.
CHECK = """
import sys, spacy, torch
nlp = spacy.load(sys.argv[1])
texts = [("Cisplatin induced nephrotoxicity in rats treated with lithium . " * 40 + str(i)) for i in range(8)]
texts += ["", "   \\n\\t  "]
ents = lambda docs: [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs]
one = ents(nlp.pipe(texts, batch_size=2))
two = ents(nlp.pipe(texts, batch_size=2, n_process=2))
assert one == two, (one, two)
print("threads", torch.get_num_threads(), "docs", len(two), "entities", sum(map(len, two)))
"""


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_crf", config={"model": {"hidden_width": 16, "tanh_width": 16, "embed_rows": 500}})
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_DATA]
    fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(20):
        nlp.update(examples, sgd=optimizer)
    path = tmp_path_factory.mktemp("n_process") / "model"
    nlp.to_disk(path)
    return path


def _env(omp: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if omp:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = omp
    return env


def _run(argv: list, env: dict, what: str) -> subprocess.CompletedProcess:
    """Run ``argv`` in its own process group; on timeout, kill the group (the workers too)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{what} did not finish in {TIMEOUT} s: the forked workers hang")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.parametrize("omp", ["2", ""])
def test_pipe_with_two_processes_finishes_and_matches_one(small_model, omp):
    result = _run([sys.executable, "-c", CHECK, str(small_model)], _env(omp),
                  f"nlp.pipe(n_process=2) with OMP_NUM_THREADS={omp or 'unset'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "docs 10" in result.stdout


def test_evaluate_with_two_processes_finishes(small_model, tmp_path):
    gold = tmp_path / "gold.PubTator"
    records = [f"{i}|t|Cisplatin induced nephrotoxicity .\n{i}|a|{TRAIN_DATA[1][0]}\n"
               f"{i}\t0\t9\tCisplatin\tChemical\n" for i in range(1, 7)]
    gold.write_text("\n".join(records), encoding="utf8")
    argv = [sys.executable, "-m", "spacy_bioner", "evaluate", str(small_model), str(gold),
            "-o", str(tmp_path / "out"), "--n-process", "2", "--batch-size", "2", "--report-docs", "0"]
    result = _run(argv, _env("2"), "evaluate --n-process 2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "metrics.json").is_file()


@pytest.mark.skipif(not os.environ.get("BIONER_PACKAGED_MODEL"), reason="BIONER_PACKAGED_MODEL is not set")
def test_packaged_pipeline_with_two_processes():
    result = _run([sys.executable, "-c", CHECK, os.environ["BIONER_PACKAGED_MODEL"]], _env(""),
                  "nlp.pipe(n_process=2) on the packaged pipeline")
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
