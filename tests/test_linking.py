"""Entity linking: KB from mirror files, alias index, typed ranking, bioner_linker pipe, evaluation."""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path
from typing import List

import pytest
import spacy
from scispacy.candidate_generation import CandidateGenerator, LinkerPaths
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpus.document import CorpusFormatError, Document, Mention
from spacy_bioner.corpus.pubtator import read_pubtator, write_pubtator
from spacy_bioner.linking import (
    BioKnowledgeBase,
    IndexParams,
    TypedLinker,
    build_entities,
    build_index,
    end_to_end,
    evaluate_normalisation,
    gold_ids,
    load_index,
)
from spacy_bioner.linking.index import load_exact
from spacy_bioner.linking.kb import KBBuilder, add_mesh_terms, normalise_alias

SMALL = IndexParams(m=8, ef_construction=50, ef_search=100, threads=1)

MESH_ROWS = [
    ("D000001", "Dopamine", "Dopamine", "D02|D03"),
    ("D000001", "Dopamine", "Hydroxytyramine", "D02|D03"),
    ("D000002", "Dopamine Agents", "Dopamine Agents", "D27"),
    ("D000003", "Cocaine", "Cocaine", "D03"),
    ("D000004", "Cocaine-Related Disorders", "Cocaine-Related Disorders", "C25|F03"),
    ("D000004", "Cocaine-Related Disorders", "Cocaine Abuse", "C25|F03"),
    ("D000005", "Hypertension", "Hypertension", "C14"),
    ("D000005", "Hypertension", "High Blood Pressure", "C14"),
    ("D000006", "Hypotension", "Hypotension", "C14"),
    ("D000007", "Parkinson Disease", "Parkinson Disease", "C10|F03"),
    ("D000007", "Parkinson Disease", "Paralysis Agitans", "C10|F03"),
    ("D000008", "Lithium", "Lithium", "D01"),
    ("D000009", "Brain", "Brain", "A08"),
    ("D000010", "Neoplasms", "Neoplasms", ""),
    ("D000011", "Depressive Disorder", "Depressive Disorder", "F03"),
]
CTD_HEADER = [
    "# Fields:",
    "# DiseaseName\tDiseaseID\tAltDiseaseIDs\tDefinition\tParentIDs\tTreeNumbers\tParentTreeNumbers\tSynonyms\tSlimMappings",
    "#",
]
CTD_ROWS = [
    ("Parkinson Disease", "MESH:D000007", "", "A degenerative disease.", "", "C10", "", "Parkinson's disease|Idiopathic Parkinsonism", ""),
    ("Neoplasms", "MESH:D000010", "", "", "", "C04", "", "Tumors|Cancer", ""),
    ("Parkinson disease, juvenile", "OMIM:600116", "", "", "", "C10", "", "Juvenile parkinsonism", ""),
    ("Hypotension, Orthostatic", "MESH:C000012", "", "", "", "C14", "", "Orthostatic hypotension", ""),
]
LOWER = {
    "chemical": [("D000001", "dopamine hydrochloride"), ("D000013", "levodopa")],
    "disease": [("D000005", "hypertensive disease")],
}


def _gz(path: Path, lines: List[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny data mirror with the layout that build_entities reads."""
    root = tmp_path_factory.mktemp("mirror")
    _gz(root / "mesh/mesh_descriptor_terms.tsv.gz",
        ["DescriptorUI\tDescriptorName\tTermName\ttree_tops"] + ["\t".join(r) for r in MESH_ROWS])
    _gz(root / "ctd/CTD_diseases.tsv.gz", CTD_HEADER + ["\t".join(r) for r in CTD_ROWS])
    for kind, rows in LOWER.items():
        _gz(root / f"mesh/{kind}_terms_lower.tsv.gz", ["\t".join(r) for r in rows])
    return root


@pytest.fixture(scope="module")
def index_dir(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("index")
    build_index(build_entities(mirror), out, SMALL)
    return out


@pytest.fixture(scope="module")
def linker(index_dir: Path) -> TypedLinker:
    return TypedLinker(load_index(index_dir), k=10)


def test_entities_from_mirror(mirror: Path) -> None:
    entities = {e.concept_id: e for e in build_entities(mirror)}
    assert "D000009" not in entities  # anatomy: neither Chemical nor Disease
    assert entities["D000001"].types == ["Chemical"]
    assert entities["D000001"].canonical_name == "Dopamine"
    assert set(entities["D000001"].aliases) == {"Hydroxytyramine", "dopamine hydrochloride"}
    assert entities["D000004"].types == ["Disease"]  # C25 and F03
    assert entities["D000011"].types == ["Disease"]  # F03 only
    assert entities["D000010"].types == ["Disease"]  # no tree top, typed by CTD
    assert "Tumors" in entities["D000010"].aliases
    assert entities["D000007"].definition == "A degenerative disease."
    assert entities["OMIM:600116"].types == ["Disease"]
    assert entities["C000012"].canonical_name == "Hypotension, Orthostatic"  # MESH: prefix dropped
    assert entities["D000013"].types == ["Chemical"] and entities["D000013"].canonical_name == "levodopa"


def test_malformed_mesh_row_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mesh.tsv.gz"
    _gz(path, ["DescriptorUI\tDescriptorName\tTermName\ttree_tops", "D1\tA\tA\tD01", "D2\tB\tD01"])
    with pytest.raises(CorpusFormatError, match=r"mesh\.tsv\.gz:3: expected 4 columns"):
        add_mesh_terms(KBBuilder(), path)
    _gz(path, ["UI\tName", "D1\tA"])
    with pytest.raises(CorpusFormatError, match=r"mesh\.tsv\.gz:1: expected header"):
        add_mesh_terms(KBBuilder(), path)


def test_kb_maps_normalised_aliases(index_dir: Path) -> None:
    kb = BioKnowledgeBase(index_dir / "kb.jsonl")
    assert kb.alias_to_cuis["Paralysis Agitans"] == {"D000007"}
    assert kb.alias_to_cuis["paralysis agitans"] == {"D000007"}
    assert normalise_alias("  High  Blood\tPressure ") == "high blood pressure"


def test_index_loads_with_scispacy_linker_paths(index_dir: Path) -> None:
    aliases, vectorizer, ann_index = LinkerPaths.from_directory(str(index_dir)).load()
    assert "paralysis agitans" in aliases and len(aliases) == len(set(aliases))
    generator = CandidateGenerator(ann_index, vectorizer, aliases, BioKnowledgeBase(index_dir / "kb.jsonl"))
    (cands,) = generator(["paralysis agitans"], 5)
    best = max(cands, key=lambda c: max(c.similarities))
    assert best.concept_id == "D000007" and max(best.similarities) == pytest.approx(1.0, abs=1e-4)
    meta = json.loads((index_dir / "meta.json").read_text())
    assert meta["aliases_indexed"] == len(aliases) and meta["params"]["m"] == SMALL.m


def test_exact_alias_ranks_first(linker: TypedLinker) -> None:
    (hyper,), (hypo,) = [r[:1] for r in linker.rank(["Hypertension", "hypotension"], ["Disease", "Disease"])]
    assert hyper[0] == "D000005" and hyper[1] == pytest.approx(1.0, abs=1e-4)
    assert hypo[0] == "D000006"
    ranked = linker.rank(["Dopamine"], [None])[0]
    assert [cid for cid, _ in ranked[:2]] == ["D000001", "D000002"]
    assert ranked[0][1] > ranked[1][1]


def test_type_restriction(linker: TypedLinker) -> None:
    chem, dis, anything = linker.rank(["cocaine"] * 3, ["Chemical", "Disease", None])
    assert chem[0][0] == "D000003"
    assert dis[0][0] == "D000004"
    assert all("Disease" in linker.kb.cui_to_entity[c].types for c, _ in dis)
    assert all("Chemical" in linker.kb.cui_to_entity[c].types for c, _ in chem)
    assert anything[0][0] == "D000003"
    assert {c for c, _ in anything} >= {"D000003", "D000004"}


def test_threshold_and_tie_order(linker: TypedLinker) -> None:
    assert linker.link(["zzzz qqqq"], [None]) == [[]]  # nothing similar enough
    # "Parkinson Disease" names a MeSH descriptor; the OMIM concept only resembles it.
    ranked = linker.rank(["Parkinson Disease"], ["Disease"])[0]
    assert ranked[0][0] == "D000007"


def test_exact_index_agrees_on_exact_aliases(index_dir: Path, linker: TypedLinker) -> None:
    exact = TypedLinker(load_exact(index_dir), k=10)
    texts = ["Hydroxytyramine", "Cocaine Abuse", "Juvenile parkinsonism", "levodopa"]
    types = ["Chemical", "Disease", "Disease", "Chemical"]
    assert [r[0][0] for r in exact.rank(texts, types)] == [r[0][0] for r in linker.rank(texts, types)]
    assert [r[0][0] for r in exact.rank(texts, types)] == ["D000001", "D000004", "OMIM:600116", "D000013"]


# -- the spaCy component ----------------------------------------------------------------------

TEXT = "Dopamine (DA) and cocaine raised DA levels; cocaine abuse caused hypertension."
PATTERNS = [
    {"label": "Chemical", "pattern": "Dopamine"},
    {"label": "Chemical", "pattern": "DA"},
    {"label": "Chemical", "pattern": "cocaine"},
    {"label": "Disease", "pattern": [{"LOWER": "cocaine"}, {"LOWER": "abuse"}]},
    {"label": "Disease", "pattern": "hypertension"},
]


def _nlp(index_dir: Path, abbreviations: bool, **config: object) -> spacy.language.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    if abbreviations:
        nlp.add_pipe("abbreviation_detector")
    nlp.add_pipe("bioner_linker", config={"index_path": str(index_dir), "k": 10, **config})
    return nlp


def _links(doc: spacy.tokens.Doc) -> List[tuple]:
    return [(ent.text, ent.label_, ent._.kb_ents[0][0] if ent._.kb_ents else None, ent.kb_id_) for ent in doc.ents]


def test_pipe_links_ents_by_type(index_dir: Path) -> None:
    doc = _nlp(index_dir, abbreviations=False)(TEXT)
    links = _links(doc)
    assert links[0] == ("Dopamine", "Chemical", "D000001", "D000001")
    assert ("cocaine", "Chemical", "D000003", "D000003") in links
    assert ("cocaine abuse", "Disease", "D000004", "D000004") in links
    assert links[-1] == ("hypertension", "Disease", "D000005", "D000005")
    for ent in doc.ents:
        scores = [s for _, s in ent._.kb_ents]
        assert scores == sorted(scores, reverse=True) and all(s > 0.7 for s in scores)
        assert len(ent._.kb_ents) <= 5


def test_pipe_resolves_abbreviations(index_dir: Path) -> None:
    plain = _links(_nlp(index_dir, abbreviations=False)(TEXT))
    assert [link[2] for link in plain if link[0] == "DA"] == [None, None]  # "DA" alone matches nothing
    resolved = _links(_nlp(index_dir, abbreviations=True)(TEXT))
    assert [link[2] for link in resolved if link[0] == "DA"] == ["D000001", "D000001"]
    off = _links(_nlp(index_dir, abbreviations=True, resolve_abbreviations=False)(TEXT))
    assert off == plain


def test_pipe_round_trip_needs_nothing_outside(index_dir: Path, tmp_path: Path) -> None:
    private = tmp_path / "private_index"
    shutil.copytree(index_dir, private)
    nlp = _nlp(private, abbreviations=True)
    before = [(e.text, e._.kb_ents) for e in nlp(TEXT).ents]
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(private)  # the saved pipeline must not depend on the original folder
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["entity_ruler", "abbreviation_detector", "bioner_linker"]
    after = [(e.text, e._.kb_ents) for e in loaded(TEXT).ents]
    assert after == before
    docs = list(loaded.pipe([TEXT, "hypertension"], batch_size=1))
    assert [(e.text, e._.kb_ents) for e in docs[0].ents] == before
    assert docs[1].ents[0]._.kb_ents[0][0] == "D000005"
    loaded.to_disk(tmp_path / "pipeline2")  # re-save from the loaded copy
    assert (tmp_path / "pipeline2" / "bioner_linker" / "nmslib_index.bin").is_file()


def test_pipe_without_index_says_what_to_do() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_linker")
    with pytest.raises(ValueError, match="index_path"):
        nlp("text")
    with pytest.raises(FileNotFoundError, match="missing"):
        spacy.blank("en").add_pipe("bioner_linker").initialize(index_path=str(Path(__file__).parent))


# -- evaluation -------------------------------------------------------------------------------

def _doc(pmid: str, title: str, mentions: List[Mention]) -> Document:
    return Document(pmid, title, "", mentions)


def _m(text: str, title: str, type_: str, ids: tuple, nth: int = 0) -> Mention:
    start = -1
    for _ in range(nth + 1):
        start = title.index(text, start + 1)
    return Mention(start, start + len(text), text, type_, ids)


def test_gold_ids_parts() -> None:
    assert gold_ids(Mention(0, 1, "x", "Disease", ("D1", "MESH:D2"))) == {"D1", "D2"}
    assert gold_ids(Mention(0, 1, "x", "Disease", ("D1+D3",))) == {"D1", "D3"}
    assert gold_ids(Mention(0, 1, "x", "Disease", ("-1",))) == frozenset()


def test_evaluate_normalisation_counts(linker: TypedLinker) -> None:
    title = "Dopamine and cocaine abuse with hypertension or hypotension and foo and bar."
    gold = [_doc("1", title, [
        _m("Dopamine", title, "Chemical", ("D000001",)),                  # right
        _m("cocaine abuse", title, "Disease", ("D000004",)),              # right
        _m("hypertension", title, "Disease", ("D000006", "D000005")),     # composite: any part
        _m("hypotension", title, "Disease", ("D000005",)),                # wrong at 1
        _m("foo", title, "Chemical", ("-1",)),                            # unnormalisable
        _m("bar", title, "Chemical", ("D999999",)),                       # not in KB
    ])]
    # threshold 0.5: "hypertension" scores 0.61 for "hypotension" in this tiny KB (below the default 0.7)
    scores = evaluate_normalisation(linker, gold, ks=(1, 5), threshold=0.5)
    chem, dis = scores.per_type["Chemical"], scores.per_type["Disease"]
    assert (chem.mentions, chem.unnormalisable, chem.evaluated, chem.gold_in_kb) == (3, 1, 2, 1)
    assert chem.hits.get(1, 0) == 1 and chem.accuracy() == 0.5
    assert (dis.evaluated, dis.hits[1]) == (3, 2)
    assert dis.recall_at(5) == 1.0  # Hypertension is among the top 5 for "hypotension"
    assert scores.overall.evaluated == 5 and scores.overall.accuracy() == pytest.approx(3 / 5)
    table = scores.table()
    assert "Chemical" in table and "60.00" in table
    assert json.loads(json.dumps(scores.to_dict()))["overall"]["recall@5"] == pytest.approx(4 / 5)


def test_end_to_end_scores() -> None:
    title = "aspirin and headache and fever and nausea"
    gold = [_doc("1", title, [
        _m("aspirin", title, "Chemical", ("D1",)),
        _m("headache", title, "Disease", ("D2", "D3")),
        _m("fever", title, "Disease", ("-1",)),
        _m("nausea", title, "Disease", ("D4",)),
    ])]
    pred = [_doc("1", title, [
        _m("aspirin", title, "Chemical", ("D1",)),       # TP
        _m("headache", title, "Disease", ("D3",)),       # TP (part of composite)
        _m("fever", title, "Disease", ("D9",)),          # on a -1 gold span: ignored
        _m("nausea", title, "Disease", ("D5",)),         # FP and FN: wrong id
        _m("and", title, "Chemical", ("D1",)),           # FP: not a gold span
        _m("and", title, "Disease", (), nth=1),          # FP: no id
    ])]
    scores = end_to_end(gold, pred)
    chem, dis = scores.per_type["Chemical"], scores.per_type["Disease"]
    assert (chem.tp, chem.fp, chem.fn) == (1, 1, 0)
    assert (dis.tp, dis.fp, dis.fn) == (1, 2, 1)
    assert scores.unnormalisable_gold == 1
    assert scores.micro.p == pytest.approx(2 / 5) and scores.micro.r == pytest.approx(2 / 3)


def test_cli_build_and_evaluate(mirror: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "idx"
    result = runner.invoke(app, ["link", "build-kb", "--data", str(mirror), "--output", str(out),
                                 "--m", "8", "--ef-construction", "50", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "Chemical" in result.output and (out / "nmslib_index.bin").is_file()
    title = "Hydroxytyramine raised high blood pressure"
    gold_path = tmp_path / "gold.PubTator"
    write_pubtator([_doc("7", title, [
        _m("Hydroxytyramine", title, "Chemical", ("D000001",)),
        _m("high blood pressure", title, "Disease", ("D000005",)),
    ])], gold_path)
    metrics = tmp_path / "m.json"
    result = runner.invoke(app, ["link", "evaluate", str(out), str(gold_path), "--output", str(metrics)])
    assert result.exit_code == 0, result.output
    assert "100.00" in result.output
    assert json.loads(metrics.read_text())["overall"]["accuracy"] == 1.0
    result = runner.invoke(app, ["link", "evaluate", str(tmp_path / "nope"), str(gold_path)])
    assert result.exit_code == 1 and "not found" in result.output


# -- the real data ----------------------------------------------------------------------------

def test_real_data_subset(data_dir: Path, tmp_path: Path) -> None:
    """Full KB from the mirror, index over the concepts of 20 CDR test abstracts + 1500 others."""
    entities = build_entities(data_dir)
    assert len(entities) > 20000
    by_type = {t: sum(t in e.types for e in entities) for t in ("Chemical", "Disease")}
    assert by_type["Chemical"] > 10000 and by_type["Disease"] > 11000
    docs = list(read_pubtator(data_dir / "cdr/CDR_TestSet.PubTator.txt"))[:20]
    wanted = {i for d in docs for m in d.mentions for i in gold_ids(m)}
    others = [e for e in entities if e.concept_id not in wanted]
    subset = [e for e in entities if e.concept_id in wanted] + random.Random(0).sample(others, 1500)
    build_index(subset, tmp_path / "idx", IndexParams(m=16, ef_construction=100, threads=1))
    linker = TypedLinker(load_index(tmp_path / "idx"))
    scores = evaluate_normalisation(linker, docs)
    overall = scores.overall
    assert overall.evaluated > 300 and overall.gold_in_kb < overall.evaluated  # supplementary chemicals
    # abbreviations (SSc, PD, IDM) and paraphrases fail without abbreviation resolution; a mention
    # whose text is an alias of its gold concept must almost always be linked right
    assert overall.accuracy() > 0.5
    kb = linker.kb
    exact = [m for d in docs for m in d.mentions
             if any(i in kb.cui_to_entity and normalise_alias(m.text) in
                    {normalise_alias(a) for a in [kb.cui_to_entity[i].canonical_name, *kb.cui_to_entity[i].aliases]}
                    for i in gold_ids(m))]
    assert len(exact) > 150
    hits = sum(linker.rank([m.text], [m.type])[0][0][0] in gold_ids(m) for m in exact)
    assert hits / len(exact) > 0.95
    assert overall.recall_at(5) >= overall.accuracy()


def test_cli_end_to_end(index_dir: Path, tmp_path: Path) -> None:
    """NER (an entity ruler here) + abbreviation detector + linker on raw text, scored by span, type and id."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([
        {"label": "Chemical", "pattern": "Hydroxytyramine"},
        {"label": "Disease", "pattern": [{"LOWER": "high"}, {"LOWER": "blood"}, {"LOWER": "pressure"}]},
        {"label": "Disease", "pattern": "raised"},  # a false positive
    ])
    model = tmp_path / "ner"
    nlp.to_disk(model)
    title = "Hydroxytyramine raised high blood pressure and lithium"
    gold_path = tmp_path / "gold.PubTator"
    write_pubtator([_doc("7", title, [
        _m("Hydroxytyramine", title, "Chemical", ("D000001",)),
        _m("high blood pressure", title, "Disease", ("D000005",)),
        _m("lithium", title, "Chemical", ("D000008",)),  # missed by the ruler
    ])], gold_path)
    metrics = tmp_path / "e2e.json"
    result = CliRunner().invoke(app, ["link", "end-to-end", str(model), str(index_dir), str(gold_path),
                                      "--output", str(metrics)])
    assert result.exit_code == 0, result.output
    data = json.loads(metrics.read_text())
    assert data["pipeline"] == ["entity_ruler", "abbreviation_detector", "bioner_linker"]
    micro = data["end_to_end"]["micro"]
    assert (micro["tp"], micro["fp"], micro["fn"]) == (2, 1, 1)
    assert data["mentions"]["micro"]["tp"] == 2
    result = CliRunner().invoke(app, ["link", "end-to-end", str(model), str(tmp_path / "nope"), str(gold_path)])
    assert result.exit_code == 1 and "not found" in result.output
