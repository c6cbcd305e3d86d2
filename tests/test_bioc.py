"""BioC XML reader: same Documents as the PubTator reader, errors that name file and line."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

from spacy_bioner.corpus.bioc import read_bioc
from spacy_bioner.corpus.document import CorpusFormatError, Document, Mention
from spacy_bioner.corpus.pubtator import NCBI_DISEASE_TYPE_MAP, read_pubtator

FIXTURES = Path(__file__).parent / "fixtures" / "pubtator"
CDR_BIOC = FIXTURES / "cdr_sample.BioC.xml"
CDR_PUBTATOR = FIXTURES / "cdr_sample.PubTator.txt"
CDR_SETS = ("Training", "Development", "Test")


def _comparable(docs: Sequence[Document]) -> List[Document]:
    """Drop ``source`` and trailing empty extra columns (a PubTator trailing tab; not in BioC)."""
    out = []
    for doc in docs:
        mentions = []
        for m in doc.mentions:
            extra = m.extra
            while extra and extra[-1] == "":
                extra = extra[:-1]
            mentions.append(dataclasses.replace(m, extra=extra))
        out.append(dataclasses.replace(doc, mentions=mentions, source=None))
    return out


def test_fixture_matches_pubtator() -> None:
    bioc_docs = list(read_bioc(CDR_BIOC))
    assert _comparable(bioc_docs) == _comparable(list(read_pubtator(CDR_PUBTATOR)))
    assert bioc_docs[0].source == f"{CDR_BIOC}:6"
    composite = bioc_docs[0].mentions[-1]
    assert composite == Mention(
        112,
        140,
        "ocular and auditory toxicity",
        "Disease",
        ("D014786", "D006311"),
        ("ocular toxicity|auditory toxicity",),
    )
    assert len(bioc_docs[0].mentions) == 6  # the two IndividualMentions are not Mentions


def test_type_map_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "sample.xml.gz"
    path.write_bytes(gzip.compress(CDR_BIOC.read_bytes()))
    docs = list(read_bioc(path, type_map={"Chemical": "Chem"}))
    assert {m.type for d in docs for m in d.mentions} == {"Chem", "Disease"}
    assert {
        m.type for d in read_bioc(CDR_BIOC, type_map=NCBI_DISEASE_TYPE_MAP) for m in d.mentions
    } == {"Chemical", "Disease"}


def _collection(*documents: str) -> str:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n<collection>\n<source>test</source>\n"
        + "".join(documents)
        + "</collection>\n"
    )


def _document(
    pmid: str = "1",
    title: str = "Aspirin and fever.",
    abstract: Optional[str] = "Fever fell.",
    annotations: str = "",
    abstract_offset: Optional[int] = None,
    relations: str = "",
) -> str:
    parts = [
        f"<document>\n<id>{pmid}</id>\n",
        '<passage>\n<infon key="type">title</infon>\n<offset>0</offset>\n'
        f"<text>{title}</text>\n{annotations}</passage>\n",
    ]
    if abstract is not None:
        off = len(title) + 1 if abstract_offset is None else abstract_offset
        parts.append(
            f'<passage>\n<infon key="type">abstract</infon>\n<offset>{off}</offset>\n'
            f"<text>{abstract}</text>\n</passage>\n"
        )
    return "".join(parts) + relations + "</document>\n"


def _annotation(
    offset: object, length: object, text: str, etype: str = "Chemical", extra: str = ""
) -> str:
    return (
        f'<annotation id="a">\n<infon key="type">{etype}</infon>\n{extra}'
        f"<location offset='{offset}' length='{length}' />\n<text>{text}</text>\n</annotation>\n"
    )


def test_minimal_documents(tmp_path: Path) -> None:
    path = tmp_path / "ok.xml"
    rel = (
        '<relation id="R0">\n<node refid="a" role="x" />\n<node refid="b" role="y" />\n'
        '<infon key="relation">PPI</infon>\n</relation>\n'
    )
    path.write_text(
        _collection(
            _document(annotations=_annotation(0, 7, "Aspirin"), relations=rel),
            _document("2", abstract=None),
        ),
        encoding="utf-8",
    )
    first, second = read_bioc(path)
    assert first.mentions == [Mention(0, 7, "Aspirin", "Chemical")]
    assert first.relations[0].type == "PPI" and first.relations[0].args == ("a", "b")
    assert second.abstract == "" and second.source == f"{path}:27"


# line numbers: the collection header takes 3 lines, <document> is line 4, <id> 5, the title
# passage 6-9, the first annotation starts on line 10
MALFORMED = [
    ("invalid XML", _collection(_document()).replace("</text>", "</txt>", 1), 9, "invalid XML"),
    ("not UTF-8", _collection(_document(title="Aspirin \udcff fever.")), 9, "invalid XML"),
    (
        "text mismatch",
        _collection(_document(annotations=_annotation(0, 7, "aspirin"))),
        10,
        "annotation text 'aspirin' differs",
    ),
    (
        "past the text",
        _collection(_document(annotations=_annotation(25, 6, "fell."))),
        10,
        "past the end of the text (30",
    ),
    ("zero length", _collection(_document(annotations=_annotation(3, 0, ""))), 10, "length 0"),
    (
        "negative offset",
        _collection(_document(annotations=_annotation(-1, 7, "Aspirin"))),
        10,
        "location offset '-1'",
    ),
    (
        "non-integer length",
        _collection(_document(annotations=_annotation(0, "7.0", "Aspirin"))),
        10,
        "location length '7.0'",
    ),
    (
        "no type",
        _collection(_document(annotations=_annotation(0, 7, "Aspirin", etype=""))),
        10,
        "without a type infon",
    ),
    (
        "two locations",
        _collection(
            _document(
                annotations=_annotation(
                    0, 7, "Aspirin", extra="<location offset='0' length='3' />\n"
                )
            )
        ),
        10,
        "2 locations",
    ),
    (
        "orphan individual mention",
        _collection(
            _document(
                annotations=_annotation(
                    0, 7, "Aspirin", extra='<infon key="CompositeRole">IndividualMention</infon>\n'
                )
            )
        ),
        10,
        "IndividualMention without a preceding CompositeMention",
    ),
    (
        "individual outside composite",
        _collection(
            _document(
                annotations=_annotation(
                    0, 7, "Aspirin", extra='<infon key="CompositeRole">CompositeMention</infon>\n'
                )
                + _annotation(
                    8, 3, "and", extra='<infon key="CompositeRole">IndividualMention</infon>\n'
                )
            )
        ),
        16,
        "outside its CompositeMention",
    ),
    (
        "abstract offset",
        _collection(_document(abstract_offset=18)),
        11,
        "abstract passage at offset 18, expected 19",
    ),
    ("no id", _collection(_document(pmid="")), 4, "without an <id>"),
    (
        "abstract first",
        _collection(_document().replace('"type">title', '"type">abstract', 1)),
        6,
        "abstract passage before the title",
    ),
    (
        "unknown passage",
        _collection(_document().replace('"type">title', '"type">body', 1)),
        6,
        "unexpected passage type 'body'",
    ),
    (
        "relation without type",
        _collection(
            _document(
                relations='<relation id="R0">\n<infon key="Chemical">D1</infon>\n</relation>\n'
            )
        ),
        16,
        "relation without a 'relation' infon",
    ),
    (
        "relation without arguments",
        _collection(
            _document(
                relations='<relation id="R0">\n<infon key="relation">CID</infon>\n</relation>\n'
            )
        ),
        16,
        "has no arguments",
    ),
    ("empty collection", _collection(), None, "no <document>"),
    ("truncated file", _collection(_document())[:-30], 15, "invalid XML"),
]


@pytest.mark.parametrize(
    "content,line,problem", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_bioc_names_file_and_line(
    content: str, line: Optional[int], problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.BioC.xml"
    path.write_bytes(content.encode("utf-8", errors="surrogateescape"))
    with pytest.raises(CorpusFormatError) as err:
        list(read_bioc(path))
    assert (err.value.path, err.value.line) == (str(path), line)
    assert problem in str(err.value)


def test_missing_title_passage(tmp_path: Path) -> None:
    path = tmp_path / "notitle.xml"
    path.write_text(_collection("<document>\n<id>7</id>\n</document>\n"), encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="PMID 7: no title passage") as err:
        list(read_bioc(path))
    assert err.value.line == 4


@pytest.mark.parametrize("split", CDR_SETS)
def test_cdr_bioc_equals_pubtator(data_dir: Path, split: str) -> None:
    bioc_docs = list(read_bioc(data_dir / "cdr" / "bioc" / f"CDR_{split}Set.BioC.xml"))
    pubtator_docs = list(read_pubtator(data_dir / "cdr" / f"CDR_{split}Set.PubTator.txt"))
    assert len(bioc_docs) == 500
    assert _comparable(bioc_docs) == _comparable(pubtator_docs)
    composites = [m for d in bioc_docs for m in d.mentions if m.extra]
    assert composites and all(len(m.ids) == len(m.extra[0].split("|")) for m in composites)


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = gzip.compress(CDR_BIOC.read_bytes())
    path = tmp_path / "cut.xml.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusFormatError, match="corrupt or truncated gzip") as err:
        list(read_bioc(path))
    assert err.value.path == str(path)
