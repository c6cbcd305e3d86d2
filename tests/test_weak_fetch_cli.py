"""`weak fetch` end to end against the local fake NCBI server (127.0.0.1 only), then `weak build`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.weak.kb import MeshIndexing

from http_server import FakeNCBI, Fault, pubmed_article, pubtator_record

PMIDS = [str(2000001 + i) for i in range(130)]
MISSING = "2999999"


pytestmark = pytest.mark.usefixtures("only_localhost")  # conftest.py: 127.0.0.1 only


def record(pmid: str):
    title = f"Cisplatin nephrotoxicity in patients of study {pmid}."
    abstract = "Cisplatin caused renal failure."
    off = len(title) + 1
    mentions = [(0, 9, "Cisplatin", "Chemical", "MESH:D002945"),
                (off, off + 9, "Cisplatin", "Chemical", "MESH:D002945"),
                (off + 17, off + 30, "renal failure", "Disease", "MESH:D051437")]
    return title, abstract, mentions


@pytest.fixture
def server():
    pubtator = {p: pubtator_record(p, *record(p)) for p in PMIDS}
    pubmed = {p: pubmed_article(p, record(p)[0], [("", record(p)[1])], mesh=[("D051437", False, True)],
                                substances=["D002945"]) for p in PMIDS}
    with FakeNCBI(pubtator, pubmed) as srv:
        yield srv


def fetch_args(server, pmids_file: Path, out: Path, cache: Path):
    return ["weak", "fetch", str(pmids_file), "--output", str(out), "--cache", str(cache), "--no-progress",
            "--rate", "50", "--pubtator-url", f"{server.url}/pubtator3-api",
            "--eutils-url", f"{server.url}/entrez/eutils"]


def test_fetch_then_build(server, tmp_path: Path) -> None:
    pmids_file = tmp_path / "pmids.txt"
    pmids_file.write_text("# CTD-linked PMIDs\n" + "\n".join(PMIDS[:70]) + "\n" + ", ".join(PMIDS[70:])
                          + f"\n{MISSING}\n{PMIDS[0]}\n")
    out, cache = tmp_path / "fetched", tmp_path / "cache.sqlite"
    server.fail_next("pubtator", Fault(status=429, headers={"Retry-After": "0"}))
    server.fail_next("efetch", Fault(status=500))
    runner = CliRunner()
    result = runner.invoke(app, fetch_args(server, pmids_file, out, cache))
    assert result.exit_code == 1, result.output  # one PMID failed: reported, not dropped
    docs = list(read_pubtator(out / "pubtator.PubTator.gz"))
    assert [d.pmid for d in docs] == PMIDS  # asked-for order, the duplicate once
    assert all(len(d.mentions) == 3 for d in docs)
    failed = (out / "failed.tsv").read_text().splitlines()
    assert failed[0] == "pmid\tservice\treason"
    assert sorted(line.split("\t")[:2] for line in failed[1:]) == [[MISSING, "E-utilities"], [MISSING, "PubTator3"]]
    index = MeshIndexing.from_file(out / "mesh_indexing.tsv")
    assert len(index) == len(PMIDS) and index.get(PMIDS[5]) == {"D051437", "D002945"}
    summary = json.loads((out / "fetch.json").read_text())
    assert summary["pubtator"]["fetched"] == len(PMIDS) and summary["failed"] == 2

    # a second run is served by the cache: only the failed PMID is asked for again
    before = len(server.requests("pubtator")) + len(server.requests("efetch"))
    again = runner.invoke(app, fetch_args(server, pmids_file, tmp_path / "again", cache))
    assert again.exit_code == 1
    asked = [r for r in server.log[before:]]
    assert asked and all(r.pmids == (MISSING,) for r in asked)

    # the fetched files feed `weak build`: CDWA keeps the spans the MeSH indexing confirms
    medic = tmp_path / "medic.tsv"
    medic.write_text("# header\nRenal failure\tMESH:D051437\t\t\t\tC12\tC\t\t\n")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("1\tchem_disease:x\tMESH:D051437\tMESH:D002945\n")
    gold = tmp_path / "gold.txt"
    gold.write_text("1|t|Gold.\n1|a|Abstract.\n\n")
    built = runner.invoke(app, ["weak", "build", "--pubtator", str(out / "pubtator.PubTator.gz"),
                                "--ctd", str(pairs), "--ctd-diseases", str(medic), "--gold", str(gold),
                                "--mesh-indexing", str(out / "mesh_indexing.tsv"),
                                "--output", str(tmp_path / "weak"), "--no-progress"])
    assert built.exit_code == 0, built.output
    cdwa = list(read_pubtator(tmp_path / "weak" / "CDWA.PubTator.gz"))
    assert len(cdwa) == len(PMIDS) and all(len(d.mentions) == 3 for d in cdwa)


def test_empty_pmid_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "none.txt"
    empty.write_text("# nothing\n\n")
    result = CliRunner().invoke(app, ["weak", "fetch", str(empty), "--output", str(tmp_path / "o")])
    assert result.exit_code == 1 and "no PMIDs" in result.output
