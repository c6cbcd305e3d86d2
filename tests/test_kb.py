"""Knowledge bases for the accuracy set: parsing, id normalisation, typing, support of mentions."""

import gzip
from pathlib import Path

import pytest

from spacy_bioner.corpus.document import CorpusFormatError, Mention
from spacy_bioner.weak.dictionary import DictionaryLabeller
from spacy_bioner.weak.kb import (
    CHEMICAL,
    DISEASE,
    DiseaseVocabulary,
    KnowledgeBase,
    MeshIndexing,
    MeshVocabulary,
    detect_pair_format,
    load_knowledge_base,
    normalise_id,
    read_term_dictionary,
    split_ids,
)

MEDIC = """# The Comparative Toxicogenomics Database (CTD)
#
# Fields:
# DiseaseName\tDiseaseID\tAltDiseaseIDs\tDefinition\tParentIDs\tTreeNumbers\tParentTreeNumbers\tSynonyms\tSlimMappings
#
Hepatitis\tMESH:D006505\t\t\tMESH:D008107\tC06.552.380\tC06.552\tHepatitides\tDigestive system disease
Cardiomyopathy, Hypertrophic, Familial\tMESH:D024741\tOMIM:115195|DO:DOID:0080326\t\t\tC14.280\tC14\tFamilial Hypertrophic Cardiomyopathy|FHC\t
Nephrotoxicity Syndrome\tMESH:C535000\t\t\t\tC12.777\tC12\t\t
"""

MESH_TERMS = (
    "DescriptorUI\tDescriptorName\tTermName\ttree_tops\n"
    "D000082\tAcetaminophen\tAcetaminophen\tD02\n"
    "D000082\tAcetaminophen\tParacetamol\tD02\n"
    "D006973\tHypertension\tHypertension\tC14\n"
    "D006973\tHypertension\tHigh Blood Pressure\tC14\n"
    "D099999\tNew Disease Of 2024\tNew Disease Of 2024\tC10|C23\n"
    "D011041\tPoisons\tPoisons\tD27|C21\n"
)

# Relation rows: the first has the disease first, the second the chemical first; the third is
# a supplementary chemical (C-id) with a descriptor only MeSH knows (not the 2017 MEDIC);
# the fourth pairs two ids no vocabulary knows; the fifth is a chem_gene row.
CHEMDISGENE = (
    "100\tchem_disease:marker/mechanism\tMESH:D006505\tMESH:D000082\n"
    "100\tchem_disease:therapeutic\tMESH:D000082\tMESH:D024741\n"
    "200\tchem_disease:marker/mechanism\tMESH:C064294\tMESH:D099999\n"
    "300\tchem_disease:therapeutic\tMESH:D777777\tMESH:D888888\n"
    "300\tchem_gene:increases^expression\t7124\tMESH:D000082\n"
    "400\tgene_disease:marker/mechanism\tMESH:D006973\t10\n"
)

CURATED = "500\tchem^disease:therapeutic\tMESH:D000082\tMESH:D006973\n"

CTD_CHEMICALS_DISEASES = """# Fields:
# ChemicalName\tChemicalID\tCasRN\tDiseaseName\tDiseaseID\tDirectEvidence\tInferenceGeneSymbol\tInferenceScore\tOmimIDs\tPubMedIDs
#
Acetaminophen\tD000082\t103-90-2\tHepatitis\tMESH:D006505\tmarker/mechanism\t\t\t\t600|601
Acetaminophen\tD000082\t103-90-2\tHypertension\tMESH:D006973\t\tAGT\t4.5\t\t700
Chem X\tC012345\t\tFamilial hypertrophic cardiomyopathy\tMESH:D024741\ttherapeutic\t\t\t192600\t602
"""


def write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def vocab_files(tmp_path):
    return (write(tmp_path / "CTD_diseases.tsv.gz", MEDIC),
            write(tmp_path / "mesh_descriptor_terms.tsv.gz", MESH_TERMS))


@pytest.fixture()
def kb(tmp_path, vocab_files):
    medic, mesh = vocab_files
    pairs = write(tmp_path / "rel.tsv.gz", CHEMDISGENE)
    return load_knowledge_base([pairs], medic, mesh)


def test_normalise_and_split_ids():
    assert normalise_id("MESH:D012345") == "D012345"
    assert normalise_id(" mesh:C000123 ") == "C000123"
    assert normalise_id("OMIM:115195") == "OMIM:115195"
    for empty in ("-", "-1", "", "MESH:-1"):
        assert normalise_id(empty) == ""
    assert split_ids("MESH:D1|D2;MESH:C0123456") == ("D1", "D2", "C0123456")
    assert split_ids(("D1", "-1", "MESH:D1", "D3")) == ("D1", "D3")


def test_disease_vocabulary(vocab_files):
    vocab = DiseaseVocabulary.from_file(vocab_files[0])
    assert len(vocab) == 3
    assert "MESH:D006505" in vocab and "D006505" in vocab and "OMIM:115195" in vocab
    assert "D000082" not in vocab
    assert vocab.canonical("OMIM:115195") == "D024741"
    assert vocab.entries["D024741"].tree_numbers == ("C14.280",)
    names = dict(vocab.names())
    assert names["FHC"] == "D024741" and names["Hepatitides"] == "D006505"


def test_mesh_vocabulary(vocab_files):
    mesh = MeshVocabulary.from_file(vocab_files[1])
    assert len(mesh) == 4
    assert mesh.get("MESH:D000082").terms == ("Acetaminophen", "Paracetamol")
    assert mesh.category("D000082") == CHEMICAL
    assert mesh.category("D006973") == DISEASE
    assert mesh.category("D011041") is None  # in both trees
    assert mesh.category("D123") is None


def test_pair_order_is_told_by_vocabulary(kb):
    first, second = kb.entities("100"), kb.entities("200")
    # disease-first and chemical-first rows give the same typing
    assert first.chemicals == {"D000082"}
    assert first.diseases == {"D006505", "D024741"}
    # a C-id not in MEDIC is a chemical; a descriptor MeSH puts in tree C is a disease
    assert second.chemicals == {"C064294"} and second.diseases == {"D099999"}
    # two unknown ids: both kept, untyped
    assert kb.entities("300").untyped == {"D777777", "D888888"}
    assert kb.report.order == {"swapped": 1, "as_given": 2, "ambiguous": 1}
    # gene relations are skipped and counted by default
    assert kb.report.skipped_relations == {"chem_gene": 1, "gene_disease": 1}
    assert "400" not in kb


def test_gene_relations_on_request(tmp_path, vocab_files):
    pairs = write(tmp_path / "rel.tsv", CHEMDISGENE)
    kb = load_knowledge_base([pairs], *vocab_files,
                             relations=("chem_disease", "chem_gene", "gene_disease"))
    assert kb.entities("300").chemicals == {"D000082"}
    assert kb.entities("400").diseases == {"D006973"}
    with pytest.raises(ValueError, match="unknown relation"):
        load_knowledge_base([pairs], relations=("chem_protein",))


def test_curated_caret_relations(tmp_path, vocab_files):
    kb = load_knowledge_base([write(tmp_path / "curated.tsv", CURATED)], *vocab_files)
    assert kb.entities("500").chemicals == {"D000082"}
    assert kb.entities("500").diseases == {"D006973"}


def test_ctd_chemicals_diseases_format(tmp_path, vocab_files):
    path = write(tmp_path / "CTD_chemicals_diseases.tsv.gz", CTD_CHEMICALS_DISEASES)
    assert detect_pair_format(path) == "ctd"
    kb = load_knowledge_base([path], *vocab_files)
    assert kb.entities("600").chemicals == {"D000082"}
    assert kb.entities("601").diseases == {"D006505"}
    assert "700" not in kb  # inferred row (no DirectEvidence) skipped by default
    assert kb.entities("602").diseases == {"D024741", "OMIM:192600"}
    assert kb.report.skipped_relations == {"inferred": 1}
    inferred = load_knowledge_base([path], *vocab_files, direct_only=False)
    assert inferred.entities("700").chemicals == {"D000082"}


def test_supports_composite_typed_and_alt_ids(kb):
    def mention(kind, *ids):
        return Mention(0, 4, "xxxx", kind, ids)

    assert kb.supports("100", mention(CHEMICAL, "MESH:D000082"))
    assert not kb.supports("100", mention(DISEASE, "MESH:D000082"))  # right id, wrong type
    assert kb.supports("100", mention(DISEASE, "MESH:D999999", "MESH:D006505"))  # composite
    assert kb.supports("100", mention(DISEASE, "MESH:D999999|MESH:D006505"))
    assert kb.supports("100", mention(DISEASE, "OMIM:115195"))  # MEDIC alternative id
    assert not kb.supports("100", mention(DISEASE, "-"))
    assert not kb.supports("999", mention(CHEMICAL, "D000082"))  # unknown PMID
    assert kb.supports("300", mention(CHEMICAL, "D888888"))  # untyped ids match either type
    assert kb.supports("300", mention(DISEASE, "D777777"))


def test_mesh_indexing_round_trip_and_typing(tmp_path, vocab_files):
    index = MeshIndexing({"800": ["MESH:D000082", "D006973"]})
    index.add("800", ["D777777"])
    path = tmp_path / "indexing.tsv"
    index.to_file(path)
    assert path.read_text() == "800\tD000082|D006973|D777777\n"
    again = MeshIndexing.from_file(path)
    assert again.get("800") == {"D000082", "D006973", "D777777"}
    kb = load_knowledge_base([], *vocab_files, mesh_indexing=path)
    entities = kb.entities("800")
    assert entities.chemicals == {"D000082"} and entities.diseases == {"D006973"}
    assert entities.untyped == {"D777777"}
    assert kb.supports("800", Mention(0, 1, "x", DISEASE, ("MESH:D006973",)))


def test_errors_name_file_and_line(tmp_path, vocab_files):
    bad = write(tmp_path / "bad.tsv", "100\tchem_disease:x\tD1\tD2\n100\tchem_disease:x\tD1\n")
    with pytest.raises(CorpusFormatError, match=r"bad.tsv:2: expected 4"):
        load_knowledge_base([bad], *vocab_files)
    bad_pmid = write(tmp_path / "pmid.tsv", "12a\tchem_disease:x\tD1\tD2\n")
    with pytest.raises(CorpusFormatError, match=r"pmid.tsv:1: PMID '12a'"):
        load_knowledge_base([bad_pmid])
    bad_medic = write(tmp_path / "medic.tsv", "# header\nName\tMESH:D1\n")
    with pytest.raises(CorpusFormatError, match=r"medic.tsv:2"):
        DiseaseVocabulary.from_file(bad_medic)
    terms = write(tmp_path / "terms.tsv", "D001241\taspirin\nbroken line\n")
    with pytest.raises(CorpusFormatError, match=r"terms.tsv:2"):
        list(read_term_dictionary(terms))
    reversed_columns = write(tmp_path / "reversed.tsv", "aspirin\tD001241\n")
    with pytest.raises(CorpusFormatError, match=r"reversed.tsv:1: .*'aspirin' is not a MeSH id"):
        list(read_term_dictionary(reversed_columns))


def test_real_term_dictionaries(data_dir):
    """The lower-cased dictionaries of the mirror read as (term, id): naloxone is D009270."""
    chemicals = dict(read_term_dictionary(data_dir / "mesh" / "chemical_terms_lower.tsv.gz"))
    assert chemicals["naloxone"] == "D009270"
    labeller = DictionaryLabeller.from_resources(
        chemical_terms=data_dir / "mesh" / "chemical_terms_lower.tsv.gz",
        disease_terms=data_dir / "mesh" / "disease_terms_lower.tsv.gz").build()
    found = {(m.text, m.type) for m in labeller.find("Naloxone reversed the hypotension.")}
    assert found == {("Naloxone", "Chemical"), ("hypotension", "Disease")}


def test_real_chemdisgene_pairs(data_dir):
    kb = load_knowledge_base(
        [data_dir / "ctd" / "chemdisgene_ctd_dev_relationships.tsv.gz",
         data_dir / "ctd" / "chemdisgene_curated_relationships.tsv.gz"],
        data_dir / "ctd" / "CTD_diseases.tsv.gz",
        data_dir / "mesh" / "mesh_descriptor_terms.tsv.gz")
    # dev lists the disease first (MESH:D006984 hypertrophy, MESH:D006861 hydrogen peroxide)
    assert kb.entities("26766292").chemicals >= {"D006861"}
    assert "D006984" in kb.entities("26766292").diseases
    # the curated file lists the chemical first: both orders occur and are resolved
    assert kb.report.order["swapped"] > 0 and kb.report.order["as_given"] > 0
    assert kb.report.order["ambiguous"] == 0
    assert kb.report.skipped_relations["chem_gene"] > 0
