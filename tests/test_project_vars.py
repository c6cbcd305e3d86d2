"""project.yml: vars that change what a step reads also change its deps, so a rerun notices."""

from __future__ import annotations

from pathlib import Path

from spacy.cli.project.run import load_project_config

ROOT = Path(__file__).resolve().parents[1]


def _commands(**overrides: str) -> dict:
    config = load_project_config(ROOT, overrides={f"vars.{k}": v for k, v in overrides.items()})
    return {command["name"]: command for command in config["commands"]}


def test_distill_data_is_read_and_tracked_by_distill_and_similarity() -> None:
    default = _commands()
    larger = _commands(distill_data="weak/cdr/CDWC.spacy")
    for name in ("distill", "similarity"):
        assert "--data weak/cdr/cdwc.sample.spacy" in " ".join(default[name]["script"])
        assert "weak/cdr/cdwc.sample.spacy" in default[name]["deps"]
        assert "--data weak/cdr/CDWC.spacy" in " ".join(larger[name]["script"])
        assert "weak/cdr/CDWC.spacy" in larger[name]["deps"]
        assert "weak/cdr/cdwc.sample.spacy" not in larger[name]["deps"]


def test_student_mixed_reads_t_and_the_distill_data() -> None:
    command = _commands(distill_data="weak/cdr/CDWC.spacy", mixed_epoch_docs="1000")["distill-mixed"]
    script = " ".join(command["script"])
    assert "--mix-gold corpus/cdr/T.spacy" in script and "--epoch-docs 1000" in script
    assert "--data weak/cdr/CDWC.spacy" in script and "--finetune" not in script
    assert {"corpus/cdr/T.spacy", "weak/cdr/CDWC.spacy"} <= set(command["deps"])
