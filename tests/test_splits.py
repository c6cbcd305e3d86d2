"""Gold splits (CDR held-out draw, NCBI as given) and the leak guard."""

import json

import pytest
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpus.docbin import read_docbin
from spacy_bioner.corpus.spacy_docs import docs_from_documents
from spacy_bioner.corpus.document import Document
from spacy_bioner.corpus.pubtator import read_pubtator, write_pubtator
from spacy_bioner.corpus.splits import (
    GoldLeakError,
    LeakGuard,
    cdr_splits,
    ncbi_splits,
    split_cdr,
    split_heldout,
)
from spacy_bioner.corpus.tokenizer import make_bio_nlp


def documents(first, n, source="hand"):
    return [Document(str(first + i), f"Title {i}", "Abstract.", source=f"{source}:{i}")
            for i in range(n)]


def pmids(docs):
    return [d.pmid for d in docs]


def test_split_cdr_is_deterministic_disjoint_and_complete():
    train, dev = documents(1000, 500), documents(5000, 500)
    t1, d1 = split_cdr(train, dev, seed=0)
    t2, d2 = split_cdr(list(reversed(train)), dev, seed=0)
    assert len(d1) == 100 and len(t1) == 900
    assert set(pmids(d1)) == set(pmids(d2)) and set(pmids(t1)) == set(pmids(t2))
    assert not set(pmids(t1)) & set(pmids(d1))
    assert sorted(pmids(t1) + pmids(d1)) == sorted(pmids(train + dev))
    assert pmids(t1) == [p for p in pmids(train + dev) if p in set(pmids(t1))]  # input order
    _, d3 = split_cdr(train, dev, seed=1)
    assert set(pmids(d3)) != set(pmids(d1))
    # both official sets feed the held-out draw
    assert set(pmids(d1)) & set(pmids(train)) and set(pmids(d1)) & set(pmids(dev))


def test_split_keeps_a_pmids_docs_together():
    nlp = make_bio_nlp()
    docs = list(docs_from_documents(
        nlp, [Document(str(i), "A title.", "One. Two. Three.") for i in range(20)],
        sentence_level=True))
    rest, held = split_heldout(docs, seed=3, heldout=0.25)
    assert len(held) == 5 * 4 and len(rest) == 15 * 4
    assert not {d.user_data["pmid"] for d in rest} & {d.user_data["pmid"] for d in held}


@pytest.mark.parametrize("heldout", [0.0, 1.0, -0.1, 10])
def test_split_rejects_bad_fraction(heldout):
    with pytest.raises(ValueError, match="heldout"):
        split_cdr(documents(1, 10), documents(100, 10), heldout=heldout)


def test_leak_guard_removes_and_records():
    guard = LeakGuard(["3", "7"])
    kept = list(guard.filter(documents(0, 10, source="weak.PubTator")))
    assert pmids(kept) == ["0", "1", "2", "4", "5", "6", "8", "9"]
    assert guard.removed == [("3", "weak.PubTator:3"), ("7", "weak.PubTator:7")]
    assert "2 of 10 documents removed" in guard.report()
    assert "removed PMID 7 (weak.PubTator:7)" in guard.report()
    assert "3" in guard and "4" not in guard and len(guard) == 2


def test_leak_guard_strict_raises_naming_pmid_and_source():
    guard = LeakGuard(["5"], strict=True)
    with pytest.raises(GoldLeakError, match=r"weak\.PubTator:5: gold PMID 5"):
        list(guard.filter(documents(0, 10, source="weak.PubTator")))


def test_leak_guard_from_files(tmp_path):
    gold = tmp_path / "gold.PubTator"
    write_pubtator(documents(100, 3), gold)
    guard = LeakGuard.from_files([gold])
    assert guard.gold_pmids == {"100", "101", "102"}
    assert pmids(guard.filter(documents(99, 5))) == ["99", "103"]


def test_cdr_and_ncbi_official_splits(data_dir):
    t, d, test = cdr_splits(data_dir, seed=0)
    assert (len(t), len(d), len(test)) == (900, 100, 500)
    assert not set(pmids(t)) & set(pmids(d))
    assert not (set(pmids(t)) | set(pmids(d))) & set(pmids(test))
    assert pmids(cdr_splits(data_dir, seed=0)[1]) == pmids(d)
    with pytest.warns(UserWarning, match="8528200"):
        nt, nd, ntest = ncbi_splits(data_dir)
    assert (len(nt), len(nd), len(ntest)) == (593, 100, 100)
    assert {m.type for doc in nt + nd + ntest for m in doc.mentions} == {"Disease"}


def test_leak_guard_on_the_data(data_dir):
    guard = LeakGuard.from_data_dir(data_dir)
    assert len(guard) == 1500 + 792  # NCBI train repeats one abstract
    curated = data_dir / "pubtator" / "chemdisgene_curated.PubTator.gz"
    kept = list(guard.filter(read_pubtator(curated)))
    assert len(kept) == 522 and guard.seen == 523
    ((pmid, source),) = guard.removed
    assert pmid in {d.pmid for d in read_pubtator(data_dir / "cdr" / "CDR_TestSet.PubTator.txt")}
    assert source.startswith(str(curated))
    print(guard.report())


def test_splits_cli(data_dir, tmp_path):
    result = CliRunner().invoke(app, ["splits", str(tmp_path), "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "T: 900 abstracts" in result.output and "lost" in result.output
    summary = json.loads((tmp_path / "splits.json").read_text())
    counts = {k: v["documents"] for k, v in summary["splits"].items()}
    assert counts == {"T": 900, "D": 100, "test": 500}
    nlp = make_bio_nlp()
    dev_docs = read_docbin(tmp_path / "D.spacy", nlp)
    assert [d.user_data["pmid"] for d in dev_docs] == summary["splits"]["D"]["pmids"]
    assert pmids(read_pubtator(tmp_path / "D.PubTator")) == summary["splits"]["D"]["pmids"]
    assert sum(len(d.ents) for d in dev_docs) == summary["splits"]["D"]["mentions"]
