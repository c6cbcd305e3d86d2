"""The `ncbi` workflow end to end at the tiny scale of `scripts/smoke.sh` (`SMOKE_WORKFLOW=ncbi`).

NCBI Disease by the same method: gold-only model, weak sets DWC/DWA with Disease spans only,
re-correction to DRC/DRA, two teachers, the T-mixed student, all scored on the NCBI test split. Its own
project copy, so that pytest-xdist runs it beside the `smoke` workflow instead of after it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from project_run import copy_project, run_smoke


@pytest.fixture(scope="module")
def ncbi_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("project_ncbi")
    copy_project(project)
    run_smoke(project, data_dir, "ncbi")
    return project


def test_every_stage_wrote_its_outputs(ncbi_run: Path) -> None:
    for rel in ("corpus/ncbi/T.spacy", "corpus/ncbi/test.PubTator", "vectors/w2v", "training/ncbi/gold/model-best",
                "weak/ncbi/dwc.sample.spacy", "weak/ncbi/dwa.sample.spacy", "training/ncbi/recorrect/dwc/rounds.md",
                "training/ncbi/recorrect/dwa/best.spacy", "training/ncbi/teachers/tc/finetuned/model-best",
                "training/ncbi/teachers/ta/finetuned/model-best", "training/ncbi/student-mixed/model-best"):
        assert (ncbi_run / rel).exists(), rel
    assert not (ncbi_run / "training/student").exists()  # nothing of the CDR workflow ran


def test_models_are_scored_on_the_ncbi_test_split(ncbi_run: Path) -> None:
    for name in ("gold", "student-mixed", "teacher_tc", "teacher_ta"):
        metrics = json.loads((ncbi_run / f"metrics/ncbi/{name}/metrics.json").read_text(encoding="utf8"))
        assert metrics["gold"] == "corpus/ncbi/test.PubTator", name
        assert metrics["scores"]["n_gold_docs"] == 20 and set(metrics["scores"]["per_type"]) <= {"Disease"}, name
        assert (ncbi_run / f"metrics/ncbi/{name}/report.html").is_file(), name


def test_weak_sets_hold_disease_mentions_only_and_the_student_learns_from_both_teachers(ncbi_run: Path) -> None:
    weak = json.loads((ncbi_run / "weak/ncbi/stats.json").read_text(encoding="utf8"))
    for name in ("CDWC", "CDWA"):  # --types Disease
        assert weak[name]["mentions"]["Chemical"] == 0 and weak[name]["mentions"]["Disease"] > 0, weak[name]
    distill = json.loads((ncbi_run / "training/ncbi/student-mixed/distill.json").read_text(encoding="utf8"))
    assert distill["teachers"] == ["training/ncbi/teachers/tc/finetuned/model-best",
                                   "training/ncbi/teachers/ta/finetuned/model-best"]
    assert distill["data"] == ["weak/ncbi/dwc.sample.spacy"] and distill["documents"] == 16  # weak_limit
    assert distill["gold"] == ["corpus/ncbi/T.spacy"] and distill["gold_documents"] > 0  # train mixed in
