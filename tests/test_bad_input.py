"""Bad input never passes silently: each case of issue 24, as a reader or a CLI command meets it.

Every damaged file either reads completely or ends the command with exit 1 and one line that
names the file and the line (or record). The generated cases are in ``test_fuzz_input.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpus.bioc import read_bioc
from spacy_bioner.corpus.document import CorpusFormatError
from spacy_bioner.corpus.pubtator import format_pubtator, read_pubtator

FIXTURES = Path(__file__).parent / "fixtures" / "pubtator"
runner = CliRunner()

# Three records; line numbers: 101 title 1, abstract 2, mentions 3-4; 102 at 6; 103 at 11.
GOOD = (
    "101|t|Cisplatin nephrotoxicity.\n"
    "101|a|Acute renal failure after lithium.\n"
    "101\t0\t9\tCisplatin\tChemical\tD002945\n"
    "101\t26\t45\tAcute renal failure\tDisease\tD058186\n"
    "\n"
    "102|t|Naloxone and hypotension.\n"
    "102|a|No effect.\n"
    "102\t0\t8\tNaloxone\tChemical\tD009270\n"
    "102\t13\t24\thypotension\tDisease\tD007022\n"
    "\n"
    "103|t|Lithium.\n"
    "103|a|Seizures after lithium.\n"
    "103\t0\t7\tLithium\tChemical\tD008094\n"
    "103\t9\t17\tSeizures\tDisease\tD012640\n"
    "\n"
)


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def one_error_line(result) -> str:
    """The command failed cleanly: exit 1, no traceback; return its error line."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.startswith("error")]
    assert lines, result.output
    return lines[-1]


def read_error(path: Path) -> CorpusFormatError:
    with pytest.raises(CorpusFormatError) as err:
        list(read_pubtator(path))
    return err.value


# ---------------------------------------------------------------------------------------------
# Line endings, BOMs, truncation, damaged columns (the readers)


def test_good_sample_reads_in_lf_and_crlf(tmp_path: Path) -> None:
    lf = list(read_pubtator(write(tmp_path / "lf.txt", GOOD)))
    crlf = list(read_pubtator(write(tmp_path / "crlf.txt", GOOD.replace("\n", "\r\n"))))
    assert [(d.pmid, len(d.mentions)) for d in lf] == [("101", 2), ("102", 2), ("103", 2)]
    assert [(d.pmid, d.text, d.mentions) for d in crlf] == [(d.pmid, d.text, d.mentions) for d in lf]


def test_cr_only_line_endings_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "mac.txt", GOOD.replace("\n", "\r"))
    err = read_error(path)
    assert (err.path, err.line) == (str(path), 1)
    assert "carriage return" in err.problem and "CR-only" in err.problem
    result = invoke("convert", path, tmp_path / "out.spacy")
    assert f"{path}:1: carriage return" in one_error_line(result)
    assert not (tmp_path / "out.spacy").exists()


def test_a_stray_cr_inside_a_line_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "cr.txt", GOOD.replace("Naloxone and", "Naloxone\rand"))
    err = read_error(path)
    assert err.line == 6 and "column 15" in err.problem


@pytest.mark.parametrize("start", ["x22", " 22", "NA", ""])
def test_non_numeric_start_column_is_an_error_not_a_relation(tmp_path: Path, start: str) -> None:
    path = write(tmp_path / "start.txt", GOOD.replace("101\t26\t45", f"101\t{start}\t45"))
    err = read_error(path)
    assert err.line == 4 and f"start offset {start!r} is not an integer" in err.problem


def test_a_relation_line_still_reads_as_a_relation(tmp_path: Path) -> None:
    path = write(tmp_path / "cid.txt", GOOD.replace("\n\n102|t", "\n101\tCID\tD002945\tD058186\n\n102|t"))
    docs = list(read_pubtator(path))
    assert [(r.type, r.args) for r in docs[0].relations] == [("CID", ("D002945", "D058186"))]


@pytest.mark.parametrize("cut", ["\tChem", "Seizures aft", "103|a", "103\t9\t1"])
def test_a_file_cut_inside_a_line_is_an_error(tmp_path: Path, cut: str) -> None:
    text = GOOD[: GOOD.rindex(cut) + len(cut)]
    path = write(tmp_path / "cut.txt", text)
    err = read_error(path)
    assert err.line == text.count("\n") + 1 and "truncated" in err.problem


def test_a_truncated_type_never_becomes_a_new_type(tmp_path: Path) -> None:
    text = GOOD[: GOOD.rindex("\tChem") + 5]
    path = write(tmp_path / "cut.txt", text)
    result = invoke("score", path, path)
    assert f"{path}:13: the file ends inside this line" in one_error_line(result)


def test_a_bom_in_mid_file_names_it(tmp_path: Path) -> None:
    path = write(tmp_path / "cat.txt", GOOD + "\ufeff" + GOOD.replace("10", "20"))
    err = read_error(path)
    assert err.line == 16 and "byte-order mark (U+FEFF" in err.problem
    assert "\ufeff" not in str(err)
    assert list(read_pubtator(write(tmp_path / "bom.txt", "\ufeff" + GOOD)))  # at the start: fine


def _bioc_with_duplicate(tmp_path: Path, same: bool) -> Path:
    xml = (FIXTURES / "cdr_sample.BioC.xml").read_text(encoding="utf8")
    start = xml.index("<document>")
    end = xml.index("</document>") + len("</document>")
    first = xml[start:end]
    copy = first if same else first.replace("Naloxone reverses", "Naloxone reversed")
    return write(tmp_path / "dup.BioC.xml", xml[:end] + "\n" + copy + xml[end:])


def test_bioc_duplicate_pmids_are_an_error(tmp_path: Path) -> None:
    path = _bioc_with_duplicate(tmp_path, same=False)
    with pytest.raises(CorpusFormatError, match=r"duplicated PMID 1000001: already at line 6"):
        list(read_bioc(path))
    result = invoke("convert", path, tmp_path / "out.spacy", "--format", "bioc")
    assert "duplicated PMID 1000001" in one_error_line(result)


def test_bioc_identical_repeat_warns_like_pubtator(tmp_path: Path) -> None:
    from spacy_bioner.corpus.pubtator import DuplicateRecordWarning

    path = _bioc_with_duplicate(tmp_path, same=True)
    with pytest.warns(DuplicateRecordWarning, match="PMID 1000001 repeats"):
        docs = list(read_bioc(path))
    assert [d.pmid for d in docs][:2] == ["1000001", "1000001"]


def test_writer_refuses_what_would_not_read_back() -> None:
    from spacy_bioner.corpus.document import Document, Relation

    with pytest.raises(ValueError, match="shape of a mention line"):
        format_pubtator(Document("1", "a", "b", [], [Relation("gene", ("22", "x", "y"))]))



# ---------------------------------------------------------------------------------------------
# Outputs: written complete or not at all, paths checked before any work


def test_atomic_path_leaves_no_file_on_error(tmp_path: Path) -> None:
    from spacy_bioner.atomic import atomic_open

    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf8")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("half")
            raise RuntimeError("stop")
    assert target.read_text(encoding="utf8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_write_pubtator_that_fails_leaves_no_half_file(tmp_path: Path) -> None:
    from spacy_bioner.corpus.document import Document
    from spacy_bioner.corpus.pubtator import write_pubtator

    good = list(read_pubtator(write(tmp_path / "in.txt", GOOD)))
    bad = Document("104", "line\nbreak", "", [], [])
    for name in ("out.PubTator", "out.PubTator.gz"):
        with pytest.raises(ValueError, match="newline"):
            write_pubtator(good + [bad], tmp_path / name)
        assert not (tmp_path / name).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_convert_checks_its_paths_before_work(tmp_path: Path) -> None:
    gold = write(tmp_path / "in.txt", GOOD)
    result = invoke("convert", gold, tmp_path)
    assert f"OUTPUT_PATH {tmp_path} is a directory, not a file" in one_error_line(result)
    result = invoke("convert", tmp_path, tmp_path / "x.spacy")
    assert f"INPUT_PATH {tmp_path} is a directory, not a file" in one_error_line(result)
    result = invoke("convert", tmp_path / "absent.txt", tmp_path / "x.spacy")
    assert f"INPUT_PATH {tmp_path / 'absent.txt'} does not exist" in one_error_line(result)
    assert invoke("convert", gold, tmp_path / "ok.spacy").exit_code == 0


def test_evaluate_output_that_is_a_file_fails_before_loading_the_model(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.txt", GOOD)
    taken = write(tmp_path / "taken", "x")
    result = invoke("evaluate", tmp_path / "no_model", gold, "-o", taken)
    assert f"--output folder {taken} is a file, not a directory" in one_error_line(result)
    (tmp_path / "out" / "metrics.json").mkdir(parents=True)
    result = invoke("evaluate", tmp_path / "no_model", gold, "-o", tmp_path / "out")
    assert "metrics.json is a directory, not a file" in one_error_line(result)


def test_score_output_that_is_a_directory_fails_before_reading(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.txt", GOOD)
    result = invoke("score", gold, gold, "--output", tmp_path)
    assert f"output {tmp_path} is a directory, not a file" in one_error_line(result)
    result = invoke("score", gold, gold, "--details", gold / "x")
    assert f"{gold} is a file, not a directory" in one_error_line(result)


# ---------------------------------------------------------------------------------------------
# splits: checks across the files


def cdr_mirror(root: Path, train: str, dev: str, test: str) -> Path:
    (root / "cdr").mkdir(parents=True)
    for name, text in (("Training", train), ("Development", dev), ("Test", test)):
        write(root / "cdr" / f"CDR_{name}Set.PubTator.txt", text)
    return root


def records(*pmids: str) -> str:
    """One small record per PMID (the 103 record of GOOD under another PMID)."""
    block = GOOD[GOOD.index("103|t|"):]
    return "".join(block.replace("103", p) for p in pmids)


def test_splits_writes_complete_splits(tmp_path: Path) -> None:
    data = cdr_mirror(tmp_path / "data", records(*map(str, range(1, 16))),
                      records(*map(str, range(16, 21))), records("30", "31"))
    result = invoke("splits", tmp_path / "out", "--data", data)
    assert result.exit_code == 0, result.output
    splits = {n: [d.pmid for d in read_pubtator(tmp_path / "out" / f"{n}.PubTator")]
              for n in ("T", "D", "test")}
    assert (len(splits["T"]), len(splits["D"]), splits["test"]) == (18, 2, ["30", "31"])


def test_splits_rejects_a_pmid_in_train_and_test(tmp_path: Path) -> None:
    data = cdr_mirror(tmp_path / "data", records(*map(str, range(1, 16))),
                      records(*map(str, range(16, 21))), records("30", "7"))
    result = invoke("splits", tmp_path / "out", "--data", data)
    line = one_error_line(result)
    assert "CDR_TestSet.PubTator.txt:6: PMID 7 of split test is also in split" in line
    assert "CDR_TrainingSet.PubTator.txt:31" in line and "leaks" in line
    assert not (tmp_path / "out").exists()


def test_splits_rejects_a_pmid_in_train_and_dev_with_another_record(tmp_path: Path) -> None:
    dev = records(*map(str, range(16, 21))) + records("3").replace("Lithium.", "Lithium!")
    data = cdr_mirror(tmp_path / "data", records(*map(str, range(1, 16))), dev, records("30"))
    line = one_error_line(invoke("splits", tmp_path / "out", "--data", data))
    assert "CDR_DevelopmentSet.PubTator.txt:26: PMID 3 is also in" in line
    assert "CDR_TrainingSet.PubTator.txt:11 with a different record" in line


def test_splits_rejects_an_empty_held_out_share(tmp_path: Path) -> None:
    data = cdr_mirror(tmp_path / "data", records("1", "2"), records("3"), records("30"))
    line = one_error_line(invoke("splits", tmp_path / "out", "--data", data))
    assert "holding out 0.1 of 3 PMIDs leaves the held-out share empty" in line


def test_splits_names_a_missing_official_file(tmp_path: Path) -> None:
    data = cdr_mirror(tmp_path / "data", records("1"), records("2"), records("3"))
    (data / "cdr" / "CDR_TestSet.PubTator.txt").unlink()
    line = one_error_line(invoke("splits", tmp_path / "out", "--data", data))
    assert "CDR_TestSet.PubTator.txt: no such file (the official cdr test file" in line


def test_splits_output_that_is_a_file_fails_before_work(tmp_path: Path) -> None:
    data = cdr_mirror(tmp_path / "data", records("1"), records("2"), records("3"))
    taken = write(tmp_path / "taken", "x")
    line = one_error_line(invoke("splits", taken, "--data", data))
    assert f"OUTPUT_DIR {taken} is a file, not a directory" in line


# ---------------------------------------------------------------------------------------------
# evaluate: tabs in the text, whitespace tokens never start or end an entity

TAB_GOLD = (
    "201|t|Lithium and acute\trenal failure.\n"
    "201|a|Seizures   \n"
    "201\t0\t7\tLithium\tChemical\n"
    "\n"
)


def ruler_model(path: Path, patterns: list) -> Path:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    nlp.to_disk(path)
    return path


def test_evaluate_writes_a_predicted_entity_that_spans_a_tab(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.txt", TAB_GOLD)
    model = ruler_model(tmp_path / "model", [
        {"label": "Disease", "pattern": [{"LOWER": "acute"}, {"IS_SPACE": True}, {"LOWER": "renal"},
                                         {"LOWER": "failure"}]},
        {"label": "Chemical", "pattern": [{"LOWER": "lithium"}]},
    ])
    result = invoke("evaluate", model, gold, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    docs = list(read_pubtator(tmp_path / "out" / "predictions.PubTator"))
    assert [(m.start, m.end, m.text, m.type) for m in docs[0].mentions] == [
        (0, 7, "Lithium", "Chemical"), (12, 31, "acute\trenal failure", "Disease")]
    assert "201\t12\t31\tacute renal failure\tDisease" in (tmp_path / "out" / "predictions.PubTator").read_text()


def test_whitespace_entities_of_any_pipeline_give_no_mention(tmp_path: Path) -> None:
    import spacy

    from spacy_bioner.evaluation.predict import mentions_from_ents

    nlp = spacy.load(ruler_model(tmp_path / "model", [
        {"label": "Chemical", "pattern": [{"IS_SPACE": True}]},
        {"label": "Disease", "pattern": [{"IS_SPACE": True}, {"LOWER": "seizures"}]},
    ]))
    doc = nlp("Fever   \n\t  seizures")
    assert [e.text for e in doc.ents] == ["  \n\t  seizures"]
    assert [(m.start, m.end, m.text) for m in mentions_from_ents(doc)] == [(12, 20, "seizures")]
    assert mentions_from_ents(nlp("   \n\t  ")) == []


def test_crf_pipe_never_starts_or_ends_an_entity_on_whitespace() -> None:
    import numpy
    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("bioner_crf", config={"model": {"hidden_width": 8, "tanh_width": 8, "embed_rows": 100}})
    doc = nlp.make_doc("Lithium")
    nlp.initialize(lambda: [Example.from_dict(doc, {"entities": [(0, 7, "Chemical")]})])
    tags = pipe.tags
    for text in ("   \n\t  ", "Lithium   \n\t  ", "  \n\t  Lithium \t and"):
        doc = nlp.make_doc(text)
        path = numpy.asarray([tags.index("B-Chemical")] + [tags.index("I-Chemical")] * (len(doc) - 1))
        marginals = numpy.full((len(doc), len(tags)), 1.0 / len(tags), dtype="float32")
        pipe.set_annotations([doc], ([path], [marginals]))
        assert all(not e[0].is_space and not e[-1].is_space for e in doc.ents), (text, doc.ents)
        assert [e.text for e in doc.ents] == ([] if not text.strip() else [text.strip()])
        assert all(e._.confidence is not None for e in doc.ents)


# ---------------------------------------------------------------------------------------------
# The smaller cases


def test_score_rejects_a_type_typo(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.txt", GOOD)
    line = one_error_line(invoke("score", gold, gold, "--types", "Chemcial,Disease"))
    assert "--types: 'Chemcial' is not a type of" in line and "(types: Chemical, Disease)" in line
    assert invoke("score", gold, gold, "--types", "Disease").exit_code == 0


def test_evaluate_rejects_a_type_typo_before_predicting(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.txt", GOOD)
    model = ruler_model(tmp_path / "model", [{"label": "Gene", "pattern": [{"LOWER": "tp53"}]}])
    line = one_error_line(invoke("evaluate", model, gold, "-o", tmp_path / "out", "--types", "Chemcial"))
    assert "--types: 'Chemcial' is not a type of" in line and "Chemical, Disease, Gene" in line
    assert not (tmp_path / "out").exists()
    assert invoke("evaluate", model, gold, "-o", tmp_path / "out", "--types", "Gene").exit_code == 0


def test_score_takes_a_pmid_with_a_non_ascii_digit(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.txt", GOOD.replace("102", "8701013\u00b2"))
    result = invoke("score", gold, gold)
    assert result.exit_code == 0, result.output
    assert "100.00" in result.output


def test_evaluate_rejects_a_text_longer_than_max_length(tmp_path: Path) -> None:
    long_text = "word " * 200_001  # 1,000,005 characters: more than spaCy's default max_length
    gold = write(tmp_path / "gold.txt", GOOD + f"300|t|Long.\n300|a|{long_text}\n")
    model = ruler_model(tmp_path / "model", [{"label": "Chemical", "pattern": [{"LOWER": "lithium"}]}])
    line = one_error_line(invoke("evaluate", model, gold, "-o", tmp_path / "out"))
    assert f"{gold}:16: PMID 300: the text has 1,000,011 characters, more than the pipeline's " \
           "max_length (1,000,000)" in line


# ---------------------------------------------------------------------------------------------
# The leak guard (weak build --gold)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_gold_pmids_in_any_line_ending_never_reach_a_weak_set(tmp_path: Path, ending: str) -> None:
    gold = write(tmp_path / "gold.txt", GOOD.replace("\n", ending))  # PMIDs 101, 102, 103
    weak = write(tmp_path / "weak.txt", GOOD + records("104"))
    (tmp_path / "pairs.tsv").write_text("101\tchem_disease:x\tMESH:D058186\tMESH:D002945\n")
    (tmp_path / "medic.tsv").write_text("# h\nRenal failure\tMESH:D058186\t\t\t\tC12\tC\t\t\n")
    result = invoke("weak", "build", "--pubtator", weak, "--ctd", tmp_path / "pairs.tsv",
                    "--ctd-diseases", tmp_path / "medic.tsv", "--gold", gold,
                    "--output", tmp_path / "weak", "--no-progress", "--keep-unlinked")
    if ending == "\r":
        assert f"{gold}:1: carriage return" in one_error_line(result)
        assert not (tmp_path / "weak").exists()
        return
    assert result.exit_code == 0, result.output
    assert "3 gold abstracts removed" in result.output
    for name in ("CDWC", "CDWA"):
        pmids = {d.pmid for d in read_pubtator(tmp_path / "weak" / f"{name}.PubTator.gz")}
        assert pmids <= {"104"}, (name, pmids)


def test_weak_build_output_that_is_a_file_fails_before_work(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.txt", GOOD)
    taken = write(tmp_path / "taken", "x")
    (tmp_path / "pairs.tsv").write_text("101\tchem_disease:x\tMESH:D058186\tMESH:D002945\n")
    result = invoke("weak", "build", "--pubtator", gold, "--ctd", tmp_path / "pairs.tsv",
                    "--ctd-diseases", tmp_path / "pairs.tsv", "--gold", gold, "--output", taken)
    assert f"--output {taken} is a file, not a directory" in one_error_line(result)
