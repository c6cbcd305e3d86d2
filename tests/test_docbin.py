"""Documents -> Docs (alignment, overlaps, sentences) -> DocBin, and back to abstract offsets."""

import json
import random

import pytest
import spacy
from spacy.training import Example
from thinc.api import Config
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpus.docbin import read_docbin, write_docbin
from spacy_bioner.corpus.spacy_docs import (
    AlignmentReport,
    create_pubtator_corpus_reader,
    doc_from_document,
    docs_from_documents,
    documents_from_docs,
    mentions_from_doc,
    read_documents,
    sentence_starts,
    split_sentences,
)
from spacy_bioner.corpus.document import Document, Mention
from spacy_bioner.corpus.pubtator import NCBI_DISEASE_TYPE_MAP, read_pubtator, write_pubtator
from spacy_bioner.corpus.splits import OFFICIAL_FILES
from spacy_bioner.corpus.tokenizer import make_bio_nlp

TITLE = "Naloxone reverses the antihypertensive effect of clonidine"
ABSTRACT = (
    "Binding of [3H]-naloxone was not changed by 5-FU-induced hypertension in rats. "
    "The Na+/K+-ATPase of cisplatin (CDDP)-treated rats fell, e.g. by 30%. "
    "Alpha-methyldopa at 10(-8) M was inactive."
)


def mention(doc_text, text, type_, ids=(), nth=0):
    start = -1
    for _ in range(nth + 1):
        start = doc_text.index(text, start + 1)
    return Mention(start, start + len(text), text, type_, ids)


def make_document(pmid="227508"):
    doc = Document(pmid, TITLE, ABSTRACT, source="hand:1")
    text = doc.text
    doc.mentions = [
        mention(text, "Naloxone", "Chemical", ("D009270",)),
        mention(text, "clonidine", "Chemical", ("D003000",)),
        mention(text, "naloxone", "Chemical", ("D009270",)),
        mention(text, "5-FU", "Chemical", ("D005472",)),
        mention(text, "hypertension", "Disease", ("D006973",)),
        mention(text, "Na+", "Chemical", ("D012964",)),
        mention(text, "K+", "Chemical", ("D011188",)),
        mention(text, "cisplatin", "Chemical", ("D002945",)),
        mention(text, "CDDP", "Chemical", ("D002945",)),
        mention(text, "Alpha-methyldopa", "Chemical", ("D008750", "D000001")),
    ]
    return doc


@pytest.fixture(scope="module")
def nlp():
    return make_bio_nlp()


def keys(mentions):
    return sorted((m.start, m.end, m.type, m.ids) for m in mentions)


def test_exact_alignment_and_user_data(nlp):
    document = make_document()
    report = AlignmentReport(name="hand")
    doc = doc_from_document(nlp, document, report)
    assert doc.text == document.text
    assert doc.user_data["pmid"] == "227508"
    assert doc.user_data["offset"] == 0 and doc.user_data["title_end"] == len(TITLE)
    assert [e.text for e in doc.ents] == [m.text for m in document.mentions]
    assert (report.exact, report.expanded, report.lost, report.overlap_removed) == (10, 0, 0, 0)
    assert keys(mentions_from_doc(doc)) == keys(document.mentions)


def test_expanded_lost_and_skipped_are_counted(nlp):
    document = Document("1", "Autosomal dominant disorder", "in two  families.")
    text = document.text
    document.mentions = [
        Mention(0, 26, "Autosomal dominant disorde", "Disease"),  # ends mid-word
        Mention(34, 35, " ", "Disease"),  # whitespace only
        Mention(40, 90, "?", "Disease"),  # outside the text
        Mention(31, 33, "tw", "Species"),
    ]
    report = AlignmentReport()
    doc = doc_from_document(nlp, document, report, types={"Disease"})
    assert [e.text for e in doc.ents] == ["Autosomal dominant disorder"]
    assert (report.exact, report.expanded, report.lost, report.skipped_types) == (0, 1, 2, 1)
    assert report.expanded_mentions[0].detail == "expanded to 0-27 'Autosomal dominant disorder'"
    assert {r.start for r in report.lost_mentions} == {34, 40}
    assert "outside the text" in str(report.lost_mentions[1])
    assert text[34] == " "


def test_overlaps_keep_the_longer_mention(nlp):
    document = Document("7", "Cisplatin-induced renal failure", "and cisplatin nephrotoxicity.")
    text = document.text
    document.mentions = [
        mention(text, "renal", "Disease"),
        mention(text, "Cisplatin", "Chemical"),
        mention(text, "renal failure", "Disease"),
        mention(text, "renal failure", "Disease"),  # exact duplicate
        mention(text, "failure and", "Chemical"),
        mention(text, "nephrotoxicity", "Disease"),
    ]
    report = AlignmentReport()
    doc = doc_from_document(nlp, document, report)
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("Cisplatin", "Chemical"), ("renal failure", "Disease"), ("nephrotoxicity", "Disease")
    ]
    assert (report.exact, report.overlap_removed, report.duplicates) == (3, 2, 1)
    assert report.total == 6
    removed = {(r.text, r.type) for r in report.overlap_mentions}
    assert removed == {("renal", "Disease"), ("failure and", "Chemical")}
    assert all("renal failure" in r.detail for r in report.overlap_mentions)


def test_report_is_printable_and_json_ready(nlp):
    report = AlignmentReport(name="hand")
    document = make_document()
    document.mentions.append(Mention(1, 5, "alox", "Chemical"))  # inside "Naloxone"
    document.mentions.append(mention(document.text, "rat", "Species"))  # "rats": expanded
    list(docs_from_documents(nlp, [document], report))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["total"] == 12 and data["expanded"] == 1 and data["overlap_removed"] == 1
    assert data["expanded_mentions"][0]["detail"].endswith("'rats'")
    assert data["overlap_mentions"][0]["text"] == "alox"
    text = str(report)
    assert "exact" in text and "overlap_removed" in text and "alox" in text
    merged = AlignmentReport().merge(report).merge(report)
    assert merged.total == 24 and merged.documents == 2


def test_sentence_level_round_trip(nlp):
    document = make_document()
    sentences = list(docs_from_documents(nlp, [document], sentence_level=True))
    assert [s.text.strip()[:12] for s in sentences] == [
        "Naloxone rev", "Binding of [", "The Na+/K+-A", "Alpha-methyl"
    ]
    assert "".join(s.text for s in sentences) == document.text
    assert [s.user_data["offset"] for s in sentences] == [
        0, len(TITLE) + 1, document.text.index("The Na+"), document.text.index("Alpha-")
    ]
    assert all(s.user_data["pmid"] == "227508" for s in sentences)
    mentions = [m for s in sentences for m in mentions_from_doc(s)]
    assert keys(mentions) == keys(document.mentions)
    for m in mentions:
        assert document.text[m.start:m.end] == m.text
    shuffled = sentences[::-1]
    (back,) = documents_from_docs(shuffled)
    assert (back.pmid, back.title, back.abstract) == ("227508", TITLE, ABSTRACT)
    assert keys(back.mentions) == keys(document.mentions)


def test_sentences_never_cut_an_entity(nlp):
    document = Document("9", "T", "It fell. Then it rose. After that it fell.")
    text = document.text
    document.mentions = [mention(text, "fell. Then", "Disease")]
    doc = doc_from_document(nlp, document)
    starts = [doc[i].text for i in sentence_starts(doc)]
    assert starts == ["T", "It", "After"]
    assert [len(s.ents) for s in split_sentences(doc)] == [0, 1, 0]


def test_sentence_split_skips_decimals_and_abbreviations(nlp):
    document = Document("10", "Title.", "A rose by 18. 5% (e.g. Then), vs. 3. 4 rats. Cases fell.")
    doc = doc_from_document(nlp, document)
    assert [doc[i].text for i in sentence_starts(doc)] == ["Title", "A", "Cases"]


def test_documents_from_docs_handles_repeated_abstracts(nlp):
    docs = list(docs_from_documents(nlp, [make_document(), make_document()], sentence_level=True))
    random.Random(0).shuffle(docs)
    back = documents_from_docs(docs)
    assert len(back) == 2 and all(b.text == make_document().text for b in back)


def test_documents_from_docs_errors(nlp):
    with pytest.raises(ValueError, match="no user_data"):
        documents_from_docs([nlp.make_doc("no metadata")])
    sentences = list(docs_from_documents(nlp, [make_document()], sentence_level=True))
    with pytest.raises(ValueError, match="PMID 227508: a gap"):
        documents_from_docs(sentences[:1] + sentences[2:])


def test_docbin_round_trip(nlp, tmp_path):
    documents = [make_document("1"), make_document("2")]
    docs = list(docs_from_documents(nlp, documents, sentence_level=True))
    path = tmp_path / "sub" / "train.spacy"
    assert write_docbin(docs, path) == len(docs)
    loaded = read_docbin(path, make_bio_nlp())
    assert [d.text for d in loaded] == [d.text for d in docs]
    assert [d.user_data for d in loaded] == [d.user_data for d in docs]
    assert [[(e.start, e.end, e.label_, e.kb_id_) for e in d.ents] for d in loaded] == [
        [(e.start, e.end, e.label_, e.kb_id_) for e in d.ents] for d in docs
    ]
    back = documents_from_docs(loaded)
    assert [keys(b.mentions) for b in back] == [keys(d.mentions) for d in documents]


def test_read_docbin_errors(nlp, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.spacy"):
        read_docbin(tmp_path / "missing.spacy", nlp)
    bad = tmp_path / "bad.spacy"
    bad.write_bytes(b"not a docbin")
    with pytest.raises(ValueError, match="bad.spacy"):
        read_docbin(bad, nlp)


def write_small_pubtator(path):
    document = make_document()
    document.mentions[4] = Mention(
        document.mentions[4].start, document.mentions[4].end, "hypertension", "DiseaseClass",
        ("D006973",),
    )
    write_pubtator([document], path)
    return document


def test_corpus_reader(nlp, tmp_path):
    path = tmp_path / "small.PubTator"
    document = write_small_pubtator(path)
    registered = spacy.registry.readers.get("spacy_bioner.PubTatorCorpus.v1")
    assert registered is create_pubtator_corpus_reader
    examples = list(create_pubtator_corpus_reader(path, type_map="ncbi")(nlp))
    assert len(examples) == 1 and isinstance(examples[0], Example)
    reference = examples[0].reference
    assert reference.text == document.text and not examples[0].predicted.ents
    assert {e.label_ for e in reference.ents} == {"Chemical", "Disease"}
    sentences = list(create_pubtator_corpus_reader(path, sentence_level=True,
                                                   types=["DiseaseClass"])(nlp))
    assert len(sentences) == 4
    assert [e.text for ex in sentences for e in ex.reference.ents] == ["hypertension"]
    with pytest.raises(FileNotFoundError, match="nothing.PubTator"):
        create_pubtator_corpus_reader(tmp_path / "nothing.PubTator")
    with pytest.raises(ValueError, match="unknown type map 'cdr'"):
        create_pubtator_corpus_reader(path, type_map="cdr")


def test_corpus_reader_from_training_config(nlp, tmp_path):
    path = tmp_path / "small.PubTator"
    write_small_pubtator(path)
    config = Config().from_str(f"""
        [paths]
        train = "{path}"
        [corpora]
        [corpora.train]
        @readers = "spacy_bioner.PubTatorCorpus.v1"
        path = ${{paths.train}}
        type_map = "ncbi"
        types = ["Disease"]
        sentence_level = true
        """)
    reader = spacy.registry.resolve(config)["corpora"]["train"]
    examples = list(reader(nlp))
    assert len(examples) == 4
    assert [(e.text, e.label_) for ex in examples for e in ex.reference.ents] == [
        ("hypertension", "Disease")
    ]


def test_convert_cli(tmp_path):
    source = tmp_path / "small.PubTator"
    write_small_pubtator(source)
    out, report_path = tmp_path / "small.spacy", tmp_path / "report.json"
    result = CliRunner().invoke(app, ["convert", str(source), str(out), "--type-map", "ncbi",
                                      "--report", str(report_path)])
    assert result.exit_code == 0, result.output
    assert "exact" in result.output and "wrote 1 docs" in result.output
    assert json.loads(report_path.read_text())["exact"] == 10
    (doc,) = read_docbin(out, make_bio_nlp())
    assert "Disease" in {e.label_ for e in doc.ents}
    bad = CliRunner().invoke(app, ["convert", str(source), str(out), "--format", "xml"])
    assert bad.exit_code == 1 and "unknown corpus format 'xml'" in bad.output


@pytest.mark.filterwarnings("ignore::spacy_bioner.corpus.pubtator.DuplicateRecordWarning")
@pytest.mark.parametrize("corpus", ["cdr", "ncbi"])
def test_all_gold_mentions_align(nlp, data_dir, corpus):
    type_map = NCBI_DISEASE_TYPE_MAP if corpus == "ncbi" else None
    total = AlignmentReport(name=f"{corpus} train+dev+test")
    for split, rel in OFFICIAL_FILES[corpus].items():
        report = AlignmentReport(name=f"{corpus} {split}")
        documents = list(read_pubtator(data_dir / rel, type_map=type_map))
        for doc, document in zip(docs_from_documents(nlp, documents, report), documents):
            assert doc.text == document.text
        assert report.total == sum(len(d.mentions) for d in documents)
        print(report.summary())
        total.merge(report)
    print(total)
    assert total.lost == 0 and total.overlap_removed == 0
    assert total.expanded <= 0.001 * total.total


def test_bioc_input_aligns_like_pubtator(nlp, data_dir):
    report = AlignmentReport()
    bioc = read_documents(data_dir / "cdr" / "bioc" / "CDR_DevelopmentSet.BioC.xml", fmt="bioc")
    docs = list(docs_from_documents(nlp, bioc, report))
    assert (report.documents, report.exact, report.expanded, report.lost) == (500, 9591, 0, 0)
    assert all(d.ents for d in docs)


def test_sentence_round_trip_on_cdr_dev(nlp, data_dir):
    documents = list(read_pubtator(data_dir / OFFICIAL_FILES["cdr"]["dev"]))
    sentences = list(docs_from_documents(nlp, documents, sentence_level=True))
    assert len(sentences) > 4 * len(documents)
    back = documents_from_docs(sentences)
    assert [b.text for b in back] == [d.text for d in documents]
    assert [keys(b.mentions) for b in back] == [keys(d.mentions) for d in documents]


def test_sample_cli_limit_and_same_pmids(tmp_path) -> None:
    """`sample --limit` keeps the first docs; `--pmids-from` keeps the same abstracts of another set."""
    nlp = make_bio_nlp()
    docs = [doc_from_document(nlp, Document(str(p), f"Title {p}.", "Aspirin.", [])) for p in (5, 6, 7, 8)]
    source = tmp_path / "cdwc.spacy"
    write_docbin(docs, source)
    write_docbin([docs[2], docs[0]], tmp_path / "cdwa.spacy")
    runner = CliRunner()
    result = runner.invoke(app, ["sample", str(source), str(tmp_path / "first.spacy"), "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert [d.user_data["pmid"] for d in read_docbin(tmp_path / "first.spacy", nlp)] == ["5", "6", "7"]
    result = runner.invoke(app, ["sample", str(source), str(tmp_path / "same.spacy"), "--limit", "2",
                                 "--prefer-pmids-from", str(tmp_path / "cdwa.spacy")])
    assert result.exit_code == 0, result.output
    assert [d.user_data["pmid"] for d in read_docbin(tmp_path / "same.spacy", nlp)] == ["5", "7"]
    result = runner.invoke(app, ["sample", str(source), str(tmp_path / "more.spacy"), "--limit", "3",
                                 "--prefer-pmids-from", str(tmp_path / "cdwa.spacy")])
    assert [d.user_data["pmid"] for d in read_docbin(tmp_path / "more.spacy", nlp)] == ["5", "7", "6"]
    result = runner.invoke(app, ["sample", str(source), str(tmp_path / "all.spacy"),
                                 "--prefer-pmids-from", str(tmp_path / "cdwa.spacy")])
    assert [d.user_data["pmid"] for d in read_docbin(tmp_path / "all.spacy", nlp)] == ["5", "7", "6", "8"]
    write_docbin([docs[1], doc_from_document(nlp, Document("99", "T.", "A.", []))], tmp_path / "other.spacy")
    result = runner.invoke(app, ["sample", str(source), str(tmp_path / "x.spacy"),
                                 "--prefer-pmids-from", str(tmp_path / "other.spacy")])
    assert result.exit_code == 0 and "1 PMIDs" in result.output and "99" in result.output


def test_copy_docbin_preferred_first_duplicates_kept_once_first(tmp_path) -> None:
    """copy_docbin: the first copy of each preferred PMID comes first; later copies stay in order."""
    from spacy_bioner.corpus.docbin import copy_docbin

    nlp = make_bio_nlp()
    pmids = ["1", "2", "3", "2", "4"]  # PMID 2 twice
    docs = [doc_from_document(nlp, Document(p, f"Title {i}.", "Aspirin.", [])) for i, p in enumerate(pmids)]
    source = tmp_path / "shards"
    write_docbin(docs[:2], source / "a.spacy")  # a folder of two shards
    write_docbin(docs[2:], source / "b.spacy")
    written, missing = copy_docbin(source, tmp_path / "out.spacy", prefer=["4", "2", "9"])
    got = [(d.user_data["pmid"], d.text.split(".")[0]) for d in read_docbin(tmp_path / "out.spacy", nlp)]
    assert written == 5 and missing == ["9"]
    assert got == [("2", "Title 1"), ("4", "Title 4"), ("1", "Title 0"), ("3", "Title 2"), ("2", "Title 3")]
    written, missing = copy_docbin(source, tmp_path / "one.spacy", limit=1, prefer=["3", "4", "9"])
    assert written == 1 and missing == ["9"]  # 4 is in the source, past the limit: not missing
    written, _ = copy_docbin(source, tmp_path / "three.spacy", limit=3)
    assert written == 3 and [d.user_data["pmid"] for d in read_docbin(tmp_path / "three.spacy", nlp)] == ["1", "2", "3"]
