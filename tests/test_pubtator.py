"""PubTator reader/writer: fixtures, every malformed record, property tests, the real corpora."""

from __future__ import annotations

import dataclasses
import gzip
import io
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_bioner.corpus.document import CorpusFormatError, Document, Mention, Relation
from spacy_bioner.corpus.pubtator import (
    NCBI_DISEASE_TYPE_MAP,
    DuplicateRecordWarning,
    format_pubtator,
    parse_pubtator,
    parse_type_map,
    read_pubtator,
    write_pubtator,
)

FIXTURES = Path(__file__).parent / "fixtures" / "pubtator"
CDR_SAMPLE = FIXTURES / "cdr_sample.PubTator.txt"
NCBI_SAMPLE = FIXTURES / "ncbi_sample.txt"
QUIRKS = FIXTURES / "quirks.PubTator.txt"


def _no_source(docs: Sequence[Document]) -> List[Document]:
    return [dataclasses.replace(d, source=None) for d in docs]


def _non_blank_lines(text: str) -> List[str]:
    return [line for line in text.split("\n") if line.strip(" \t\r")]


def _read_text(path: Path) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="\n") as fh:
        return fh.read()


# ---------------------------------------------------------------------------------------------
# Hand-made fixtures


def test_cdr_sample_fields() -> None:
    docs = list(read_pubtator(CDR_SAMPLE))
    assert [d.pmid for d in docs] == ["1000001", "1000002"]
    first = docs[0]
    assert first.source == f"{CDR_SAMPLE}:1"
    assert docs[1].source == f"{CDR_SAMPLE}:12"
    assert first.title == "Naloxone reverses the antihypertensive effect of clonidine."
    assert first.text == first.title + " " + first.abstract
    assert first.mentions[0] == Mention(0, 8, "Naloxone", "Chemical", ("D009270",))
    assert first.mentions[3].ids == ("-1",)
    composite = first.mentions[5]
    assert composite.ids == ("D014786", "D006311")
    assert composite.extra == ("ocular toxicity|auditory toxicity",)
    assert first.relations == [
        Relation("CID", ("D003000", "D006973")),
        Relation("CID", ("D009270", "D014786")),
    ]
    for doc in docs:
        for m in doc.mentions:
            assert doc.text[m.start : m.end] == m.text


def test_ncbi_sample_blank_lines_and_type_map() -> None:
    raw = list(read_pubtator(NCBI_SAMPLE))
    assert [d.pmid for d in raw] == ["2000001", "2000002"]  # no separator between the two
    assert raw[0].source == f"{NCBI_SAMPLE}:2"  # the file starts with a blank line
    assert {m.type for m in raw[0].mentions} == set(NCBI_DISEASE_TYPE_MAP)
    assert raw[0].mentions[2].ids == ("D001943", "D010051")
    assert raw[0].mentions[4].ids == ("OMIM:175100",)
    assert raw[1].mentions[2].ids == ("D007674+D006222",)  # "+" is not a separator
    mapped = list(read_pubtator(NCBI_SAMPLE, type_map=NCBI_DISEASE_TYPE_MAP))
    assert {m.type for d in mapped for m in d.mentions} == {"Disease"}
    partial = list(read_pubtator(NCBI_SAMPLE, type_map={"Modifier": "Mod"}))
    assert [m.type for m in partial[0].mentions] == [
        "DiseaseClass",
        "DiseaseClass",
        "CompositeMention",
        "Mod",
        "SpecificDisease",
    ]


def test_quirks_of_real_files() -> None:
    tif, title_only, empty = read_pubtator(QUIRKS)
    no_ids, empty_ids, trailing_tab, padded = tif.mentions
    assert no_ids.ids == () and no_ids.extra == ()
    assert empty_ids.ids == ("",) and empty_ids.extra == ()
    assert trailing_tab.ids == ("51592",) and trailing_tab.extra == ("",)
    assert padded.text == "human" == tif.text[padded.start : padded.end]
    assert "\t" in tif.abstract
    assert title_only.abstract == "" and len(title_only.mentions) == 2
    assert empty.abstract == "" and empty.mentions == []
    with pytest.raises(CorpusFormatError) as err:
        list(read_pubtator(QUIRKS, require_abstract=True))
    assert err.value.line == 8 and "not followed by its abstract line" in str(err.value)


@pytest.mark.parametrize("fixture", [CDR_SAMPLE, NCBI_SAMPLE, QUIRKS])
def test_fixture_round_trip(fixture: Path, tmp_path: Path) -> None:
    docs = list(read_pubtator(fixture))
    formatted = "".join(format_pubtator(d) for d in docs)
    expected = _non_blank_lines(_read_text(fixture))
    if fixture == QUIRKS:  # padded mention text is written as the real span; title-only gets |a|
        expected = [ln.replace("human  \t", "human\t") for ln in expected]
        expected.insert(expected.index("3000002|t|" + docs[1].title) + 1, "3000002|a|")
    assert _non_blank_lines(formatted) == expected
    for name in ("out.txt", "out.PubTator.gz"):
        assert write_pubtator(docs, tmp_path / "sub" / name) == len(docs)
        again = list(read_pubtator(tmp_path / "sub" / name))
        assert _no_source(again) == _no_source(docs)
    assert (
        _read_text(tmp_path / "sub" / "out.txt")
        == "\n".join(format_pubtator(d) for d in docs) + "\n"
    )


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    docs = list(read_pubtator(CDR_SAMPLE))
    write_pubtator(docs, tmp_path / "a.gz")
    write_pubtator(docs, tmp_path / "b.gz")
    data = (tmp_path / "a.gz").read_bytes()
    assert data[:2] == b"\x1f\x8b" and data == (tmp_path / "b.gz").read_bytes()
    # gzip is detected from the content, whatever the name
    (tmp_path / "plain-name.txt").write_bytes(data)
    assert _no_source(read_pubtator(tmp_path / "plain-name.txt")) == _no_source(docs)


def test_sources_string_streams_and_names() -> None:
    text = CDR_SAMPLE.read_text(encoding="utf-8")
    expected = _no_source(read_pubtator(CDR_SAMPLE))
    parsed = parse_pubtator(text, name="api-response")
    assert _no_source(parsed) == expected and parsed[1].source == "api-response:12"
    assert _no_source(read_pubtator(io.StringIO(text))) == expected
    from_bytes = list(read_pubtator(io.BytesIO(text.encode("utf-8")), name="body"))
    assert _no_source(from_bytes) == expected and from_bytes[0].source == "body:1"
    crlf = text.replace("\n", "\r\n")
    assert _no_source(parse_pubtator(crlf)) == expected
    assert _no_source(read_pubtator(io.BytesIO(crlf.encode("utf-8")))) == expected
    with_bom = "\ufeff" + text
    assert _no_source(parse_pubtator(with_bom)) == expected


def test_reading_streams() -> None:
    lines_seen = []

    def lines():
        for line in CDR_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True):
            lines_seen.append(line)
            yield line
        raise AssertionError("the reader asked for more than one document ahead")

    first = next(read_pubtator(lines(), name="gen"))  # type: ignore[arg-type]
    assert first.pmid == "1000001"
    assert not any(ln.startswith("1000002\t") for ln in lines_seen)


def test_identical_duplicate_record_warns_and_is_kept(tmp_path: Path) -> None:
    record = "".join(format_pubtator(d) for d in read_pubtator(CDR_SAMPLE))
    path = tmp_path / "dup.txt"
    path.write_text(record + "\n" + record, encoding="utf-8")
    with pytest.warns(DuplicateRecordWarning) as caught:
        docs = list(read_pubtator(path))
    assert [str(w.message) for w in caught] == [
        f"{path}:20: PMID 1000001 repeats the identical record of line 1",
        f"{path}:30: PMID 1000002 repeats the identical record of line 11",
    ]
    assert [d.pmid for d in docs] == ["1000001", "1000002", "1000001", "1000002"]


# ---------------------------------------------------------------------------------------------
# Malformed input: each case names the file and the line

T1 = "1|t|Aspirin and fever.\n"
A1 = "1|a|Fever fell.\n"  # text: "Aspirin and fever. Fever fell." (30 characters)
M1 = "1\t0\t7\tAspirin\tChemical\tD001241\n"

MALFORMED: List[Tuple[str, object, Optional[int], str]] = [
    ("truncated mention", T1 + A1 + "1\t0\t7\tAspirin\n", 3, "truncated mention line: 4"),
    ("three columns", T1 + A1 + M1 + "1\t12\t17\n", 4, "truncated mention line: 3"),
    (
        "non-integer start",
        T1 + A1 + "1\t0x\t7\tAspirin\tChemical\n",
        3,
        "start offset '0x' is not an integer",
    ),
    (
        "non-integer end",
        T1 + A1 + "1\t0\t7.0\tAspirin\tChemical\n",
        3,
        "end offset '7.0' is not an integer",
    ),
    ("empty end", T1 + A1 + "1\t0\t\tAspirin\tChemical\n", 3, "end offset '' is not an integer"),
    ("negative start", T1 + A1 + "1\t-1\t7\tAspirin\tChemical\n", 3, "negative start offset -1"),
    ("negative end", T1 + A1 + "1\t0\t-7\tAspirin\tChemical\n", 3, "negative end offset -7"),
    (
        "start == end",
        T1 + A1 + "1\t7\t7\t\tChemical\n",
        3,
        "start offset 7 is not before end offset 7",
    ),
    (
        "start > end",
        T1 + A1 + "1\t7\t0\tAspirin\tChemical\n",
        3,
        "start offset 7 is not before end offset 0",
    ),
    (
        "past the text",
        T1 + A1 + "1\t25\t31\tfell.\tChemical\n",
        3,
        "end offset 31 is past the end of the text (30",
    ),
    (
        "text mismatch",
        T1 + A1 + "1\t0\t7\taspirin\tChemical\n",
        3,
        "mention text 'aspirin' differs",
    ),
    ("empty type", T1 + A1 + "1\t0\t7\tAspirin\t\n", 3, "empty mention type"),
    (
        "non-UTF-8",
        (T1 + A1).encode() + b"1\t0\t7\tAspirin\tChemical\tD\xe9\n",
        3,
        "not valid UTF-8: byte 0xe9",
    ),
    ("non-UTF-8 title", b"1|t|Aspirin \xff fever.\n", 1, "not valid UTF-8: byte 0xff at column 13"),
    ("empty file", "", None, "no documents"),
    ("blank lines only", "\n \n\t\n", None, "no documents"),
    ("abstract without title", A1 + M1, 1, "abstract line of PMID 1 without a title line"),
    (
        "abstract after a record",
        T1 + A1 + "\n2|a|Orphan.\n",
        4,
        "abstract line of PMID 2 without a title line",
    ),
    (
        "abstract of another PMID",
        T1 + "2|a|Fever fell.\n",
        2,
        "abstract line of PMID 2 follows the title of PMID 1",
    ),
    ("second abstract", T1 + A1 + A1, 3, "second abstract line for PMID 1"),
    ("abstract after annotations", T1 + M1 + A1, 3, "after its annotation lines"),
    (
        "title-only, mention past title",
        T1 + "1\t19\t24\tFever\tDisease\n",
        2,
        "(the record has no abstract line)",
    ),
    (
        "mention of another PMID",
        T1 + A1 + "2\t0\t7\tAspirin\tChemical\n",
        3,
        "annotation line for PMID '2' inside the record of PMID 1",
    ),
    (
        "mention before any title",
        M1 + T1 + A1,
        1,
        "annotation line for PMID 1 before any title line",
    ),
    ("unrecognised line", T1 + A1 + "Aspirin 0 7\n", 3, "unrecognised line"),
    ("empty PMID title", "|t|Aspirin and fever.\n" + A1, 1, "unrecognised line"),
    ("relation without arguments", T1 + A1 + "1\tCID\n", 3, "relation line 'CID' has no arguments"),
    ("whitespace in PMID", "1 2|t|Aspirin.\n1 2|a|Fever.\n", 1, "contains whitespace"),
    (
        "duplicated PMID",
        T1 + A1 + M1 + "\n" + T1 + A1 + "\n",
        5,
        "duplicated PMID 1: already at line 1",
    ),
]


@pytest.mark.parametrize(
    "content,line,problem", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_input_names_file_and_line(
    content: object, line: Optional[int], problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.PubTator"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(str(content), encoding="utf-8")
    with pytest.raises(CorpusFormatError) as err:
        list(read_pubtator(path))
    assert err.value.path == str(path)
    assert err.value.line == line
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(err.value).startswith(where)
    assert problem in str(err.value)
    # the same from gzip, and (for text) from a string
    gz = tmp_path / "bad.PubTator.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(CorpusFormatError) as err_gz:
        list(read_pubtator(gz))
    assert (err_gz.value.path, err_gz.value.line) == (str(gz), line)
    if isinstance(content, str):
        with pytest.raises(CorpusFormatError) as err_str:
            parse_pubtator(content, name="body")
        assert (err_str.value.path, err_str.value.line) == ("body", line)


def test_title_without_abstract_when_required(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    for content, line in [
        (T1, 1),
        (T1 + M1, 1),
        (T1 + A1 + "\n2|t|Another title.\n\n" + T1.replace("1|", "3|") + A1.replace("1|", "3|"), 4),
    ]:
        path.write_text(content, encoding="utf-8")
        with pytest.raises(CorpusFormatError, match=r"not followed by its abstract line") as err:
            list(read_pubtator(path, require_abstract=True))
        assert (err.value.path, err.value.line) == (str(path), line)


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = gzip.compress(("".join(format_pubtator(d) for d in read_pubtator(CDR_SAMPLE))).encode())
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusFormatError, match="corrupt or truncated gzip") as err:
        list(read_pubtator(path))
    assert err.value.path == str(path)


@pytest.mark.parametrize(
    "change,problem",
    [
        (lambda d: dataclasses.replace(d, pmid="1|2"), "PMID"),
        (lambda d: dataclasses.replace(d, pmid=""), "PMID"),
        (lambda d: dataclasses.replace(d, title="two\nlines"), "newline"),
        (lambda d: dataclasses.replace(d, abstract="ends with CR\r"), "newline"),
        (
            lambda d: dataclasses.replace(d, mentions=[Mention(0, 8, "naloxone", "Chemical")]),
            "does not match",
        ),
        (
            lambda d: dataclasses.replace(d, mentions=[Mention(0, 999, "x", "Chemical")]),
            "does not match",
        ),
        (lambda d: dataclasses.replace(d, mentions=[Mention(0, 8, "Naloxone", "")]), "empty type"),
        (
            lambda d: dataclasses.replace(d, mentions=[Mention(0, 8, "Naloxone", "A\tB")]),
            "tab or newline",
        ),
        (
            lambda d: dataclasses.replace(d, mentions=[Mention(0, 8, "Naloxone", "C", ("D1|D2",))]),
            "contains '|'",
        ),
        (
            lambda d: dataclasses.replace(d, mentions=[Mention(0, 8, "Naloxone", "C", (), ("x",))]),
            "no ids column",
        ),
        (lambda d: dataclasses.replace(d, relations=[Relation("CID", ())]), "relation"),
        (lambda d: dataclasses.replace(d, relations=[Relation("12", ("a",))]), "relation"),
    ],
)
def test_writer_rejects_what_cannot_be_read_back(change, problem: str) -> None:
    doc = next(read_pubtator(CDR_SAMPLE))
    with pytest.raises(ValueError, match=problem):
        format_pubtator(change(doc))


# ---------------------------------------------------------------------------------------------
# Property-based tests

_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\n\r\t")
_FIELD = st.text(_CHARS, max_size=8)


@st.composite
def documents(draw, pmid: str) -> Document:
    title = draw(st.text(_CHARS, max_size=40))
    abstract = draw(st.text(_CHARS, max_size=80))
    text = title + " " + abstract
    mentions = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, min(len(text), start + 15)))
        ids = tuple(
            draw(
                st.lists(
                    st.text(
                        st.characters(exclude_categories=("Cs",), exclude_characters="\n\r\t|"),
                        max_size=8,
                    ),
                    max_size=3,
                )
            )
        )
        extra = tuple(draw(st.lists(_FIELD, max_size=2))) if ids else ()
        etype = draw(st.text(_CHARS, min_size=1, max_size=10))
        mentions.append(Mention(start, end, text[start:end], etype, ids, extra))
    relations = [
        Relation(draw(st.from_regex(r"[A-Za-z][A-Za-z_]{0,4}", fullmatch=True)), tuple(args))
        for args in draw(st.lists(st.lists(_FIELD, min_size=1, max_size=3), max_size=2))
        if not (len(args) >= 3 and args[0].isascii() and args[0].isdigit())  # a mention's shape
    ]
    return Document(pmid, title, abstract, mentions, relations)


@st.composite
def corpora(draw) -> List[Document]:
    pmids = draw(
        st.lists(st.from_regex(r"[0-9]{1,8}", fullmatch=True), min_size=1, max_size=4, unique=True)
    )
    return [draw(documents(pmid)) for pmid in pmids]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpora(), st.booleans())
def test_format_then_parse_is_identity(docs: List[Document], gz: bool) -> None:
    text = "\n".join(format_pubtator(d) for d in docs)
    assert _no_source(parse_pubtator(text)) == docs
    buffer = io.BytesIO(text.encode("utf-8"))
    assert (
        _no_source(
            read_pubtator(
                gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(buffer.getvalue())))
                if gz
                else buffer
            )
        )
        == docs
    )


def _mutate(draw, lines: List[str]) -> List[str]:
    i = draw(st.integers(0, len(lines) - 1))
    line = lines[i]
    op = draw(
        st.sampled_from(["replace", "drop_column", "insert", "delete", "drop", "dup", "swap"])
    )
    out = list(lines)
    if op == "replace":
        out[i] = draw(
            st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=30)
        )
    elif op == "drop_column":
        cols = line.split("\t")
        del cols[draw(st.integers(0, len(cols) - 1))]
        out[i] = "\t".join(cols)
    elif op == "insert":
        pos = draw(st.integers(0, len(line)))
        char = draw(st.sampled_from(["\t", "|", "-", "0", " ", "\r", "x", "é"]))
        out[i] = line[:pos] + char + line[pos:]
    elif op == "delete" and line:
        pos = draw(st.integers(0, len(line) - 1))
        out[i] = line[:pos] + line[pos + 1 :]
    elif op == "drop":
        del out[i]
    elif op == "dup":
        out.insert(i, line)
    elif op == "swap" and i + 1 < len(out):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_corruption_raises_only_corpus_format_error(data) -> None:
    docs = data.draw(corpora())
    lines = "\n".join(format_pubtator(d) for d in docs).split("\n")
    for _ in range(data.draw(st.integers(1, 3))):
        lines = _mutate(data.draw, lines) or [""]
    text = "\n".join(lines)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateRecordWarning)
        try:
            parsed = parse_pubtator(text, name="corrupt")
        except CorpusFormatError as err:
            assert err.path == "corrupt"
            assert err.line is None or 1 <= err.line <= len(lines)
            return
    for doc in parsed:  # whatever was accepted is consistent
        for m in doc.mentions:
            assert doc.text[m.start : m.end] == m.text


_BAD_INT = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\n\r\t"), max_size=5
).filter(lambda s: not (s.isascii() and s.isdigit()))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_mention_line_raises_at_that_line(data) -> None:
    docs = data.draw(corpora().filter(lambda ds: any(d.mentions for d in ds)))
    text = "\n".join(format_pubtator(d) for d in docs)
    lines = text.split("\n")
    mention_lines = [
        i for i, ln in enumerate(lines) if "\t" in ln and ln.split("\t")[1][:1].isdigit()
    ]
    i = data.draw(st.sampled_from(mention_lines))
    cols = lines[i].split("\t")
    doc = next(d for d in docs if d.pmid == cols[0])
    start, end = int(cols[1]), int(cols[2])
    how = data.draw(
        st.sampled_from(
            ["truncate", "bad_start", "bad_end", "negative", "order", "past", "text", "bytes"]
        )
    )
    if how == "truncate":
        cols = cols[: data.draw(st.integers(2, 4))]
    elif how == "bad_start":
        cols[1] = data.draw(st.sampled_from("0123456789+-")) + data.draw(_BAD_INT.filter(bool))
    elif how == "bad_end":
        cols[2] = data.draw(_BAD_INT)
    elif how == "negative":
        cols[data.draw(st.sampled_from([1, 2]))] = "-" + data.draw(
            st.from_regex(r"[0-9]{1,4}", fullmatch=True)
        )
    elif how == "order":
        cols[1], cols[2] = str(end), str(data.draw(st.integers(0, end)))
    elif how == "past":
        cols[2] = str(len(doc.text) + data.draw(st.integers(1, 50)))
    elif how == "text":
        span = doc.text[start:end]
        cols[3] = data.draw(
            st.text(_CHARS, max_size=10).filter(lambda s: s.strip() != span.strip())
        )
    lines[i] = "\t".join(cols)
    payload = "\n".join(lines).encode("utf-8")
    if how == "bytes":
        encoded = [ln.encode("utf-8") for ln in lines]
        encoded[i] += b"\xc3"  # a truncated two-byte sequence
        payload = b"\n".join(encoded)
    with pytest.raises(CorpusFormatError) as err:
        list(read_pubtator(io.BytesIO(payload), name="mutated"))
    assert (err.value.path, err.value.line) == ("mutated", i + 1)
    assert str(err.value).startswith(f"mutated:{i + 1}: ")


# ---------------------------------------------------------------------------------------------
# The real corpora (BIONER_DATA_MIRROR)

CDR_COUNTS = {  # abstracts, Chemical, Disease (data README)
    "CDR_TrainingSet.PubTator.txt": (500, 5203, 4182),
    "CDR_DevelopmentSet.PubTator.txt": (500, 5347, 4244),
    "CDR_TestSet.PubTator.txt": (500, 5385, 4424),
}
NCBI_COUNTS = {  # abstracts, mentions
    "NCBItrainset_corpus.txt": (593, 5145),
    "NCBIdevelopset_corpus.txt": (100, 787),
    "NCBItestset_corpus.txt": (100, 960),
}
# Annotation lines of AIONER's files whose offsets do not point at their text (first bad line);
# these files are read with text_only=True.
KNOWN_BAD_ANNOTATIONS = {
    "GNormPlus_Test.PubTator.gz": 2238,
    "GNormPlus_Train.PubTator.gz": 611,
    "NLMgene_Train.PubTator.gz": 5955,
    "tmVar3_Train.PubTator.gz": 337,
}


def _round_trip(docs: List[Document], path: Path) -> List[Document]:
    write_pubtator(docs, path)
    return list(read_pubtator(path))


@pytest.mark.parametrize("name", sorted(CDR_COUNTS))
def test_cdr_counts_and_round_trip(data_dir: Path, name: str, tmp_path: Path) -> None:
    path = data_dir / "cdr" / name
    docs = list(read_pubtator(path))
    n_docs, n_chem, n_dis = CDR_COUNTS[name]
    assert len(docs) == n_docs
    types = [m.type for d in docs for m in d.mentions]
    assert (types.count("Chemical"), types.count("Disease")) == (n_chem, n_dis)
    assert len(types) == n_chem + n_dis
    assert all(d.text[m.start : m.end] == m.text for d in docs for m in d.mentions)
    assert sum(len(d.relations) for d in docs) > 1000
    assert _no_source(_round_trip(docs, tmp_path / name)) == _no_source(docs)
    assert (tmp_path / name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(NCBI_COUNTS))
def test_ncbi_counts_and_round_trip(data_dir: Path, name: str, tmp_path: Path) -> None:
    path = data_dir / "ncbi_disease" / name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs = list(read_pubtator(path, type_map=NCBI_DISEASE_TYPE_MAP))
        raw = list(read_pubtator(path))
    duplicates = [w for w in caught if issubclass(w.category, DuplicateRecordWarning)]
    assert len(duplicates) == (2 if name == "NCBItrainset_corpus.txt" else 0)  # PMID 8528200
    assert (len(docs), sum(len(d.mentions) for d in docs)) == NCBI_COUNTS[name]
    assert {m.type for d in docs for m in d.mentions} == {"Disease"}
    assert {m.type for d in raw for m in d.mentions} == set(NCBI_DISEASE_TYPE_MAP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateRecordWarning)
        assert _no_source(_round_trip(raw, tmp_path / name)) == _no_source(raw)
    written = _non_blank_lines((tmp_path / name).read_text(encoding="utf-8"))
    original = _non_blank_lines(path.read_text(encoding="utf-8"))
    differ = [(a, b) for a, b in zip(original, written) if a != b]
    assert len(written) == len(original)
    if name == "NCBItrainset_corpus.txt":  # its one mention text padded with two spaces
        assert [(a.split("\t")[:3], a.split("\t")[3]) for a, _ in differ] == [
            (["10923035", "711", "761"], 'generalized epilepsy and febrile seizures " plus "  ')
        ]
    else:
        assert differ == []


@pytest.fixture(scope="module")
def weak_and_unlabeled(data_dir: Path) -> Dict[str, Path]:
    files = sorted((data_dir / "pubtator").glob("*.gz")) + sorted(
        (data_dir / "unlabeled").glob("*.gz")
    )
    return {p.name: p for p in files}


def test_every_gz_file_parses(weak_and_unlabeled: Dict[str, Path]) -> None:
    assert len(weak_and_unlabeled) >= 20
    n_docs, pmids = 0, set()
    for name, path in weak_and_unlabeled.items():
        if name in KNOWN_BAD_ANNOTATIONS:
            with pytest.raises(CorpusFormatError, match="differs from the document text") as err:
                list(read_pubtator(path))
            assert err.value.line == KNOWN_BAD_ANNOTATIONS[name]
            docs = list(read_pubtator(path, text_only=True))
            assert all(d.mentions == [] and d.relations == [] for d in docs)
        else:
            docs = list(read_pubtator(path))
            expected = _non_blank_lines(_read_text(path))
            written = _non_blank_lines("".join(format_pubtator(d) for d in docs))
            added = {f"{d.pmid}|a|" for d in docs if not d.abstract} - set(expected)
            assert [line for line in written if line not in added] == expected
            assert len(written) == len(expected) + len(added)
        n_docs += len(docs)
        pmids.update(d.pmid for d in docs)
    assert (n_docs, len(pmids)) == (23135, 21465)  # data README


def test_parse_type_map_takes_names_mappings_and_pairs() -> None:
    """One parser for configs and the command line: the union of both syntaxes."""
    assert parse_type_map(None) is None
    assert parse_type_map("") is None and parse_type_map(" None ") is None
    assert parse_type_map("ncbi") == NCBI_DISEASE_TYPE_MAP
    assert parse_type_map("NCBI_Disease") == NCBI_DISEASE_TYPE_MAP
    assert parse_type_map("ncbi") is not NCBI_DISEASE_TYPE_MAP  # a copy: callers may change it
    assert parse_type_map({"A": "B"}) == {"A": "B"}
    assert parse_type_map("Chemical=Chem, DiseaseClass = Disease") == {
        "Chemical": "Chem", "DiseaseClass": "Disease"}
    for bad, part in (("cdr", "'cdr'"), ("A=B,C", "'C'"), ("=B", "'=B'"), ("A=", "'A='")):
        with pytest.raises(ValueError, match=f"unknown type map .*{part} is not FROM=TO"):
            parse_type_map(bad)
