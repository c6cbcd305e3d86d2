"""The project workflow end to end at a tiny scale (`scripts/smoke.sh`: every step of `all`).

Runs `spacy project run smoke` in a copy of project.yml + configs/ + scripts/ with the assets
taken from BIONER_DATA_MIRROR, then checks what each stage left behind: gold splits, vectors,
weak sets and Table 1, re-correction rounds, teachers, similarity histogram, student, test-set
metrics and the packaged wheel whose meta.json carries the student's measured figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from project_run import ROOT, copy_project, run_smoke, smoke_env


@pytest.fixture(scope="module")
def smoke_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("project")
    copy_project(project)
    run_smoke(project, data_dir)  # about 3 minutes on 2 idle cores, far longer when other jobs share them
    return project


def test_every_stage_wrote_its_outputs(smoke_run: Path) -> None:
    for rel in ("corpus/cdr/T.spacy", "corpus/cdr/test.PubTator", "corpus/ncbi/T.spacy", "vectors/w2v",
                "weak/cdr/CDWC.spacy", "weak/cdr/CDWA.spacy", "reports/table1.md",
                "training/recorrect/cdwc/rounds.md", "training/recorrect/cdwa/best.spacy",
                "training/teachers/tc/finetuned/model-best", "training/teachers/ta/finetuned/model-best",
                "reports/similarity/similarity.png", "training/student/finetuned/model-best",
                "metrics/gold/metrics.json", "metrics/student/metrics.json", "metrics/teacher_ta/metrics.json",
                "training/student-mixed/model-best", "metrics/student-mixed/metrics.json"):
        assert (smoke_run / rel).exists(), rel
    table1 = (smoke_run / "reports/table1.md").read_text(encoding="utf8")
    assert all(name in table1 for name in ("CDWC", "CDWA", "CDRC", "CDRA"))
    state = json.loads((smoke_run / "training/recorrect/cdwc/state.json").read_text(encoding="utf8"))
    assert len(state["rounds"]) == 1 and state["rounds"][0]["test"] is not None
    mixed = json.loads((smoke_run / "training/student-mixed/distill.json").read_text(encoding="utf8"))
    assert mixed["gold"] == ["corpus/cdr/T.spacy"] and mixed["gold_documents"] > 0, mixed  # T mixed in
    assert mixed["settings"]["epoch_docs"] == 8 and mixed["settings"]["distance"] == "kd"


def test_experiments_step_reuses_the_workflow_teachers(smoke_run: Path) -> None:
    results = json.loads((smoke_run / "training/experiments/results.json").read_text(encoding="utf8"))
    assert [r["id"] for r in results["rows"]] == ["t4_union", "t4_hard", "t4_l1", "t4_l2", "t4_kd",
                                                 "t5_no_recorrection", "t5_only_cdrc", "t5_only_cdra"]  # fmt: skip
    teachers = results["teachers"]
    assert teachers["cdrc"]["model"] == "training/teachers/tc/finetuned/model-best"
    assert teachers["cdra"]["model"] == "training/teachers/ta/finetuned/model-best"
    assert teachers["cdrc"]["seconds"] == 0.0 and teachers["cdwc"]["seconds"] > 0  # given vs trained here
    for row in results["rows"]:
        assert row["test"]["n_gold_docs"] == 20
        if row["kind"] == "distill":  # the student recipe of the `distill` step
            assert row["settings"]["student_finetune_overrides"]["training.max_epochs"] == 1
    md = (smoke_run / "training/experiments/results.md").read_text(encoding="utf8")
    assert "Table 4" in md and "Table 5" in md and "T(CDWC)" in md


def test_package_carries_the_measured_figures(smoke_run: Path) -> None:
    wheel = smoke_run / "packages/en_bioner_cd-0.0.1/dist/en_bioner_cd-0.0.1-py3-none-any.whl"
    assert wheel.is_file()
    metrics = json.loads((smoke_run / "metrics/student-mixed/metrics.json").read_text(encoding="utf8"))
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith("/meta.json") and n.count("/") == 2)
        meta = json.loads(zf.read(meta_name))
    perf = meta["performance"]
    assert perf["ents_f"] == pytest.approx(metrics["scores"]["micro"]["f"])
    assert set(perf["ents_per_type"]) == {"Chemical", "Disease"}
    assert perf["words_per_second"] == pytest.approx(metrics["words_per_second"]) and perf["words_per_second"] > 0
    assert any(r.startswith("spacy_bioner") for r in meta["requirements"])
    assert list((smoke_run / "packages/wheels").glob("spacy_bioner-*.whl"))


def test_rerun_skips_finished_steps(smoke_run: Path) -> None:
    proc = subprocess.run(["bash", "scripts/smoke.sh"], cwd=smoke_run, env=smoke_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Skipping 'distill': nothing changed" in proc.stdout
    assert "Skipping 'package': nothing changed" in proc.stdout


def test_package_installs_in_a_fresh_venv_and_loads_offline(smoke_run: Path, tmp_path: Path) -> None:
    """pip install the two wheels the package step made into a new venv; load with no network."""
    venv = tmp_path / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        py = venv / "bin" / "python"
        wheels = sorted((smoke_run / "packages/wheels").glob("spacy_bioner-*.whl"))
        model = smoke_run / "packages/en_bioner_cd-0.0.1/dist/en_bioner_cd-0.0.1-py3-none-any.whl"
        install = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                                  str(wheels[-1]), str(model)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=900)
        assert install.returncode == 0, install.stdout[-3000:]
        code = ("import json, sys, spacy; nlp = spacy.load('en_bioner_cd'); "
                "trf = [m for m in ('spacy_transformers', 'transformers') if m in sys.modules]; "
                "doc = nlp('Cisplatin-induced nephrotoxicity in rats.'); "
                "print(json.dumps({'trf': trf, 'pipes': nlp.pipe_names, 'name': nlp.meta['name'], 'tokens': [t.text for t in doc], "
                "'file': spacy.util.get_package_path('en_bioner_cd').as_posix(), "
                # the packaged pipeline in two forked workers, torch threads unset (issue #24: it hung)
                "'n_process_2_same': [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in "
                "nlp.pipe(['Lithium toxicity and seizures.'] * 8, n_process=2, batch_size=2)] == "
                "[[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(['Lithium toxicity and seizures.'] * 8)]}))")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        cmd = [str(py), "-c", code]
        if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0:
            cmd = ["unshare", "-n"] + cmd  # a network namespace with no network at all
        loaded = subprocess.run(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=300)
        assert loaded.returncode == 0, loaded.stdout[-3000:]
        result = json.loads(loaded.stdout.strip().splitlines()[-1])
        assert result["pipes"] == ["bioner"] and result["name"] == "bioner_cd"
        assert result["trf"] == []  # a plain install (no trf extra) neither has nor imports transformers
        assert result["tokens"][:3] == ["Cisplatin", "-", "induced"]  # the biomedical tokenizer came along
        assert result["file"].startswith(str(venv))
        assert result["n_process_2_same"] is True
    finally:  # the venv holds torch (about 1.8 GB); pytest keeps the last three runs' tmp folders
        shutil.rmtree(venv, ignore_errors=True)
