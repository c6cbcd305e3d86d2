"""Generated PubTator and BioC files, valid and damaged, through every reader and command.

The property, for the readers and for ``convert``, ``splits``, ``score``, ``evaluate`` and
``weak build``: either every document and mention comes out, or the command ends with exit 1
and the reader's one-line error, which names the file and the line. The damage: truncation at
any byte, every line-ending style, byte-order marks, damaged columns, repeated and cross-file
PMIDs, non-UTF-8 bytes, newlines inserted anywhere, tabs inside the text, gzip (whole or cut).

The module prints how many cases it tried (``fuzz: N cases tried``) at its end.
"""

from __future__ import annotations

import gzip
import json
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from xml.sax.saxutils import escape

import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpus.bioc import read_bioc
from spacy_bioner.corpus.document import CorpusFormatError, Document, Mention, Relation
from spacy_bioner.corpus.pubtator import DuplicateRecordWarning, format_pubtator, read_pubtator
from spacy_bioner.corpus.splits import LeakGuard

pytestmark = pytest.mark.filterwarnings(
    "ignore::spacy_bioner.corpus.pubtator.DuplicateRecordWarning")
CASES: Counter = Counter()
runner = CliRunner()
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

WORDS = ["Lithium", "renal", "failure", "acute", "ß-blocker", "(", "10%", "é", "Naloxone", "2",
         "-", "x|y", "a\u00b2", "tab"]
SEPARATORS = [" ", " ", " ", "\t", "  "]
TYPES = ["Chemical", "Disease"]


@pytest.fixture(scope="module", autouse=True)
def print_count(request):
    yield
    line = (f"fuzz: {sum(CASES.values())} cases tried ("
            + ", ".join(f"{k} {v}" for k, v in sorted(CASES.items())) + ")")
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # past pytest's output capture, like capsys.disabled()
        reporter.write_line("\n" + line)


# ---------------------------------------------------------------------------------------------
# Generated corpora


@st.composite
def text_of(draw, min_words: int = 0) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=min_words, max_size=12))
    out = ""
    for i, word in enumerate(words):
        out += (draw(st.sampled_from(SEPARATORS)) if i else "") + word
    return out


@st.composite
def document(draw, pmid: str) -> Document:
    title = draw(text_of(1))
    abstract = draw(text_of())
    text = title + " " + abstract
    mentions = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, min(len(text), start + 20)))
        if not text[start:end].strip():
            continue
        mentions.append(Mention(start, end, text[start:end], draw(st.sampled_from(TYPES)),
                                (f"D{draw(st.integers(0, 999)):06d}",)))
    relations = [Relation("CID", ("D000001", "D000002"))] if draw(st.booleans()) else []
    return Document(pmid, title, abstract, mentions, relations)


@st.composite
def corpus(draw, first: int = 1, min_size: int = 1) -> List[Document]:
    n = draw(st.integers(min_size, 4))
    return [draw(document(str(first + i))) for i in range(n)]


def pubtator_bytes(docs: List[Document]) -> bytes:
    return "".join(format_pubtator(d) + "\n" for d in docs).encode("utf-8")


def comparable(docs: List[Document]) -> List[Tuple]:
    return [(d.pmid, d.title, d.abstract, d.mentions, d.relations) for d in docs]


# ---------------------------------------------------------------------------------------------
# Damage: returns the damaged bytes, the expected documents (None: must fail) or "prefix"
# (truncated: a consistent prefix may read), and the 1-based line of the damage (None: any).

ACCEPTED, FAILS, EITHER = "accepted", "fails", "either"
DAMAGE = ["none", "crlf", "cr", "mixed", "bom_start", "bom_mid", "truncate", "bad_start",
          "bad_end", "non_utf8", "newline", "dup_same", "dup_diff", "gzip", "gzip_cut"]


def _is_annotation(line: bytes) -> bool:
    """A mention or relation line (a title or abstract line may hold tabs too)."""
    return b"\t" in line and re.match(rb"[0-9]+\|[ta]\|", line) is None


def _line_of(data: bytes, pos: int) -> int:
    return data[:pos].count(b"\n") + 1


@st.composite
def damaged(draw, docs: List[Document], ops: Optional[List[str]] = None):
    data = pubtator_bytes(docs)
    op = draw(st.sampled_from(ops or DAMAGE))
    lines = data.split(b"\n")  # the last element is b"" (the file ends with a newline)
    expected: Optional[List[Document]] = docs
    line: Optional[int] = None
    outcome = ACCEPTED
    if op == "crlf":
        data = data.replace(b"\n", b"\r\n")
    elif op == "cr":
        data = data.replace(b"\n", b"\r")
        outcome, line = FAILS, 1
    elif op == "mixed":  # one line ends in a lone CR, glued to the next line
        pairs = [i for i in range(len(lines) - 1) if lines[i] and lines[i + 1]]
        i = draw(st.sampled_from(pairs))
        data = b"\n".join(lines[:i + 1]) + b"\r" + b"\n".join(lines[i + 1:])
        outcome, line = FAILS, i + 1
    elif op == "bom_start":
        data = b"\xef\xbb\xbf" + data
    elif op == "bom_mid":
        i = draw(st.integers(1, len(lines) - 2))
        lines[i] = b"\xef\xbb\xbf" + lines[i]
        data = b"\n".join(lines)
        outcome, line = FAILS, i + 1
    elif op == "truncate":
        cut = draw(st.integers(1, len(data) - 1))
        data = data[:cut]
        outcome = EITHER
    elif op in ("bad_start", "bad_end"):
        mention_lines = [i for i, ln in enumerate(lines) if _is_annotation(ln) and ln.count(b"\t") >= 5]
        if not mention_lines:
            return draw(damaged(docs, ["none"]))
        i = draw(st.sampled_from(mention_lines))
        cols = lines[i].split(b"\t")
        junk = draw(st.sampled_from(["x22", " 22", "NA", "", "2 2", "\u00b2", "-", "1.5"]))
        cols[1 if op == "bad_start" else 2] = junk.encode("utf-8")
        lines[i] = b"\t".join(cols)
        data = b"\n".join(lines)
        outcome, line = FAILS, i + 1
    elif op == "non_utf8":
        pos = draw(st.integers(0, len(data) - 1))
        data = data[:pos] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82"])) + data[pos:]
        outcome, line = FAILS, _line_of(data, pos)
    elif op == "newline":
        pos = draw(st.integers(0, len(data) - 1))
        blank = data[pos:pos + 1] == b"\n" or (pos > 0 and data[pos - 1:pos] == b"\n")
        data = data[:pos] + b"\n" + data[pos:]
        outcome = ACCEPTED if blank else EITHER
    elif op == "dup_same":
        k = draw(st.integers(0, len(docs) - 1))
        data += pubtator_bytes([docs[k]])
        expected = docs + [docs[k]]
    elif op == "dup_diff":
        k = draw(st.integers(0, len(docs) - 1))
        other = Document(docs[k].pmid, docs[k].title + " again", docs[k].abstract)
        line = data.count(b"\n") + 1
        data += pubtator_bytes([other])
        outcome = FAILS
    elif op == "gzip":
        data = gzip.compress(data, mtime=0)
    elif op == "gzip_cut":
        packed = gzip.compress(data, mtime=0)
        data = packed[:draw(st.integers(10, len(packed) - 1))]
        outcome = EITHER  # a cut in the trailer may leave the content whole: then it must read
    return op, data, outcome, (expected if outcome != FAILS else None), line


def check_reader(path: Path, docs: List[Document], op: str, data: bytes, outcome: str,
                 expected: Optional[List[Document]], line: Optional[int]):
    """Read ``path`` and check the property; return the documents read or the error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DuplicateRecordWarning)
            got = list(read_pubtator(path))
    except CorpusFormatError as err:
        assert outcome != ACCEPTED, (op, str(err))
        assert err.path == str(path) and str(err).startswith(f"{path}:")
        if line is not None:
            assert err.line == line, (op, str(err), line)
        n_lines = max(data.count(b"\n"), data.count(b"\r")) + 1
        assert err.line is None or 1 <= err.line <= n_lines or op.startswith("gzip")
        return err
    assert outcome != FAILS, (op, "accepted", data[:200])
    if outcome == ACCEPTED or op == "newline":
        assert comparable(got) == comparable(expected), op
    elif op == "gzip_cut":
        assert comparable(got) == comparable(docs)
    else:  # a file cut at the end of a line: what it holds comes out, in order
        assert data.endswith(b"\n")
        _check_prefix(got, docs, data)
    return got


def _check_prefix(got: List[Document], docs: List[Document], data: bytes) -> None:
    assert got and len(got) <= len(docs)
    assert comparable(got[:-1]) == comparable(docs[:len(got) - 1])
    last, full = got[-1], docs[len(got) - 1]
    assert (last.pmid, last.title) == (full.pmid, full.title)
    assert last.abstract in ("", full.abstract)
    assert last.mentions == full.mentions[:len(last.mentions)]
    if data.endswith(b"\n\n"):  # cut between records: the last one is whole
        assert comparable([last]) == comparable([full])
    else:  # cut inside a record: each of its complete annotation lines came out
        tail = data.rsplit(b"\n\n", 1)[-1]
        assert len(last.mentions) + len(last.relations) == sum(map(_is_annotation, tail.split(b"\n")))


# ---------------------------------------------------------------------------------------------
# The readers


@settings(FUZZ, max_examples=300)
@given(st.data())
def test_pubtator_reader_reads_all_or_names_the_line(tmp_path_factory, data) -> None:
    docs = data.draw(corpus())
    op, raw, outcome, expected, line = data.draw(damaged(docs))
    path = tmp_path_factory.mktemp("r") / "input.PubTator"
    path.write_bytes(raw)
    CASES["reader pubtator"] += 1
    check_reader(path, docs, op, raw, outcome, expected, line)


def bioc_bytes(docs: List[Document], newline: str = "\n") -> bytes:
    out = ["<?xml version='1.0' encoding='UTF-8'?>", "<collection>", "<source>fuzz</source>",
           "<date>0</date>", "<key>k</key>"]
    for d in docs:
        out += ["<document>", f"<id>{d.pmid}</id>", "<passage>", '<infon key="type">title</infon>',
                "<offset>0</offset>", f"<text>{escape(d.title)}</text>"]
        for i, m in enumerate(d.mentions):
            out += [f"<annotation id='{i}'>", f'<infon key="type">{m.type}</infon>',
                    f'<infon key="MESH">{m.ids[0]}</infon>',
                    f"<location offset='{m.start}' length='{m.end - m.start}' />",
                    f"<text>{escape(m.text)}</text>", "</annotation>"]
        out += ["</passage>", "<passage>", '<infon key="type">abstract</infon>',
                f"<offset>{len(d.title) + 1}</offset>", f"<text>{escape(d.abstract)}</text>",
                "</passage>"]
        for r in d.relations:
            out += ["<relation id='R0'>", '<infon key="relation">CID</infon>',
                    *[f'<infon key="a{j}">{a}</infon>' for j, a in enumerate(r.args)], "</relation>"]
        out.append("</document>")
    out.append("</collection>")
    return (newline.join(out) + newline).encode("utf-8")


@settings(FUZZ, max_examples=80)
@given(st.data())
def test_bioc_reader_reads_all_or_names_the_line(tmp_path_factory, data) -> None:
    docs = data.draw(corpus())
    op = data.draw(st.sampled_from(["lf", "crlf", "cr", "bom", "truncate", "dup_same", "dup_diff",
                                    "non_utf8", "gzip"]))
    expected: Optional[List[Document]] = docs
    raw = bioc_bytes(docs, {"crlf": "\r\n", "cr": "\r"}.get(op, "\n"))
    if op == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif op == "truncate":
        raw = raw[:data.draw(st.integers(1, len(raw) - 12))]  # before "</collection>"
        expected = None
    elif op in ("dup_same", "dup_diff"):
        copy = docs[0] if op == "dup_same" else Document(docs[0].pmid, docs[0].title + " b", "")
        inner = bioc_bytes([copy]).split(b"<document>", 1)[1].rsplit(b"</collection>", 1)[0]
        raw = raw.replace(b"</collection>", b"<document>" + inner + b"</collection>")
        expected = docs + [docs[0]] if op == "dup_same" else None
    elif op == "non_utf8":
        pos = raw.index(b"<text>") + 6
        raw = raw[:pos] + b"\xff" + raw[pos:]
        expected = None
    elif op == "gzip":
        raw = gzip.compress(raw, mtime=0)
    path = tmp_path_factory.mktemp("b") / "input.BioC.xml"
    path.write_bytes(raw)
    CASES["reader bioc"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DuplicateRecordWarning)
            got = list(read_bioc(path))
    except CorpusFormatError as err:
        assert expected is None, (op, str(err))
        assert str(err).startswith(f"{path}:") and (err.line is None or err.line >= 1)
        return
    assert expected is not None, (op, "accepted")
    assert comparable(got) == comparable(expected), op


# ---------------------------------------------------------------------------------------------
# The commands: the same damaged files, through the CLI


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def assert_failed_with(result, err: CorpusFormatError) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"error: {err}" in result.output, (str(err), result.output)


def _input(tmp_path_factory, data, ops: Optional[List[str]] = None, first: int = 1):
    docs = data.draw(corpus(first))
    op, raw, outcome, expected, line = data.draw(damaged(docs, ops))
    folder = tmp_path_factory.mktemp("c")
    path = folder / "input.PubTator"
    path.write_bytes(raw)
    read = check_reader(path, docs, op, raw, outcome, expected, line)
    return folder, path, read


CLI_OPS = ["none", "crlf", "cr", "bom_mid", "truncate", "bad_start", "non_utf8", "newline",
           "dup_same", "dup_diff", "gzip"]


@settings(FUZZ, max_examples=20)
@given(st.data())
def test_convert(tmp_path_factory, data) -> None:
    folder, path, read = _input(tmp_path_factory, data, CLI_OPS)
    CASES["convert"] += 1
    result = invoke("convert", path, folder / "out.spacy", "--report", folder / "report.json")
    if isinstance(read, CorpusFormatError):
        assert_failed_with(result, read)
        assert not (folder / "out.spacy").exists() and not (folder / "report.json").exists()
        return
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(folder / "out.spacy").get_docs(spacy.blank("en").vocab))
    report = json.loads((folder / "report.json").read_text())
    assert len(docs) == len(read) == report["documents"]
    total = sum(report[k] for k in ("exact", "expanded", "lost", "overlap_removed", "duplicates"))
    assert total == sum(len(d.mentions) for d in read)


@settings(FUZZ, max_examples=20)
@given(st.data())
def test_score(tmp_path_factory, data) -> None:
    folder, path, read = _input(tmp_path_factory, data, CLI_OPS)
    CASES["score"] += 1
    result = invoke("score", path, path, "--output", folder / "scores.json")
    if isinstance(read, CorpusFormatError):
        assert_failed_with(result, read)
        assert not (folder / "scores.json").exists()
        return
    assert result.exit_code == 0, result.output
    scores = json.loads((folder / "scores.json").read_text())
    keys = {(d.pmid, m.start, m.end, m.type) for d in read for m in d.mentions}
    assert scores["scores"]["micro"]["tp"] == len(keys) and scores["scores"]["micro"]["fp"] == 0


@pytest.fixture(scope="module")
def ruler(tmp_path_factory) -> Path:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([
        {"label": "Chemical", "pattern": [{"LOWER": "lithium"}]},
        {"label": "Disease", "pattern": [{"LOWER": "acute"}, {"IS_SPACE": True, "OP": "?"},
                                         {"LOWER": "renal"}, {"LOWER": "failure"}]},
        {"label": "Chemical", "pattern": [{"IS_SPACE": True}]},
    ])
    path = tmp_path_factory.mktemp("ruler") / "model"
    nlp.to_disk(path)
    return path


@settings(FUZZ, max_examples=15)
@given(st.data())
def test_evaluate(tmp_path_factory, ruler, data) -> None:
    folder, path, read = _input(tmp_path_factory, data, CLI_OPS)
    CASES["evaluate"] += 1
    out = folder / "eval"
    result = invoke("evaluate", ruler, path, "-o", out, "--report-docs", "0")
    if isinstance(read, CorpusFormatError):
        assert_failed_with(result, read)
        assert not out.exists()
        return
    assert result.exit_code == 0, result.output
    predicted = list(read_pubtator(out / "predictions.PubTator"))
    assert [d.pmid for d in predicted] == [d.pmid for d in read]
    for doc in predicted:
        assert all(m.text.strip() == m.text and m.text for m in doc.mentions)
    assert json.loads((out / "metrics.json").read_text())["n_docs"] == len(read)


@settings(FUZZ, max_examples=15)
@given(st.data())
def test_splits(tmp_path_factory, data) -> None:
    """The damaged file is one of CDR's three; the others are whole. PMIDs may cross files."""
    which = data.draw(st.sampled_from(["Training", "Development", "Test"]))
    folder, path, read = _input(tmp_path_factory, data, CLI_OPS, first=100)
    others = {name: data.draw(corpus(first, min_size=2)) for name, first in
              (("Training", 1), ("Development", 10), ("Test", 20)) if name != which}
    cross = data.draw(st.booleans())
    if cross:  # a PMID of one file in another: a leak (or, train/dev, a different record)
        a, b = sorted(others)
        others[b] = others[b] + [Document(others[a][0].pmid, "Other title.", "", [], [])]
    (folder / "cdr").mkdir()
    for name, docs in others.items():
        (folder / "cdr" / f"CDR_{name}Set.PubTator.txt").write_bytes(pubtator_bytes(docs))
    path.rename(folder / "cdr" / f"CDR_{which}Set.PubTator.txt")
    CASES["splits"] += 1
    result = invoke("splits", folder / "out", "--data", folder, "--heldout", "0.5")
    if isinstance(read, CorpusFormatError):
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"CDR_{which}Set.PubTator.txt:" in result.output
        assert not (folder / "out").exists()
        return
    if cross:
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert ("also in split" in result.output or "different record" in result.output), result.output
        assert not (folder / "out").exists()
        return
    assert result.exit_code == 0, result.output
    written = [d for n in ("T", "D", "test") for d in read_pubtator(folder / "out" / f"{n}.PubTator")]
    everything = read + [d for docs in others.values() for d in docs]
    assert sorted(comparable(written)) == sorted(comparable(everything))


MEDIC = "# header\nRenal failure\tMESH:D000002\t\t\t\tC12\tC\t\t\n"


def pmids_in(path: Path) -> set:
    """The PMIDs of a weak set (none when the build wrote no abstract)."""
    if not gzip.decompress(path.read_bytes()).strip():
        return set()
    return {d.pmid for d in read_pubtator(path)}


def _weak_build(folder: Path, pubtator: Path, gold: Path):
    (folder / "pairs.tsv").write_text("1\tchem_disease:x\tMESH:D000002\tMESH:D000001\n")
    (folder / "medic.tsv").write_text(MEDIC)
    return invoke("weak", "build", "--pubtator", pubtator, "--ctd", folder / "pairs.tsv",
                  "--ctd-diseases", folder / "medic.tsv", "--gold", gold, "--output",
                  folder / "weak", "--no-progress", "--keep-unlinked")


@settings(FUZZ, max_examples=15)
@given(st.data())
def test_weak_build(tmp_path_factory, data) -> None:
    folder, path, read = _input(tmp_path_factory, data, CLI_OPS)
    gold = folder / "gold.txt"
    gold.write_bytes(pubtator_bytes(data.draw(corpus(900))))
    CASES["weak build"] += 1
    result = _weak_build(folder, path, gold)
    if isinstance(read, CorpusFormatError):
        assert_failed_with(result, read)
        assert not (folder / "weak" / "CDWC.PubTator.gz").exists()
        assert not list((folder / "weak").glob(".*tmp"))
        return
    assert result.exit_code == 0, result.output
    report = json.loads((folder / "weak" / "report.json").read_text())
    assert report["documents_read"] == len(read)
    unique = {d.pmid for d in read}
    assert [d.pmid for d in read_pubtator(folder / "weak" / "CDWC.PubTator.gz")] == sorted(
        unique, key=[d.pmid for d in read].index)


# ---------------------------------------------------------------------------------------------
# The leak guard: a gold PMID, in any gold file of any line-ending style, never reaches a weak set

GOLD_OPS = ["none", "crlf", "cr", "mixed", "bom_start", "bom_mid", "truncate", "gzip", "dup_same",
            "newline", "non_utf8"]


@settings(FUZZ, max_examples=25)
@given(st.data())
def test_gold_pmids_never_reach_a_weak_set(tmp_path_factory, data) -> None:
    weak_docs = data.draw(corpus(1, min_size=2))
    golds = data.draw(st.lists(st.sampled_from(weak_docs), min_size=1, max_size=2, unique_by=lambda d: d.pmid))
    gold_docs = [Document(("0" if data.draw(st.booleans()) else "") + d.pmid, d.title, d.abstract,
                          list(d.mentions)) for d in golds]  # leading zero: the same PMID
    op, raw, outcome, expected, line = data.draw(damaged(gold_docs, GOLD_OPS))
    folder = tmp_path_factory.mktemp("g")
    gold = folder / "gold.PubTator"
    gold.write_bytes(raw)
    weak = folder / "weak.PubTator"
    weak.write_bytes(pubtator_bytes(weak_docs))
    CASES["leak guard"] += 1
    try:
        guard_pmids: Optional[set] = set(LeakGuard.from_files([gold]).gold_pmids)
    except CorpusFormatError:
        guard_pmids = None
    result = _weak_build(folder, weak, gold)
    if guard_pmids is None:
        assert result.exit_code == 1 and f"error: {gold}:" in result.output, result.output
        assert not (folder / "weak").exists() or not any((folder / "weak").iterdir())
        return
    assert result.exit_code == 0, result.output
    read_gold = {p.lstrip("0") for p in guard_pmids}
    for name in ("CDWC", "CDWA"):
        written = pmids_in(folder / "weak" / f"{name}.PubTator.gz")
        assert not written & read_gold, (name, written & read_gold)
    if outcome == ACCEPTED:  # the whole gold file was read: every gold PMID was held out
        assert {d.pmid.lstrip("0") for d in gold_docs} <= read_gold
