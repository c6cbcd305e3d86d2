"""The converters of spacy_bioner.sources on a few lines of each source format."""

import bz2
import gzip
import hashlib
import pickle
from pathlib import Path

import pytest

from spacy_bioner.assets import load_assets
from spacy_bioner.sources import CONVERTERS, ConversionError, convert, gold_pmids

from asset_sources import GOLD, PICKLE_PATH, cases


def _lay_out(tmp_path: Path, case) -> dict:
    """Write a case's sources under tmp_path; return {path as project.yml names it: local path}."""
    files = {}
    inside = dict(case.raw)
    if case.archive:
        inside.update(case.archive[1])
    for path, data in inside.items():
        local = tmp_path / "src" / path
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
    for path in case.raw:
        files[path] = tmp_path / "src" / path
    for folder in case.folders:
        files[folder] = tmp_path / "src" / folder
    return files


@pytest.fixture()
def gold(tmp_path):
    path = tmp_path / "gold.PubTator"
    path.write_bytes(GOLD)
    return gold_pmids([path])


def test_every_converter_has_a_case(tmp_path):
    assert {c.convert for c in cases(tmp_path)} == set(CONVERTERS)


@pytest.mark.parametrize("index", range(len(CONVERTERS)))
def test_converter_output(tmp_path, gold, index):
    case = cases(tmp_path)[index]
    got = convert(case.convert, _lay_out(tmp_path, case), gold)
    assert got.decode("utf-8") == case.expected.decode("utf-8")
    assert b"999" not in got  # the gold PMID never reaches an unlabelled corpus


def test_pickle_with_a_class_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / PICKLE_PATH
    path.parent.mkdir(parents=True)
    path.write_bytes(bz2.compress(pickle.dumps(({"a": Evil()}, {}), protocol=0)))
    with pytest.raises(ConversionError, match=r"refusing to load \w+\.print"):
        convert("mesh_pickle_chemical", {PICKLE_PATH: path})


def test_pickle_of_other_shape_is_refused(tmp_path):
    path = tmp_path / "chem_dis_mesh_dicts.pkl.bz2"
    path.write_bytes(bz2.compress(pickle.dumps({"a": 1})))
    with pytest.raises(ConversionError, match="pair of dictionaries"):
        convert("mesh_pickle_disease", {PICKLE_PATH: path})


def test_bad_lines_name_file_and_line(tmp_path):
    rel = tmp_path / "DRUG-AE.rel"
    rel.write_text("1|S.|a|0|1|b|2|3\n2|too|few\n")
    neg = tmp_path / "ADE-NEG.txt"
    neg.write_text("")
    with pytest.raises(ConversionError, match=r"DRUG-AE.rel:2: expected 8"):
        convert("ade", {"ADE-Corpus-V2/DRUG-AE.rel": rel, "ADE-Corpus-V2/ADE-NEG.txt": neg})
    tmvar = tmp_path / "tmvar_v3.txt"
    tmvar.write_text("0|t|T\n0|a|A\n\n1|t|Unknown text\n1|a|B\n\n")
    train = tmp_path / "tmVar3_Train.PubTator"
    train.write_text("7|t|T\n7|a|A\n\n")
    test = tmp_path / "tmVar3_Test.PubTator"
    test.write_text("")
    with pytest.raises(ConversionError, match=r"tmvar_v3.txt:4: no AIONER tmVar3 record"):
        convert("tmvar3_pmids", {"tmvar_v3.txt": tmvar, "tmVar3_Train.PubTator": train, "tmVar3_Test.PubTator": test})


def test_chemprot_offsets_checked(tmp_path):
    root = tmp_path / "cp"
    names = {}
    for split, a, e in (("chemprot_training", "chemprot_training_abstracts.tsv", "chemprot_training_entities.tsv"),
                        ("chemprot_development", "chemprot_development_abstracts.tsv",
                         "chemprot_development_entities.tsv"),
                        ("chemprot_test_gs", "chemprot_test_abstracts_gs.tsv", "chemprot_test_entities_gs.tsv")):
        (root / split).mkdir(parents=True)
        (root / split / a).write_text("1\tTitle.\tAbstract.\n" if split == "chemprot_training" else "")
        (root / split / e).write_text("1\tT1\tCHEMICAL\t0\t3\tXYZ\n" if split == "chemprot_training" else "")
        names[f"{split}/{a}"] = root / split / a
        names[f"{split}/{e}"] = root / split / e
    with pytest.raises(ConversionError, match=r"chemprot_training_entities.tsv: PMID 1: mention 'XYZ'"):
        convert("chemprot", names)


def test_unknown_converter_and_missing_source(tmp_path):
    with pytest.raises(ConversionError, match="unknown converter"):
        convert("nope", {})
    with pytest.raises(ConversionError, match="expected one source ending in 'ori_pqal.json'"):
        convert("pubmedqa", {})


def test_project_yml_derived_assets(data_dir):
    """Every derived asset names its public sources; its content checksums are the mirror file's content.

    DRSM's public build differs from the mirror's copy (docs/assets.md): the mirror's content is
    ``mirror_content_sha256`` there, and the reason is in ``mirror_differs``.
    """
    assets = load_assets(Path(__file__).parent.parent / "project.yml")
    derived = [a for a in assets if a.derived]
    assert len(derived) == 24
    assert [a.dest for a in derived if not a.sources] == []
    assert [a.dest for a in derived if a.mirror_content_sha256] == ["assets/unlabeled/drsm.PubTator.gz"]
    for asset in derived:
        assert asset.convert in CONVERTERS, asset.dest
        content = gzip.decompress((data_dir / asset.mirror_path).read_bytes())
        assert asset.expected_contents("mirror") == (hashlib.sha256(content).hexdigest(),), asset.dest
        assert bool(asset.mirror_differs) == (asset.mirror_content_sha256 is not None), asset.dest
        for source in asset.sources:
            assert source.url.startswith(("https://raw.githubusercontent.com/", "https://github.com/")), source.url
            assert "/tree/" not in source.url and (not source.is_archive or source.url.endswith(".tar.gz"))
            if not source.is_archive:  # a raw file at a pinned commit
                assert source.url.split("/")[5] == source.url.split("/")[5].lower() and len(source.url.split("/")[5]) == 40


def test_drsm_bad_rows_name_file_and_line(tmp_path):
    path = tmp_path / "final_data.tsv"
    path.write_text("ID_PAPER\tTITLE\tABSTRACT\n1\tT.\tA.\n2\tOnly two\n")
    with pytest.raises(ConversionError, match=r"final_data.tsv:3: expected 3 tab-separated fields, got 2"):
        convert("drsm", {"c/final_data.tsv": path})
    path.write_text('ID_PAPER\tTITLE\tABSTRACT\n1\tT.\t"A\nB."\nx1\tT.\tA.\n')
    with pytest.raises(ConversionError, match=r"final_data.tsv:4: ID_PAPER 'x1' is not a PMID"):
        convert("drsm", {"c/final_data.tsv": path})
    path.write_text("PMID\tTITLE\n1\tT.\n")
    with pytest.raises(ConversionError, match=r"final_data.tsv:1: expected a header with the columns ID_PAPER"):
        convert("drsm", {"c/final_data.tsv": path})
