"""Corpus converters: public corpora in their own formats -> PubTator text (uncompressed bytes).

Every converter here writes records ``PMID|t|title``, ``PMID|a|abstract``, then mention lines
``PMID <TAB> start <TAB> end <TAB> text <TAB> type <TAB> original type``, each record followed
by a blank line; offsets index ``title + " " + abstract``. Mentions are sorted by (start, end,
type, original type); a span annotated twice with the same types is written once.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Tuple

from .errors import ConversionError, ending, folder_files, source

# (start, end, text, type, original type)
Mention = Tuple[int, int, str, str, str]


def _squash(text: str) -> str:
    """Runs of whitespace (newlines, tabs, double spaces) -> one space; no leading/trailing space."""
    return " ".join(text.split())


def _record(pmid: str, title: str, abstract: str, mentions: Iterable[Mention] = ()) -> str:
    text = f"{title} {abstract}"
    lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
    for start, end, span, typ, orig in sorted(set(mentions), key=lambda m: (m[0], m[1], m[3], m[4])):
        if text[start:end] != span:
            raise ConversionError(f"PMID {pmid}: mention {span!r} at {start}-{end} does not match the text {text[start:end]!r}")
        lines.append(f"{pmid}\t{start}\t{end}\t{span}\t{typ}\t{orig}")
    return "\n".join(lines) + "\n\n"


def _read_lines(path: Path) -> Iterator[Tuple[int, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            for number, line in enumerate(f, start=1):
                yield number, line.rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise ConversionError(f"{path}: not UTF-8 text: {err}") from err


def copy_single(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """The one source file, unchanged (the caller gzips it)."""
    if len(files) != 1:
        raise ConversionError(f"gzip_copy takes exactly one source file, project.yml lists {sorted(files)}")
    return next(iter(files.values())).read_bytes()


# --------------------------------------------------------------------------- tmVar3 (hunflair2)
TMVAR_TYPES = {"gene": "Gene", "disease": "Disease", "species": "Species", "chemical": "Chemical", "cell_line": "CellLine"}


def _pubtator_blocks(path: Path) -> Iterator[Tuple[int, List[str]]]:
    """(first line number, lines) of each blank-line separated record."""
    block: List[str] = []
    start = 0
    for number, line in _read_lines(path):
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _title_abstract(path: Path, number: int, block: List[str]) -> Tuple[str, str, str]:
    if len(block) < 2 or "|t|" not in block[0] or "|a|" not in block[1]:
        raise ConversionError(f"{path}:{number}: expected 'ID|t|title' then 'ID|a|abstract'")
    doc_id, _, title = block[0].partition("|t|")
    _, _, abstract = block[1].partition("|a|")
    return doc_id, title, abstract


def tmvar3_pmids(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """hunflair2's PubTator annotations of tmVar3 (numbered 0..499) with their PMIDs put back.

    A document's PMID is the one of the AIONER tmVar3 record with the identical title and
    abstract; entity types are capitalised as PubTator writes them (``cell_line`` -> CellLine).
    """
    by_text: Dict[Tuple[str, str], str] = {}
    for key in ("tmVar3_Train.PubTator", "tmVar3_Test.PubTator"):
        path = ending(files, key)
        for number, block in _pubtator_blocks(path):
            pmid, title, abstract = _title_abstract(path, number, block)
            if by_text.setdefault((title, abstract), pmid) != pmid:
                raise ConversionError(f"{path}:{number}: two PMIDs share one text ({by_text[(title, abstract)]}, {pmid})")
    path = ending(files, "tmvar_v3.txt")
    out = []
    for number, block in _pubtator_blocks(path):
        _, title, abstract = _title_abstract(path, number, block)
        pmid = by_text.get((title, abstract))
        if pmid is None:
            raise ConversionError(f"{path}:{number}: no AIONER tmVar3 record has this title and abstract")
        lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
        for offset, line in enumerate(block[2:], start=2):
            cols = line.split("\t")
            if len(cols) < 5 or cols[4] not in TMVAR_TYPES:
                raise ConversionError(f"{path}:{number + offset}: expected a mention line with a known type, got {line!r}")
            cols[0], cols[4] = pmid, TMVAR_TYPES[cols[4]]
            lines.append("\t".join(cols))
        out.append("\n".join(lines) + "\n\n")
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- ADE corpus v2
def _occurrences(sentence: str, text: str) -> List[int]:
    return [m.start() for m in re.finditer(re.escape(text), sentence)]


def ade(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """ADE corpus v2 -> one pseudo-abstract per PMID (it publishes sentences, not abstracts).

    The sentences of ``DRUG-AE.rel`` (drug -> adverse effect) come first, in the order of their
    place in the original abstract, then the ``ADE-NEG.txt`` sentences in file order (each
    once); the first sentence is the title. A PMID with one sentence only is left out. Drugs
    (Chemical) and adverse effects (Disease) are labelled where a relation names them: the
    relation's offsets point into the unpublished abstract, so of the mention's occurrences in
    its sentence the pair whose distance matches the relation's is taken (the first on a tie).
    A sentence whose whitespace had to be squashed keeps no mentions.
    """
    rel_path, neg_path = ending(files, "DRUG-AE.rel"), ending(files, "ADE-NEG.txt")
    # pmid -> sentence -> list of (effect text, effect start, drug text, drug start)
    relations: Dict[str, Dict[str, List[Tuple[str, int, str, int]]]] = {}
    for number, line in _read_lines(rel_path):
        cols = line.split("|")
        if len(cols) != 8 or not cols[0].isdigit():
            raise ConversionError(f"{rel_path}:{number}: expected 8 '|'-separated fields, got {len(cols)}")
        pmid, sentence, effect, e_start, _, drug, d_start, _ = cols
        try:
            entry = (effect, int(e_start), drug, int(d_start))
        except ValueError as err:
            raise ConversionError(f"{rel_path}:{number}: offsets are not integers") from err
        relations.setdefault(pmid, {}).setdefault(sentence, []).append(entry)
    negatives: Dict[str, List[str]] = {}
    for number, line in _read_lines(neg_path):
        pmid, sep, sentence = line.partition(" NEG ")
        if not sep or not pmid.isdigit():
            raise ConversionError(f"{neg_path}:{number}: expected 'PMID NEG sentence'")
        negatives.setdefault(pmid, []).append(sentence)
    out = []
    for pmid in sorted(set(relations) | set(negatives), key=int):
        if pmid in gold:
            continue
        placed = []  # (start in the abstract, sentence, mentions within the sentence)
        for sentence, rels in relations.get(pmid, {}).items():
            squashed = _squash(sentence)
            local: List[Mention] = []
            starts = []
            for effect, e_start, drug, d_start in rels:
                e_occ, d_occ = _occurrences(squashed, effect), _occurrences(squashed, drug)
                if not e_occ or not d_occ:
                    raise ConversionError(f"{rel_path}: PMID {pmid}: {effect!r} or {drug!r} is not in its sentence")
                e, d = min(((x, y) for x in e_occ for y in d_occ),
                           key=lambda p: (abs((p[1] - p[0]) - (d_start - e_start)), p[0], p[1]))
                starts.append(e_start - e)
                if squashed == sentence:
                    local.append((e, e + len(effect), effect, "Disease", "ADE:adverse_effect"))
                    local.append((d, d + len(drug), drug, "Chemical", "ADE:drug"))
            placed.append((min(starts), squashed, local))
        placed.sort(key=lambda p: p[0])
        related = {s for _, s, _ in placed}
        sentences = [(s, m) for _, s, m in placed]
        sentences += [(s, []) for s in dict.fromkeys(_squash(x) for x in negatives.get(pmid, [])) if s not in related]
        if len(sentences) < 2:
            continue
        text, mentions = "", []
        for sentence, local in sentences:
            offset = len(text) + 1 if text else 0
            mentions += [(b + offset, e + offset, s, t, o) for b, e, s, t, o in local]
            text = f"{text} {sentence}" if text else sentence
        title = sentences[0][0]
        out.append(_record(pmid, title, text[len(title) + 1:], mentions))
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- BioNLP-ST 2013
BIONLP_TYPES = {"Gene_or_gene_product": "Gene", "Cancer": "Disease", "Simple_chemical": "Chemical", "Organism": "Species"}


def _squash_with_offsets(raw: str, base: int, out_start: int, positions: Dict[int, int]) -> str:
    """Squash ``raw`` (found at ``base`` in the file) and map each kept character to its new offset."""
    words = []
    k = out_start
    for m in re.finditer(r"\S+", raw):
        for q in range(m.start(), m.end()):
            positions[base + q] = k
            k += 1
        k += 1
        words.append(m.group())
    return " ".join(words)


def bionlp_standoff(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """BioNLP-ST standoff (``PMID-*.txt`` + ``.a1``) of train, devel, test -> PubTator.

    The first line is the title; whitespace is squashed and the offsets follow. Entity types are
    mapped to the project's (Gene_or_gene_product -> Gene, Cancer -> Disease, Simple_chemical ->
    Chemical, Organism -> Species; the others kept), the original type in the 6th column;
    discontinuous spans are skipped. Documents in folder order train, devel, test, by name.
    """
    out = []
    seen = set()
    for split in ("train", "devel", "test"):
        folder = ending(files, f"original-data/{split}/")
        for txt in folder_files(folder, "PMID-*.txt"):
            pmid = txt.stem[len("PMID-"):]
            if pmid in gold or pmid in seen:
                continue
            seen.add(pmid)
            raw = txt.read_text(encoding="utf-8")
            first, _, rest = raw.partition("\n")
            positions: Dict[int, int] = {}
            title = _squash_with_offsets(first, 0, 0, positions)
            abstract = _squash_with_offsets(rest, len(first) + 1, len(title) + 1, positions)
            mentions: List[Mention] = []
            a1 = txt.with_suffix(".a1")
            for number, line in _read_lines(a1):
                if not line.startswith("T"):
                    continue
                cols = line.split("\t")
                if len(cols) != 3 or " " not in cols[1]:
                    raise ConversionError(f"{a1}:{number}: expected 'T<n> <TAB> Type start end <TAB> text'")
                typ, span = cols[1].split(" ", 1)
                if ";" in span:
                    continue
                try:
                    start, end = map(int, span.split())
                except ValueError as err:
                    raise ConversionError(f"{a1}:{number}: bad offsets {span!r}") from err
                if raw[start:end] != cols[2] or start not in positions or end - 1 not in positions:
                    raise ConversionError(f"{a1}:{number}: {cols[2]!r} is not the text at {start}-{end}")
                new_start, new_end = positions[start], positions[end - 1] + 1
                mentions.append((new_start, new_end, _squash(cols[2]), BIONLP_TYPES.get(typ, typ), typ))
            out.append(_record(pmid, title, abstract, mentions))
    return "".join(out).encode("utf-8")


_SENTENCE_END = re.compile(r"[.?!] (?=[A-Z0-9])")


def bionlp_gro(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """BioNLP-ST 2013 GRO texts (``<PMID>_gro.txt``, no title line) -> PubTator, text only.

    The first sentence (up to the first ``. ``, ``? `` or ``! `` before a capital or a digit) is
    the title; a text that is one sentence only is left out.
    """
    out = []
    for path in folder_files(ending(files, "bionlp-st-2013_gro_train_devel_texts/"), "*_gro.txt"):
        pmid = path.name.split("_")[0]
        if pmid in gold:
            continue
        text = _squash(path.read_text(encoding="utf-8"))
        m = _SENTENCE_END.search(text)
        if not m:
            continue
        out.append(_record(pmid, text[: m.start() + 1], text[m.end():]))
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- ChemProt
CHEMPROT_TYPES = {"CHEMICAL": "Chemical", "GENE-Y": "Gene", "GENE-N": "Gene"}
CHEMPROT_SETS = (
    ("chemprot_training/chemprot_training_abstracts.tsv", "chemprot_training/chemprot_training_entities.tsv"),
    ("chemprot_development/chemprot_development_abstracts.tsv", "chemprot_development/chemprot_development_entities.tsv"),
    ("chemprot_test_gs/chemprot_test_abstracts_gs.tsv", "chemprot_test_gs/chemprot_test_entities_gs.tsv"),
)


def chemprot(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """ChemProt (BioCreative VI) training, development and test -> PubTator with its entities."""
    out = []
    seen = set()
    for abstracts_name, entities_name in CHEMPROT_SETS:
        entities: Dict[str, List[Mention]] = {}
        entities_path = ending(files, entities_name)
        for number, line in _read_lines(entities_path):
            cols = line.split("\t")
            if len(cols) != 6 or cols[2] not in CHEMPROT_TYPES:
                raise ConversionError(f"{entities_path}:{number}: expected 'PMID T<n> TYPE start end text'")
            try:
                start, end = int(cols[3]), int(cols[4])
            except ValueError as err:
                raise ConversionError(f"{entities_path}:{number}: offsets are not integers") from err
            entities.setdefault(cols[0], []).append((start, end, cols[5], CHEMPROT_TYPES[cols[2]], cols[2]))
        abstracts_path = ending(files, abstracts_name)
        for number, line in _read_lines(abstracts_path):
            cols = line.split("\t")
            if len(cols) != 3:
                raise ConversionError(f"{abstracts_path}:{number}: expected 'PMID <TAB> title <TAB> abstract'")
            pmid, title, abstract = cols
            if pmid in gold or pmid in seen:
                continue
            seen.add(pmid)
            try:
                out.append(_record(pmid, title, abstract, entities.get(pmid, [])))
            except ConversionError as err:
                raise ConversionError(f"{entities_path}: {err}") from err
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- evidence-inference
def _itertext(el) -> str:  # noqa: ANN001
    return _squash("".join(el.itertext()))


def _nxml_record(path: Path) -> Optional[Tuple[str, str, str]]:
    from lxml import etree

    try:
        tree = etree.parse(str(path))
    except etree.XMLSyntaxError as err:
        raise ConversionError(f"{path}: not well-formed XML: {err}") from err
    meta = tree.find(".//article-meta")
    if meta is None:
        raise ConversionError(f"{path}: no <article-meta>")
    pmid_el = meta.find("article-id[@pub-id-type='pmid']")
    if pmid_el is None or not (pmid_el.text or "").strip():
        return None
    title_el = meta.find("title-group/article-title")
    title = _itertext(title_el) if title_el is not None else ""
    abstracts = [a for a in meta.findall("abstract") if a.get("abstract-type") is None]
    if not abstracts:
        return None
    abstract_el = abstracts[0]
    sections = abstract_el.findall("sec")
    if sections:
        parts = []
        for sec in sections:
            heading = sec.find("title")
            label = _itertext(heading).rstrip(":") if heading is not None else ""
            body = " ".join(_itertext(x) for x in sec if x.tag != "title")
            parts.append(f"{label.upper()}: {body}" if label else body)
        abstract = _squash(" ".join(parts))
    else:
        abstract = _itertext(abstract_el)
    if not title or not abstract:
        return None
    return pmid_el.text.strip(), title, abstract


def evidence_inference(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """evidence-inference's PMC articles (``*.nxml``) -> title and abstract, text only.

    A structured abstract's sections read ``LABEL: text``; articles without a PMID or an abstract
    are left out, and a PMID seen before is skipped. Files in name order.
    """
    out = []
    seen = set()
    for path in folder_files(ending(files, "annotations/xml_files/"), "*.nxml"):
        record = _nxml_record(path)
        if record is None or record[0] in gold or record[0] in seen:
            continue
        seen.add(record[0])
        out.append(_record(*record))
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- Hallmarks of Cancer
_DETOK = (
    (re.compile(r" ([.,;:?!%)\]])"), r"\1"),  # no space before closing punctuation
    (re.compile(r"([(\[]) "), r"\1"),  # nor after an opening bracket
)


def _detokenise(sentence: str) -> str:
    for pattern, repl in _DETOK:
        sentence = pattern.sub(repl, sentence)
    return sentence.replace(" - ", "-").replace(" / ", "/")


def hoc(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """Hallmarks of Cancer (``text/<PMID>.txt``, one tokenised sentence a line) -> PubTator.

    Light detokenisation (no space before ``. , ; : ? ! % ) ]``, after ``( [``, around ``-``
    and ``/``); the first sentence is the title. Files in name order.
    """
    out = []
    for path in folder_files(ending(files, "text/"), "*.txt"):
        pmid = path.stem
        if pmid in gold:
            continue
        sentences = [_detokenise(_squash(line)) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
        if len(sentences) < 2:
            continue
        out.append(_record(pmid, sentences[0], " ".join(sentences[1:])))
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- PubMedQA
def pubmedqa(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """PubMedQA's labelled set (``ori_pqal.json``) -> the question as title, contexts + long answer.

    Records in file order.
    """
    path = ending(files, "ori_pqal.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConversionError(f"{path}:{err.lineno}: not JSON: {err.msg}") from err
    out = []
    for pmid, rec in data.items():
        if not (pmid.isdigit() and isinstance(rec, dict) and isinstance(rec.get("QUESTION"), str)
                and isinstance(rec.get("CONTEXTS"), list) and isinstance(rec.get("LONG_ANSWER"), str)):
            raise ConversionError(f"{path}: record {pmid!r} lacks QUESTION, CONTEXTS or LONG_ANSWER")
        if pmid in gold:
            continue
        out.append(_record(pmid, _squash(rec["QUESTION"]), _squash(" ".join(rec["CONTEXTS"] + [rec["LONG_ANSWER"]]))))
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- DRSM-corpus
DRSM_COLUMNS = ("ID_PAPER", "TITLE", "ABSTRACT")


def drsm_rows(path: Path) -> Iterator[Tuple[int, str, str, str]]:
    """(line, PMID, title, abstract) of each row of one DRSM TSV (quoted fields may hold newlines)."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter="\t")
            header = next(reader, None)
            if header is None or not all(c in header for c in DRSM_COLUMNS):
                raise ConversionError(f"{path}:1: expected a header with the columns {', '.join(DRSM_COLUMNS)}")
            cols = [header.index(c) for c in DRSM_COLUMNS]
            start = reader.line_num + 1
            for row in reader:
                if len(row) != len(header):
                    raise ConversionError(
                        f"{path}:{start}: expected {len(header)} tab-separated fields, got {len(row)}"
                    )
                pmid, title, abstract = (row[i] for i in cols)
                if not pmid.isdigit():
                    raise ConversionError(f"{path}:{start}: ID_PAPER {pmid!r} is not a PMID")
                yield start, pmid, title, abstract
                start = reader.line_num + 1
    except UnicodeDecodeError as err:
        raise ConversionError(f"{path}: not UTF-8 text: {err}") from err
    except csv.Error as err:
        raise ConversionError(f"{path}: not readable as TSV: {err}") from err


def drsm(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """Versions of DRSM-corpus's curation TSVs (``ID_PAPER``, ``TITLE``, ``ABSTRACT``) -> PubTator, text only.

    The files are read in the order ``project.yml`` lists them: a PMID takes its title and
    abstract from the first file that has a row for it with both, and within that file from its
    last such row (rows are appended as curation goes on). Records come in the order PMIDs first
    appear. HTML entities (``&gt;``) are unescaped, whitespace squashed; the curators' ``**``
    highlight marks of ``curated_data.tsv`` are part of the text and kept, as in the mirror's file.
    """
    if not files:
        raise ConversionError("drsm needs at least one DRSM-corpus TSV; project.yml lists none")
    chosen: Dict[str, Tuple[str, str]] = {}
    for path in files.values():
        found: Dict[str, Tuple[str, str]] = {}
        for _, pmid, title, abstract in drsm_rows(path):
            title, abstract = _squash(html.unescape(title)), _squash(html.unescape(abstract))
            if pmid in chosen or pmid in gold or not title or not abstract:
                continue
            found[pmid] = (title, abstract)  # a later row of the same file replaces an earlier one
        chosen.update(found)
    return "".join(_record(pmid, title, abstract) for pmid, (title, abstract) in chosen.items()).encode("utf-8")
