"""benchmarks/annotate.py: its input preparation and the PubMed-hours arithmetic (the timed runs are not run here)."""

import gzip
from pathlib import Path

import pytest

from spacy_bioner.corpus.pubtator import read_pubtator

from script_loader import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "annotate.py"


@pytest.fixture(scope="module")
def bench():
    module = load_script(SCRIPT)
    return module


def test_hours_for_pubmed(bench):
    assert bench.hours_for_pubmed(100.0, 1) == pytest.approx(1.0)  # 100 docs/s/core * 100 cores: 36 M in 3,600 s
    assert bench.hours_for_pubmed(100.0, 2) == pytest.approx(2.0)
    assert bench.hours_for_pubmed(0.0, 1) == float("inf")


def test_texts_are_dealt_into_files_with_unique_ids(bench, tmp_path):
    for folder, pmids in (("pubtator", ["1", "2"]), ("unlabeled", ["2", "3", "4"])):
        (tmp_path / folder).mkdir()
        text = "".join(f"{p}|t|Title {p}\n{p}|a|Abstract {p}\n\n" for p in pmids)
        (tmp_path / folder / f"{folder}.PubTator.gz").write_bytes(gzip.compress(text.encode()))
    docs = bench.load_texts(tmp_path)
    assert [d[0] for d in docs] == ["1", "2", "2", "3", "4"]
    paths = bench.write_inputs(docs, tmp_path / "in", 2)
    read = [[(d.pmid, d.title) for d in read_pubtator(p)] for p in paths]
    assert read == [[("1_0", "Title 1"), ("2_2", "Title 2"), ("4_4", "Title 4")], [("2_1", "Title 2"), ("3_3", "Title 3")]]
