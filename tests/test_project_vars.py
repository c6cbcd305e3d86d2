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
