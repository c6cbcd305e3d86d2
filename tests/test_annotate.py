"""The ``annotate`` command: readers, writers and round trips, resume, failures, worker processes."""

from __future__ import annotations

import gzip
import json
import os
from hashlib import md5
from pathlib import Path
from typing import Dict, List

import bioc
import spacy
import pytest
from typer.testing import CliRunner

from spacy_bioner.annotate import Deleted, Failure, InputFile, Record, detect_format
from spacy_bioner.annotate.runner import shard_name
from spacy_bioner.cli import app
from spacy_bioner.corpus.bioc import read_bioc
from spacy_bioner.corpus.pubtator import read_pubtator

from annotate_data import PUBMED_TEXTS, PUBMED_XML, train_crf_model, write_pubmed

runner = CliRunner()
FORMATS = {"pubtator": ".PubTator", "bioc-xml": ".BioC.xml", "bioc-json": ".BioC.json", "jsonl": ".jsonl"}


def annotate(*args):
    return runner.invoke(app, ["annotate", *[str(a) for a in args]])


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return train_crf_model(tmp_path_factory.mktemp("annotate_model") / "crf")


@pytest.fixture
def pubmed(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    return write_pubmed(folder / "pubmed26n0001.xml.gz")


def items(path: Path, fmt: str = "auto") -> List:
    with InputFile(path, fmt) as infile:
        return list(infile.items())


def jsonl(path: Path) -> List[Dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------------------------
# Readers


def test_pubmed_reader_sections_missing_abstract_deletions_unicode(pubmed):
    got = items(pubmed)
    records = [i for i in got if isinstance(i, Record)]
    assert {r.id: (r.title, r.abstract) for r in records} == PUBMED_TEXTS
    assert records[0].where == f"{pubmed}:4" and records[1].text == PUBMED_TEXTS["1002"][0] + " "
    assert [(d.id, d.where) for d in got if isinstance(d, Deleted)] == [("999", f"{pubmed}:42"), ("998", f"{pubmed}:42")]
    assert not [f for f in got if isinstance(f, Failure)]


def test_pubmed_record_without_pmid_or_text_is_a_failure_and_reading_goes_on(tmp_path):
    text = PUBMED_XML.replace('<PMID Version="1">1002</PMID>', "").replace(
        "<ArticleTitle>Methotrexate toxicity</ArticleTitle>", ""
    ).replace("<Abstract><AbstractText>Acute renal failure after methotrexate.</AbstractText></Abstract>", "")
    got = items(write_pubmed(tmp_path / "p.xml", text))
    fails = [(f.where, f.reason) for f in got if isinstance(f, Failure)]
    assert fails == [
        (f"{tmp_path / 'p.xml'}:18", "<PubmedArticle> without a <PMID>"),
        (f"{tmp_path / 'p.xml'}:35", "PMID 1004 has neither a title nor an abstract"),
    ]
    assert [r.id for r in got if isinstance(r, Record)] == ["1001", "1003"]


def test_detect_format(tmp_path):
    cases = {
        "a.xml.gz": (gzip.compress(PUBMED_XML.encode()), "pubmed"),
        "b.xml": (b"<?xml version='1.0'?>\n<collection><source/></collection>", "bioc-xml"),
        "c.json": (b'{"source": "x", "date": "", "key": "", "infons": {},\n "documents": []}', "bioc-json"),
        "d": (b'{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n', "jsonl"),
        "e": (b"\n12|t|Title\n12|a|Abstract\n", "pubtator"),
        "f.txt": (b"Just some text.\nMore text.\n", "text"),
    }
    for name, (data, fmt) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with open(path, "rb") as fh:
            raw = gzip.GzipFile(fileobj=fh) if data[:2] == b"\x1f\x8b" else fh
            assert detect_format(raw, name) == fmt, name


def test_jsonl_and_text_readers(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a1", "text": "Lithium."}\n\n{"text": "No id."}\n[1, 2]\n{"id": 5, "text": "x"\n', "utf-8")
    got = items(path)
    assert [(r.id, r.text, r.where) for r in got if isinstance(r, Record)] == [
        ("a1", "Lithium.", f"{path}:1"), ("3", "No id.", f"{path}:3")
    ]
    assert [f.where for f in got if isinstance(f, Failure)] == [f"{path}:4", f"{path}:5"]
    text = tmp_path / "docs.txt"
    text.write_bytes(b"First line.\n\nThird line \xe9.\nFourth.\n")
    got = items(text, "text")
    assert [(r.id, r.text) for r in got if isinstance(r, Record)] == [("1", "First line."), ("4", "Fourth.")]
    assert [(f.where, f.reason) for f in got if isinstance(f, Failure)] == [
        (f"{text}:3", "not valid UTF-8: byte 0xe9 at column 12")
    ]


def test_shard_names():
    assert shard_name("/x/pubmed26n0001.xml.gz", "pubtator") == "pubmed26n0001.PubTator"
    assert shard_name("CDR_TestSet.PubTator.txt", "jsonl") == "CDR_TestSet.jsonl"
    assert shard_name("cdr.BioC.xml", "bioc-xml") == "cdr.BioC.xml"
    assert shard_name("notes", "bioc-json") == "notes.BioC.json"


# ---------------------------------------------------------------------------------------------
# The command: writers and round trips


def test_annotate_pubmed_every_format_and_round_trips(model, pubmed, tmp_path):
    shards = {}
    for fmt, suffix in FORMATS.items():
        out = tmp_path / f"out_{fmt}"
        result = annotate(model, pubmed.parent, "--output", out, "--format", fmt, "--batch-size", 3)
        assert result.exit_code == 0, result.output
        assert "annotated 4 documents" in result.output and "2 DeleteCitation PMIDs" in result.output
        shards[fmt] = out / f"pubmed26n0001{suffix}"
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["totals"]["documents"] == 4 and manifest["totals"]["deleted"] == 2
        assert manifest["per_shard"][0]["input_format"] == "pubmed"
        assert (out / "deleted.tsv").read_text().splitlines()[1:] == [f"{pubmed}\t999", f"{pubmed}\t998"]
        assert (out / "failures.tsv").read_text().splitlines() == ["file\tline_or_record\treason"]
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    # JSONL: the entities' offsets and texts agree, every confidence is a probability
    rows = jsonl(shards["jsonl"])
    texts = {pmid: t + " " + a for pmid, (t, a) in PUBMED_TEXTS.items()}
    assert {r["id"]: r["text"] for r in rows} == texts
    ents = {(r["id"], e["start"], e["end"], e["label"]) for r in rows for e in r["entities"]}
    assert ents, "the trained pipeline found no entity"
    for row in rows:
        for e in row["entities"]:
            assert row["text"][e["start"] : e["end"]] == e["text"] and 0 < e["confidence"] <= 1
    assert sum(len(r["entities"]) for r in rows) == json.loads((tmp_path / "out_jsonl/manifest.json").read_text())["totals"]["entities"]

    # every format holds the same texts and entities, read by the project's readers or the bioc package
    pubtator = list(read_pubtator(shards["pubtator"]))
    assert {(d.pmid, m.start, m.end, m.type) for d in pubtator for m in d.mentions} == ents
    assert {d.pmid: d.text for d in pubtator} == texts
    biocs = list(read_bioc(shards["bioc-xml"]))
    assert {(d.pmid, m.start, m.end, m.type) for d in biocs for m in d.mentions} == ents
    collection = bioc.biocjson.loads(shards["bioc-json"].read_text(encoding="utf-8"))
    got = {(d.id, a.total_span.offset, a.total_span.end, a.infons["type"]) for d in collection.documents
           for p in d.passages for a in p.annotations}  # fmt: skip
    assert got == ents

    # round trips: each output, annotated again in its own format, gives the same bytes
    for fmt, shard in shards.items():
        again = tmp_path / f"again_{fmt}"
        result = annotate(model, shard, "--output", again, "--format", fmt, "--batch-size", 3)
        assert result.exit_code == 0, result.output
        assert (again / shard.name).read_bytes() == shard.read_bytes(), fmt


def test_resume_force_and_a_mismatched_job(model, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for n in range(3):
        write_pubmed(inputs / f"pubmed26n000{n}.xml")
    out = tmp_path / "out"
    assert annotate(model, inputs, "--output", out, "--format", "pubtator").exit_code == 0
    first = {p.name: p.read_bytes() for p in out.glob("*.PubTator")}
    assert len(first) == 3
    (out / "pubmed26n0001.PubTator").unlink()
    (out / ".pubmed26n0001.PubTator.12345.tmp").write_text("left by a killed run")
    stamps = {name: os.stat(out / name).st_mtime_ns for name in first if name != "pubmed26n0001.PubTator"}
    result = annotate(model, f"{inputs}/*.xml", "--output", out, "--format", "pubtator")
    assert result.exit_code == 0, result.output
    assert "2 of 3 shards are finished already" in result.output and "into 1 shards" in result.output
    assert {p.name: p.read_bytes() for p in out.glob("*.PubTator")} == first
    assert not list(out.glob(".*.tmp"))
    assert {name: os.stat(out / name).st_mtime_ns for name in stamps} == stamps
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shards"] == 3 and manifest["totals"]["documents"] == 12

    result = annotate(model, inputs, "--output", out, "--format", "pubtator", "--force")
    assert result.exit_code == 0 and "into 3 shards" in result.output and "0 shards skipped" in result.output

    other = train_crf_model(tmp_path / "other", max_steps=1)
    result = annotate(other, inputs, "--output", out, "--format", "pubtator")
    assert result.exit_code == 2 and "use --force" in result.output


def test_failures_are_listed_and_the_rest_goes_on(model, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = "".join(f"{n}|t|Cisplatin induced nephrotoxicity.\n{n}|a|Naloxone {md5(str(n).encode()).hexdigest()}.\n\n"
                   for n in range(1, 601))  # fmt: skip
    # a truncated gzip: the records before the cut are written, the cut record and the rest are reported
    whole = gzip.compress(good.encode(), mtime=0)
    (inputs / "cut.PubTator.gz").write_bytes(whole[: len(whole) * 2 // 3])
    # a non-UTF-8 line and a malformed record (abstract of another PMID) in a PubTator file
    bad = (good.split("\n\n")[0] + "\n\n7|t|Lithium \xe9\n7|a|text\n\n8|t|Title\n9|a|other abstract\n\n"
           "10|t|Clonidine.\n10|a|Hypotension.\n")  # fmt: skip
    (inputs / "bad.PubTator").write_bytes(bad.encode("latin-1"))
    (inputs / "docs.jsonl").write_text('{"id": "j1", "text": "Lithium."}\n{"id": "j2" "text": 1}\n', "utf-8")
    write_pubmed(inputs / "pm.xml", PUBMED_XML.replace("</PubmedArticleSet>", "<PubmedArticle><MedlineCitation>"))
    (inputs / "empty.txt").write_text("", "utf-8")
    out = tmp_path / "out"
    result = annotate(model, inputs, "--output", out, "--format", "jsonl")
    assert result.exit_code == 1, result.output
    rows = [line.split("\t") for line in (out / "failures.tsv").read_text().splitlines()[1:]]
    by_file: Dict[str, List] = {}
    for file, where, reason in rows:
        by_file.setdefault(Path(file).name, []).append((where, reason))
    assert by_file["bad.PubTator"] == [
        ("4", "not valid UTF-8: byte 0xe9 at column 13"),
        ("8", "abstract line of PMID 9 follows the title of PMID 8 (line 7)"),
    ]
    assert by_file["docs.jsonl"] == [("2", "invalid JSON: Expecting ',' delimiter at column 13")]
    assert by_file["empty.txt"] == [("file", "empty file: no documents")]
    (pm_where, pm_reason), = by_file["pm.xml"]
    assert pm_where == "47" and pm_reason.startswith("invalid XML") and "rest of the file was not read" in pm_reason
    (cut_where, cut_reason), = by_file["cut.PubTator.gz"]
    assert "corrupt or truncated gzip data" in cut_reason
    written = jsonl(out / "cut.jsonl")
    assert 0 < len(written) < 600 and [r["id"] for r in written] == [str(n) for n in range(1, len(written) + 1)]
    assert int(cut_where) == 3 * len(written) + 1  # the first record not written starts there
    assert [r["id"] for r in jsonl(out / "bad.jsonl")] == ["1", "10"]
    assert [r["id"] for r in jsonl(out / "docs.jsonl")] == ["j1"]
    assert [r["id"] for r in jsonl(out / "pm.jsonl")] == ["1001", "1002", "1003", "1004"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["failed"] == len(rows) == 6
    # a rerun skips the finished shards and still reports their failures
    again = annotate(model, inputs, "--output", out, "--format", "jsonl")
    assert again.exit_code == 1 and "5 of 5 shards are finished" in again.output
    assert (out / "failures.tsv").read_text().count("\n") == 7


def test_bad_arguments_are_clean_errors(model, tmp_path):
    assert "does not exist" in annotate(model, tmp_path / "nope.xml", "-o", tmp_path / "o").output
    write_pubmed(tmp_path / "a.xml")
    assert "neither a folder nor an installed package" in annotate(tmp_path / "nomodel", tmp_path / "a.xml", "-o", tmp_path / "o").output
    assert "--format 'xml'" in annotate(model, tmp_path / "a.xml", "-o", tmp_path / "o", "--format", "xml").output
    (tmp_path / "b").mkdir()
    write_pubmed(tmp_path / "b" / "a.xml.gz")
    result = annotate(model, tmp_path / "a.xml", tmp_path / "b", "-o", tmp_path / "o")
    assert result.exit_code == 2 and "both be written to the shard a.jsonl" in result.output


def test_two_worker_processes_write_the_same_bytes(model, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for n in range(3):
        write_pubmed(inputs / f"p{n}.xml.gz")
    (inputs / "t.txt").write_text("\n".join(f"Cisplatin {n} induced nephrotoxicity ." for n in range(30)), "utf-8")
    outs = {}
    for n_process in (1, 2):
        out = tmp_path / f"out{n_process}"
        result = annotate(model, inputs, "--output", out, "--n-process", n_process, "--batch-size", 4, "--no-progress")
        assert result.exit_code == 0, result.output
        outs[n_process] = {p.name: p.read_bytes() for p in out.glob("*.jsonl")}
    assert len(outs[1]) == 4 and outs[1] == outs[2]


def test_link_adds_concept_ids_to_jsonl_and_pubtator(tmp_path):
    from spacy_bioner.linking import IndexParams, build_entities, build_index

    mirror = tmp_path / "mirror"
    (mirror / "mesh").mkdir(parents=True)
    (mirror / "ctd").mkdir()
    rows = ["DescriptorUI\tDescriptorName\tTermName\ttree_tops", "D000001\tDopamine\tDopamine\tD02",
            "D000003\tCocaine\tCocaine\tD03", "D000005\tHypertension\tHypertension\tC14"]  # fmt: skip
    (mirror / "mesh/mesh_descriptor_terms.tsv.gz").write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    ctd = "# Fields:\n# DiseaseName\tDiseaseID\tAltDiseaseIDs\tDefinition\tParentIDs\tTreeNumbers\tParentTreeNumbers\tSynonyms\tSlimMappings\n#\n"
    (mirror / "ctd/CTD_diseases.tsv.gz").write_bytes(gzip.compress(ctd.encode()))
    for kind in ("chemical", "disease"):
        (mirror / f"mesh/{kind}_terms_lower.tsv.gz").write_bytes(gzip.compress(b""))
    index = tmp_path / "index"
    build_index(build_entities(mirror), index, IndexParams(m=8, ef_construction=50, ef_search=100, threads=1))
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([
        {"label": "Chemical", "pattern": "Dopamine"}, {"label": "Chemical", "pattern": "DA"},
        {"label": "Chemical", "pattern": "zzzine"}, {"label": "Disease", "pattern": "hypertension"},
    ])  # fmt: skip
    nlp.to_disk(tmp_path / "ruler")
    (tmp_path / "in").mkdir()
    (tmp_path / "in/docs.jsonl").write_text(json.dumps({"id": "d1", "text": "Dopamine (DA) raised zzzine and hypertension."}) + "\n")
    out = tmp_path / "out"
    for fmt in ("jsonl", "pubtator"):
        result = annotate(tmp_path / "ruler", tmp_path / "in", "-o", out, "--format", fmt, "--link", index)
        assert result.exit_code == 0, result.output
    (row,) = jsonl(out / "docs.jsonl")
    got = [(e["text"], e["kb_id"], [c for c, _ in e["kb_ents"]][:1], e["confidence"]) for e in row["entities"]]
    assert got == [("Dopamine", "D000001", ["D000001"], None), ("DA", "D000001", ["D000001"], None),
                   ("zzzine", "", [], None), ("hypertension", "D000005", ["D000005"], None)]  # fmt: skip
    lines = (out / "docs.PubTator").read_text().splitlines()
    assert [line.split("\t")[3:] for line in lines[2:] if line] == [
        ["Dopamine", "Chemical", "D000001"], ["DA", "Chemical", "D000001"],
        ["zzzine", "Chemical", "-1"], ["hypertension", "Disease", "D000005"],
    ]  # fmt: skip


@spacy.Language.component("annotate_test_boom")
def _boom(doc):
    if "BOOM" in doc.text:
        raise RuntimeError("cannot tag this")
    return doc


def test_pipeline_and_writer_errors_fail_single_records(tmp_path):
    from spacy_bioner.annotate.runner import tag_texts

    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "Chemical", "pattern": "lithium"}])
    nlp.add_pipe("annotate_test_boom")
    n_strings = len(nlp.vocab.strings)
    got = tag_texts(nlp, ["lithium", "BOOM lithium", "no entity", "unseenword12345"], link=False)
    assert len(nlp.vocab.strings) == n_strings  # the batch ran in a memory zone
    assert got[0] == [(0, 7, "lithium", "Chemical", None, "", ())]
    assert got[1] == "pipeline error: RuntimeError: cannot tag this" and got[2] == got[3] == []
    nlp.to_disk(tmp_path / "boom")
    (tmp_path / "in").mkdir()
    rows = [{"id": "ok", "text": "lithium"}, {"id": "a b", "text": "lithium"}, {"id": "c", "text": "BOOM"}]
    (tmp_path / "in/d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = annotate(tmp_path / "boom", tmp_path / "in", "-o", tmp_path / "out", "--format", "pubtator")
    assert result.exit_code == 1
    failures = (tmp_path / "out/failures.tsv").read_text().splitlines()[1:]
    assert [f.split("\t")[1:] for f in failures] == [
        ["2", "cannot be written as pubtator: PMID 'a b' must be non-empty, without '|' or whitespace"],
        ["3", "pipeline error: RuntimeError: cannot tag this"],
    ]
    assert (tmp_path / "out/d.PubTator").read_text() == "ok|t|lithium\nok|a|\nok\t0\t7\tlithium\tChemical\n\n"
