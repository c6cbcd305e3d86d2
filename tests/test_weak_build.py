"""Building CDWC/CDWA: filtering, leak guard, duplicates, accounting, outputs, statistics, CLI."""

import json
from concurrent.futures.process import _RemoteTraceback as WorkerTraceback
from pathlib import Path

import pytest
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.cli.weak import expand_multi_values
from spacy_bioner.corpus.document import CorpusFormatError
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.corpus.splits import LeakGuard
from spacy_bioner.corpus.tokenizer import make_bio_nlp
from spacy_bioner.corpus.docbin import DocBinWriter, FastDocBin
from spacy_bioner.corpus.spacy_docs import doc_from_document
from spacy_bioner.weak.build import CachingTokenizer as TokenCache
from spacy_bioner.weak.build import build_weak_datasets
from spacy_bioner.weak.dictionary import DictionaryLabeller, StopList
from spacy_bioner.weak.kb import CHEMICAL, DISEASE, KnowledgeBase, load_knowledge_base
from spacy_bioner.weak.stats import DatasetStats, stats_from_file, table_markdown

# PMID 1: KB-linked; a supported chemical, an unsupported one, a composite disease whose second
# part is supported, a disease without id, a gene and a species.
# PMID 2: no KB entry. PMID 3: gold. PMID 1 again in the second file: a duplicate.
DOC1_TITLE = "Cisplatin and aspirin in renal failure."
DOC1_ABSTRACT = "Nephrotoxicity with TP53 in rats and pain."
FILE_A = f"""1|t|{DOC1_TITLE}
1|a|{DOC1_ABSTRACT}
1\t0\t9\tCisplatin\tChemical\tMESH:D002945
1\t14\t21\taspirin\tChemical\tMESH:D001241
1\t25\t38\trenal failure\tDisease\tMESH:D007676|MESH:D051437
1\t40\t54\tNephrotoxicity\tDisease\t-
1\t60\t64\tTP53\tGene\t7157
1\t68\t72\trats\tSpecies\t10116
1\t77\t81\tpain\tDisease\tMESH:D010146

2|t|Lithium and mania.
2|a|Lithium treats mania.
2\t0\t7\tLithium\tChemical\tMESH:D008094
2\t12\t17\tmania\tDisease\tMESH:D001714

3|t|Gold abstract about cocaine.
3|a|Cocaine.
3\t20\t27\tcocaine\tChemical\tMESH:D003042
"""
FILE_B = f"""1|t|{DOC1_TITLE}
1|a|{DOC1_ABSTRACT}
1\t0\t9\tCisplatin\tChemical\tMESH:D002945

4|t|Valproate and seizures.
4|a|No annotations here.
4\t0\t9\tValproate\tChemical\tMESH:D014635
"""
GOLD = "3|t|Gold abstract about cocaine.\n3|a|Cocaine.\n"
# its annotation does not match the text: unlabeled inputs are read as text only
UNLABELED = "5|t|Haloperidol and akathisia.\n5|a|A gene: TP53.\n5\t34\t38\tTP53\tGene\t7157\n"


@pytest.fixture()
def inputs(tmp_path):
    paths = {}
    for name, text in (("a.PubTator", FILE_A), ("b.PubTator", FILE_B), ("gold.txt", GOLD),
                       ("unlabeled.PubTator", UNLABELED)):
        paths[name] = tmp_path / name
        paths[name].write_text(text, encoding="utf-8")
    return paths


@pytest.fixture()
def kb():
    kb = KnowledgeBase()
    kb.pmids["1"] = kb._entities("1")
    kb.pmids["1"].chemicals.add("D002945")
    kb.pmids["1"].diseases.update({"D051437", "D010146"})
    kb.pmids["4"] = kb._entities("4")
    kb.pmids["4"].chemicals.add("D014635")
    kb.pmids["5"] = kb._entities("5")
    kb.pmids["5"].chemicals.add("D006220")
    return kb


@pytest.fixture(scope="module")
def nlp():
    return make_bio_nlp()


def keys(path):
    return {(d.pmid, m.start, m.end, m.type) for d in read_pubtator(path) for m in d.mentions}


def test_build_filters_counts_and_writes(tmp_path, inputs, kb, nlp):
    out = tmp_path / "out"
    guard = LeakGuard.from_files([inputs["gold.txt"]])
    result = build_weak_datasets([inputs["a.PubTator"], inputs["b.PubTator"]], kb, out,
                                 guard=guard, nlp=nlp, progress=False)
    report = result.report
    assert report.accounting_errors() == []
    cdwc, cdwa = keys(out / "CDWC.PubTator.gz"), keys(out / "CDWA.PubTator.gz")
    assert cdwa <= cdwc
    assert cdwa == {("1", 0, 9, CHEMICAL), ("1", 25, 38, DISEASE), ("1", 77, 81, DISEASE),
                    ("4", 0, 9, CHEMICAL)}
    assert {k[0] for k in cdwc} == {"1", "2", "4"}
    assert [d.pmid for d in read_pubtator(out / "CDWA.PubTator.gz")] == ["1", "4"]
    m = {k: dict(v) for k, v in report.mentions.items()}
    assert m["read"] == {CHEMICAL: 6, DISEASE: 4, "Gene": 1, "Species": 1}
    assert m["filtered_by_type"] == {"Gene": 1, "Species": 1}
    assert m["duplicate_document"] == {CHEMICAL: 1} and m["gold_document"] == {CHEMICAL: 1}
    assert m["removed_no_id"] == {DISEASE: 1} and m["removed_not_in_kb"] == {CHEMICAL: 1}
    assert m["removed_no_kb_entry"] == {CHEMICAL: 1, DISEASE: 1}  # PMID 2
    assert report.duplicates == 1 and report.duplicate_examples[0]["pmid"] == "1"
    saved = json.loads((out / "report.json").read_text())
    assert saved["leak_guard"]["removed"] == [{"pmid": "3", "source": f"{inputs['a.PubTator']}:16"}]
    assert saved["accounting_errors"] == [] and saved["documents"]["CDWA"] == 2
    stats = json.loads((out / "stats.json").read_text())
    assert stats["CDWC"]["abstracts"] == 3 and stats["CDWA"]["abstracts"] == 2
    assert stats["CDWC"]["mentions"] == {CHEMICAL: 4, DISEASE: 4}
    # unique ids: composite ids count per part; the id-less mention has none
    assert stats["CDWC"]["unique_ids"] == {CHEMICAL: 4, DISEASE: 4}
    assert stats["CDWC"]["mentions_without_id"] == {CHEMICAL: 0, DISEASE: 1}
    assert stats["CDWA"]["mentions"] == {CHEMICAL: 2, DISEASE: 2}
    assert "| CDWA | 2 |" in (out / "stats.md").read_text()
    docs = list(DocBin(store_user_data=True).from_disk(out / "CDWA.spacy").get_docs(nlp.vocab))
    assert [d.user_data["pmid"] for d in docs] == ["1", "4"]
    assert [(e.text, e.label_) for e in docs[0].ents] == [
        ("Cisplatin", CHEMICAL), ("renal failure", DISEASE), ("pain", DISEASE)]
    assert stats["CDWA"]["tokens"] == sum(len(d) for d in docs)


def test_keep_unlinked_and_dictionary_inputs(tmp_path, inputs, kb, nlp):
    labeller = DictionaryLabeller(stoplist=StopList())
    labeller.add_term("haloperidol", CHEMICAL, "D006220", 2)
    labeller.add_term("akathisia", DISEASE, "D017109", 2)
    result = build_weak_datasets([inputs["a.PubTator"]], kb, tmp_path / "out",
                                 unlabeled=[inputs["unlabeled.PubTator"]], labeller=labeller,
                                 nlp=nlp, require_kb=False, progress=False, docbin=False)
    report = result.report
    assert report.accounting_errors() == []
    assert "replaced_by_dictionary" not in report.mentions  # annotations of unlabeled: unread
    assert report.inputs[1]["annotations"].startswith("ignored")
    assert dict(report.mentions["dictionary_labels"]) == {CHEMICAL: 1, DISEASE: 1}
    cdwc, cdwa = keys(tmp_path / "out" / "CDWC.PubTator.gz"), keys(tmp_path / "out" / "CDWA.PubTator.gz")
    assert ("5", 0, 11, CHEMICAL) in cdwc and ("5", 16, 25, DISEASE) in cdwc
    assert ("5", 0, 11, CHEMICAL) in cdwa and ("5", 16, 25, DISEASE) not in cdwa
    assert report.documents["CDWA"] == report.documents["CDWC"] == 4  # gold kept: no guard
    assert [s.name for s in result.stats] == ["CDWC", "CDWA", "CDWC (dictionary part)"]
    assert not (tmp_path / "out" / "CDWC.spacy").exists()
    with pytest.raises(ValueError, match="labeller"):
        build_weak_datasets([], kb, tmp_path / "x", unlabeled=[inputs["unlabeled.PubTator"]])


def test_fast_docbin_writes_the_bytes_of_docbin(inputs, nlp):
    docs = [doc_from_document(nlp, d) for d in read_pubtator(inputs["a.PubTator"])]
    docs.append(nlp.make_doc(""))
    plain, fast = DocBin(store_user_data=True), FastDocBin()
    for doc in docs:
        plain.add(doc)
        fast.add(doc)
    assert fast.strings == plain.strings and fast.to_bytes() == plain.to_bytes()


def test_docbin_shards(tmp_path, nlp):
    writer = DocBinWriter(tmp_path / "set.spacy", shard_size=2)
    for text in ("a b", "c d", "e f"):
        writer.add(nlp.make_doc(text))
    writer.close()
    shards = sorted(p.name for p in (tmp_path / "set.spacy").iterdir())
    assert shards == ["shard-00000.spacy", "shard-00001.spacy"]
    by_tokens = DocBinWriter(tmp_path / "tok.spacy", shard_size=100, shard_tokens=3)
    for text in ("a b", "c d", "e f"):
        by_tokens.add(nlp.make_doc(text))
    by_tokens.close()
    assert len(list((tmp_path / "tok.spacy").iterdir())) == 2
    assert stats_from_file(tmp_path / "set.spacy").abstracts == 3
    from spacy.training import Corpus

    assert len(list(Corpus(tmp_path / "set.spacy")(nlp))) == 3


def test_token_cache_reuses_and_renews(nlp):
    made = []

    def factory():
        made.append(1)
        return nlp

    cache = TokenCache(nlp, factory, refresh=2)
    first, again = cache.make_doc("a b"), cache.make_doc("a b")
    assert first is not again and [t.text for t in again] == ["a", "b"]
    cache.make_doc("c d")
    assert made == [1] and cache.vocab is nlp.vocab


def test_stats_arithmetic_and_table():
    from spacy_bioner.corpus.document import Document, Mention

    stats = DatasetStats("X")
    stats.add(Document("1", "a", "b", [Mention(0, 1, "a", CHEMICAL, ("MESH:D1", "D2")),
                                       Mention(2, 3, "b", CHEMICAL, ("D1",)),
                                       Mention(2, 3, "b", DISEASE, ("-1",))]), 5)
    stats.add(Document("2", "a", "b", [Mention(0, 1, "a", DISEASE, ("OMIM:1",))]), 7)
    data = stats.to_dict()
    assert data["abstracts"] == 2 and data["tokens"] == 12 and data["mentions_total"] == 4
    assert data["mentions"] == {CHEMICAL: 2, DISEASE: 2}
    assert data["unique_ids"] == {CHEMICAL: 2, DISEASE: 1}
    assert data["mentions_without_id"] == {CHEMICAL: 0, DISEASE: 1}
    assert table_markdown([stats]).splitlines()[-1] == "| X | 2 | 12 | 2 | 2 | 2 | 1 |"
    relabelled = DatasetStats("R")  # a model's output: spans without ids
    relabelled.add(Document("1", "a", "b", [Mention(0, 1, "a", CHEMICAL)]), 3)
    assert relabelled.to_dict()["unique_ids"] == {CHEMICAL: None, DISEASE: 0}
    assert table_markdown([relabelled]).splitlines()[-1] == "| R | 1 | 3 | 1 | n/a | 0 | 0 |"


def test_expand_multi_values():
    args = ["--pubtator", "a", "b", "--output", "o", "--gold", "g1", "g2", "--", "--x"]
    assert expand_multi_values(args, {"--pubtator", "--gold"}) == [
        "--pubtator", "a", "--pubtator", "b", "--output", "o", "--gold", "g1", "--gold", "g2",
        "--", "--x"]


# More unlabeled abstracts (for several chunks): PMID 2 again (a duplicate across kinds of
# input), PMID 3 (gold), and some the dictionary labels.
MORE_UNLABELED = "".join(
    f"{pmid}|t|{title}\n{pmid}|a|{abstract}\n\n" for pmid, title, abstract in [
        ("6", "Haloperidol-induced akathisia.", "Akathisia after haloperidol (HAL)."),
        ("2", "Lithium and mania.", "Lithium treats mania."),
        ("7", "No entities here.", "Nothing at all."),
        ("3", "Gold abstract about cocaine.", "Cocaine."),
        ("8", "Akathisia.", "HAL and haloperidol, akathisia twice: akathisia."),
        ("9", "Aspirin.", "Haloperidol."),
    ])


def _labeller():
    labeller = DictionaryLabeller(stoplist=StopList())
    labeller.add_term("haloperidol", CHEMICAL, "D006220", 2)
    labeller.add_term("akathisia", DISEASE, "D017109", 2)
    return labeller


def _outputs(folder):
    """Every output file's bytes (report.json without its output paths, key order kept)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "report.json":
                report = json.loads(data)
                report.pop("outputs")
                data = json.dumps(report).encode()
            files[str(path.relative_to(folder))] = data
    return files


def _docbin(path, nlp):
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return [(d.text, [t.whitespace_ for t in d], d.user_data,
             [(e.start_char, e.end_char, e.label_, e.kb_id_) for e in d.ents])
            for f in files for d in DocBin(store_user_data=True).from_disk(f).get_docs(nlp.vocab)]


@pytest.mark.parametrize("chunk_size", [1, 2, 32])
def test_workers_build_what_one_process_builds(tmp_path, inputs, kb, nlp, chunk_size):
    more = tmp_path / "more.PubTator"
    more.write_text(MORE_UNLABELED, encoding="utf-8")
    results = {}
    for n_process in (1, 2):
        guard = LeakGuard.from_files([inputs["gold.txt"]])
        results[n_process] = build_weak_datasets(
            [inputs["a.PubTator"], inputs["b.PubTator"]], kb, tmp_path / str(n_process),
            guard=guard, unlabeled=[inputs["unlabeled.PubTator"], more], labeller=_labeller(),
            nlp=nlp if n_process == 1 else None,  # workers: their own, renewed pipelines
            shard_size=2, progress=False, n_process=n_process, chunk_size=chunk_size)
    one, two = tmp_path / "1", tmp_path / "2"
    for name in ("CDWC.PubTator.gz", "CDWA.PubTator.gz"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert [d.pmid for d in read_pubtator(one / "CDWC.PubTator.gz")] == [
        "1", "2", "4", "5", "6", "7", "8", "9"]
    assert len(list((one / "CDWC.spacy").iterdir())) == 4  # sharded
    for name in ("CDWC.spacy", "CDWA.spacy"):
        assert _docbin(one / name, nlp) == _docbin(two / name, nlp)
    assert _outputs(one) == _outputs(two)  # shards, stats.json/.md, report.json too
    assert [s.to_dict() for s in results[1].stats] == [s.to_dict() for s in results[2].stats]
    reports = [results[n].report.to_dict() for n in (1, 2)]
    for report in reports:
        report.pop("outputs")
    assert json.dumps(reports[0]) == json.dumps(reports[1])
    report = results[2].report
    assert report.accounting_errors() == []
    assert report.duplicates == 3  # PMID 1 in b, PMIDs 2 and 3 (gold, seen in a) in more
    assert [r["pmid"] for r in report.leak_guard["removed"]] == ["3"]
    assert report.documents["dictionary_labelled"] == 5


def _failing_labeller(pmid, error):
    def label(document):
        if document.pmid == pmid:
            raise error
        return []
    return label


@pytest.mark.parametrize("error", [
    CorpusFormatError("labeller.tsv", 12, "the labeller cannot read this"),
    ValueError("no labels for PMID 8"),
])
def test_worker_errors_read_as_in_one_process(tmp_path, inputs, kb, nlp, error):
    more = tmp_path / "more.PubTator"
    more.write_text(MORE_UNLABELED, encoding="utf-8")
    bad = tmp_path / "bad.PubTator"  # read after the abstracts: its error comes later
    bad.write_text("10|t|Title.\n10|a|Abstract.\nnot a PubTator line\n", encoding="utf-8")
    # the labeller fails on PMID 8 (before the reading error) or never
    for fails in (True, False):
        labeller = _failing_labeller("8" if fails else "none", error)
        raised = []
        for n_process in (1, 2):
            with pytest.raises(type(error) if fails else CorpusFormatError) as caught:
                build_weak_datasets([inputs["a.PubTator"]], kb, tmp_path / str(n_process),
                                    unlabeled=[more, bad], labeller=labeller, nlp=nlp,
                                    progress=False, n_process=n_process, chunk_size=2)
            raised.append(caught.value)
        assert type(raised[0]) is type(raised[1]) and str(raised[0]) == str(raised[1])
        if fails:
            assert str(raised[1]) == str(error)
            assert isinstance(raised[1].__cause__, WorkerTraceback)
            assert "in label" in str(raised[1].__cause__)  # the worker's traceback
        else:
            assert str(raised[1]).startswith(f"{bad}:3: unrecognised line")
            assert (raised[1].path, raised[1].line) == (str(bad), 3)


def test_cli_build_and_stats(tmp_path, inputs):
    medic = tmp_path / "medic.tsv"
    medic.write_text("# header\nRenal failure\tMESH:D051437\t\t\t\tC12\tC\t\t\n")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("1\tchem_disease:x\tMESH:D051437\tMESH:D002945\n")
    out = tmp_path / "cli"
    runner = CliRunner()
    result = runner.invoke(app, [
        "weak", "build", "--pubtator", str(inputs["a.PubTator"]), str(inputs["b.PubTator"]),
        "--ctd", str(pairs), "--ctd-diseases", str(medic), "--gold", str(inputs["gold.txt"]),
        "--output", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 gold abstracts removed (3)" in result.output
    for name in ("CDWC.PubTator.gz", "CDWA.PubTator.gz", "CDWC.spacy", "CDWA.spacy",
                 "stats.json", "stats.md", "report.json"):
        assert (out / name).exists(), name
    assert keys(out / "CDWA.PubTator.gz") == {("1", 0, 9, CHEMICAL), ("1", 25, 38, DISEASE)}
    parallel = runner.invoke(app, [
        "weak", "build", "--pubtator", str(inputs["a.PubTator"]), str(inputs["b.PubTator"]),
        "--ctd", str(pairs), "--ctd-diseases", str(medic), "--gold", str(inputs["gold.txt"]),
        "--output", str(tmp_path / "cli2"), "--no-progress", "--n-process", "2"])
    assert parallel.exit_code == 0, parallel.output
    assert _outputs(out) == _outputs(tmp_path / "cli2")
    diseases = runner.invoke(app, [
        "weak", "build", "--pubtator", str(inputs["a.PubTator"]), str(inputs["b.PubTator"]),
        "--ctd", str(pairs), "--ctd-diseases", str(medic), "--gold", str(inputs["gold.txt"]),
        "--output", str(tmp_path / "cli3"), "--no-progress", "--types", "Disease"])
    assert diseases.exit_code == 0, diseases.output
    assert keys(tmp_path / "cli3" / "CDWA.PubTator.gz") == {("1", 25, 38, DISEASE)}
    assert {k[3] for k in keys(tmp_path / "cli3" / "CDWC.PubTator.gz")} == {DISEASE}
    stats = runner.invoke(app, ["weak", "stats", str(out / "CDWA.PubTator.gz"),
                                str(out / "CDWA.spacy"), "--name", "pubtator", "spacy"])
    assert stats.exit_code == 0, stats.output
    rows = [line for line in stats.output.splitlines() if line.startswith("| pubtator")
            or line.startswith("| spacy")]
    assert [r.split("|")[2:] for r in rows][0] == [r.split("|")[2:] for r in rows][1]
    bad = runner.invoke(app, ["weak", "build", "--pubtator", str(tmp_path / "missing"),
                              "--ctd", str(pairs), "--ctd-diseases", str(medic),
                              "--gold", str(inputs["gold.txt"]), "--output", str(out)])
    assert bad.exit_code == 1 and "missing is not a file" in bad.output


def test_real_curated_abstracts(tmp_path, data_dir, nlp):
    kb = load_knowledge_base([data_dir / "ctd" / "chemdisgene_curated_relationships.tsv.gz"],
                             data_dir / "ctd" / "CTD_diseases.tsv.gz",
                             data_dir / "mesh" / "mesh_descriptor_terms.tsv.gz")
    guard = LeakGuard.from_data_dir(data_dir)
    result = build_weak_datasets([data_dir / "pubtator" / "chemdisgene_curated.PubTator.gz"],
                                 kb, tmp_path / "real", guard=guard, nlp=nlp, progress=False,
                                 docbin=False)
    report = result.report
    assert report.accounting_errors() == []
    assert [pmid for pmid, _ in guard.removed] == ["16867246"]  # the one CDR test abstract
    assert report.documents_read == 523 and report.documents["CDWC"] == 522
    cdwc = keys(tmp_path / "real" / "CDWC.PubTator.gz")
    cdwa = keys(tmp_path / "real" / "CDWA.PubTator.gz")
    assert cdwa <= cdwc and len(cdwa) > 1000
    assert report.mentions["filtered_by_type"]["Gene"] > 1000
    assert {k[3] for k in cdwc} == {CHEMICAL, DISEASE}
