"""Tiny excerpts of every source format the derived assets are built from, with the expected output.

Each ``Case`` is one derived asset: its converter, its sources (raw files or one GitHub-style
archive ``REPO-COMMIT/...``), and the content the converter must produce, written out by hand
from the excerpt (offsets counted on ``title + " " + abstract``). ``GOLD`` is a gold corpus
file whose PMID 999 must never reach an unlabelled corpus.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import pickle
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from http_server import LocalServer, QuietHandler

GOLD_DEST = "assets/cdr/CDR_TrainingSet.PubTator.txt"
GOLD = b"999|t|A gold title.\n999|a|A gold abstract.\n999\t0\t1\tA\tChemical\tD1\n\n"


@dataclass
class Case:
    dest: str
    convert: str
    expected: bytes
    raw: Dict[str, bytes] = field(default_factory=dict)  # path -> bytes (each a raw URL)
    archive: Optional[Tuple[str, Dict[str, bytes]]] = None  # (repo, {path inside: bytes})
    folders: Tuple[str, ...] = ()  # the archive's folders project.yml lists


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_sha256(files: Dict[str, bytes], folder: str) -> str:
    names = {p[len(folder):]: b for p, b in files.items() if p.startswith(folder)}
    return sha256("".join(f"{sha256(names[n])}  {n}\n" for n in sorted(names)).encode())


def tar_gz(top: str, files: Dict[str, bytes]) -> bytes:
    """A GitHub-style archive: every path below one top folder."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def rds_files(tmp: Path) -> Dict[str, bytes]:
    """Two tiny R data files written with pyreadr (thesaurus and trees of mesh-resources)."""
    import pandas as pd
    import pyreadr

    thesaurus = pd.DataFrame({
        "DescriptorUI": ["D1", "D1", "D1", "D2"],
        "DescriptorName": ["Fever", "Fever", "Fever", "Aspirin"],
        "ConceptUI": ["M1", "M1", "M2", "M3"],
        "TermName": ["Fever", "Pyrexia", "Pyrexia", "Aspirin"],
    })
    trees = pd.DataFrame({"DescriptorUI": ["D1", "D1", "D2", "D2"], "tree1": ["C23", "C23", "D03", "D02"]})
    out = {}
    for name, frame in (("data/data_mesh_thesaurus.rds", thesaurus), ("data/data_mesh_trees.rds", trees)):
        path = tmp / Path(name).name
        pyreadr.write_rds(str(path), frame)
        out[name] = path.read_bytes()
    return out


def mesh_pickle() -> bytes:
    """A protocol-0 pickle of (chemical, disease) dictionaries, bzip2-compressed, as snorkel's."""
    data = ({"aspirin": "D001241", "acetylsalicylic acid": "D001241"}, {"fever": "D005334"})
    return bz2.compress(pickle.dumps(data, protocol=0))


PICKLE_PATH = "tutorials/cdr/data/chem_dis_mesh_dicts.pkl.bz2"

NXML = """<?xml version="1.0"?>
<article><front><article-meta>
<article-id pub-id-type="pmid">{pmid}</article-id>
<title-group><article-title>Trial of <italic>X</italic>  in Y</article-title></title-group>
{abstract}
</article-meta></front><body><p>Body text is not used.</p></body></article>
"""


def cases(tmp: Path) -> List[Case]:
    """Every converter, on a few lines of its source format."""
    hoc = {
        "text/5.txt": b"Ghrelin binds GHS-R ( growth hormone receptor ) .\nIt is found in cells , too - often .\n",
        "text/6.txt": b"A single sentence only .\n",
        "text/999.txt": b"Gold text .\nMust not appear .\n",
    }
    standoff = {
        "original-data/train/PMID-1.txt": b"Cancer and  aspirin. \nAspirin  treats cancer.\n",
        "original-data/train/PMID-1.a1": (
            b"T1\tCancer 0 6\tCancer\nT2\tSimple_chemical 12 19\taspirin\n"
            b"T3\tSimple_chemical 22 29\tAspirin\nT4\tCell 22 29\tAspirin\nT5\tCancer 38 44\tcancer\n"
            b"T6\tOrganism 0 3;12 15\tCan asp\n"
        ),
        "original-data/train/PMID-1.a2": b"E1\tEvent\n",
        "original-data/devel/PMID-2.txt": b"Title two.\nAbstract two.\n",
        "original-data/devel/PMID-2.a1": b"",
        "original-data/test/PMID-999.txt": b"Gold.\nGold.\n",
        "original-data/test/PMID-999.a1": b"",
    }
    gro = {
        "bionlp-st-2013_gro_train_devel_texts/10_gro.txt": b"Gene X. cDNA cloning. It binds DNA. Then 2 more.\n",
        "bionlp-st-2013_gro_train_devel_texts/11_gro.txt": b"Human MyoD: one sentence only.\n",
    }
    evidence = {
        "annotations/xml_files/PMC1.nxml": NXML.format(pmid="100", abstract=(
            "<abstract><sec><title>Background:</title><p>Why <italic>we</italic> tried.</p><p>More.</p></sec>"
            "<sec><title>Methods</title><p>How.</p></sec></abstract>")).encode(),
        "annotations/xml_files/PMC2.nxml": NXML.format(pmid="200", abstract=(
            "<abstract><title>Abstract</title><p>First.</p><p>Second.</p></abstract>")).encode(),
        "annotations/xml_files/PMC3.nxml": NXML.format(pmid="300", abstract="").encode(),
        "annotations/xml_files/PMC4.nxml": NXML.replace('<article-id pub-id-type="pmid">{pmid}</article-id>', "")
        .format(abstract="<abstract><p>No PMID.</p></abstract>").encode(),
    }
    chemprot_files = {
        "chemprot_training/chemprot_training_abstracts.tsv": b"7\tAspirin blocks COX.\tIt works.\n999\tGold.\tGold.\n",
        "chemprot_training/chemprot_training_entities.tsv": b"7\tT1\tCHEMICAL\t0\t7\tAspirin\n7\tT2\tGENE-Y\t15\t18\tCOX\n",
        "chemprot_development/chemprot_development_abstracts.tsv": b"8\tNo entities.\tNone here.\n",
        "chemprot_development/chemprot_development_entities.tsv": b"",
        "chemprot_test_gs/chemprot_test_abstracts_gs.tsv": b"7\tAspirin blocks COX.\tIt works.\n",
        "chemprot_test_gs/chemprot_test_entities_gs.tsv": b"",
    }
    pqal = {
        "21": {"QUESTION": "Does  X help?", "CONTEXTS": ["Part one.", "Part\ntwo."], "LONG_ANSWER": "Yes."},
        "999": {"QUESTION": "Gold?", "CONTEXTS": ["Gold."], "LONG_ANSWER": "Gold."},
    }
    ade_rel = (
        b"50|Fever after aspirin and more aspirin.|Fever|100|105|aspirin|112|119\n"
        b"50|Fever after aspirin and more aspirin.|Fever|100|105|aspirin|129|136\n"
        b"50|Late rash from drug B.|rash|205|209|drug B|215|221\n"
        b"60|Only  one   sentence.|one|6|9|Only|0|4\n"
        b"999|Gold fever from gold.|fever|5|10|gold|16|20\n"
    )
    ade_neg = b"50 NEG A title sentence.\n50 NEG A title sentence.\n50 NEG Nothing   here.\n70 NEG Alone.\n"
    tmvar = b"0|t|Variant V in gene G.\n0|a|Disease D.\n0\t13\t17\tgene\tgene\t1\n0\t21\t30\tDisease D\tdisease\tMESH:D1\n\n"
    aioner_train = b"123|t|Variant V in gene G.\n123|a|Disease D.\n123\t0\t7\tVariant\tDNAMutation\tc.1A>G\n\n"
    aioner_test = b"456|t|Other.\n456|a|Other text.\n\n"
    plain = b"5|t|Plain.\n5|a|Copy.\n5\t0\t5\tPlain\tGene\t1\n\n"
    ade_text = ("Fever after aspirin and more aspirin. Late rash from drug B. A title sentence. Nothing here.")
    # two versions of DRSM's TSVs: the first listed wins, within it the last row; a quoted field
    # holds a newline; an empty abstract does not count; the gold PMID never passes
    drsm_curated = (
        b"ID_PAPER\tTITLE\tABSTRACT\tCATEGORIES\n"
        b"30\tOld title.\tOld **marked** text.\tx\n"
        b"31\tT31.\t\tx\n"
        b'30\tNew title.\t"Two\nlines &gt; one."\ty\n'
        b"999\tGold.\tGold.\tx\n"
    )
    drsm_final = (
        b"ID_PAPER\tTITLE\tABSTRACT\n31\tTitle  31.\tAbstract 31.\n30\tIgnored.\tIgnored.\n32\tT32.\tA **b**.\n"
    )
    return [
        Case("assets/unlabeled/plain.PubTator.gz", "gzip_copy", plain, raw={"data/pubtator/plain.PubTator": plain}),
        Case("assets/mesh/chemical_terms_lower.tsv.gz", "mesh_pickle_chemical",
             b"D001241\tacetylsalicylic acid\nD001241\taspirin\n", raw={PICKLE_PATH: mesh_pickle()}),
        Case("assets/mesh/disease_terms_lower.tsv.gz", "mesh_pickle_disease", b"D005334\tfever\n",
             raw={PICKLE_PATH: mesh_pickle()}),
        Case("assets/mesh/mesh_descriptor_terms.tsv.gz", "mesh_rds",
             b"DescriptorUI\tDescriptorName\tTermName\ttree_tops\nD1\tFever\tFever\tC23\n"
             b"D1\tFever\tPyrexia\tC23\nD2\tAspirin\tAspirin\tD02|D03\n", raw=rds_files(tmp)),
        Case("assets/pubtator/tmvar3.PubTator.gz", "tmvar3_pmids",
             b"123|t|Variant V in gene G.\n123|a|Disease D.\n123\t13\t17\tgene\tGene\t1\n"
             b"123\t21\t30\tDisease D\tDisease\tMESH:D1\n\n",
             raw={"annotations/pubtator/tmvar_v3.txt": tmvar, "data/pubtator/tmVar3_Train.PubTator": aioner_train,
                  "data/pubtator/tmVar3_Test.PubTator": aioner_test}),
        Case("assets/unlabeled/ade.PubTator.gz", "ade",
             ("50|t|Fever after aspirin and more aspirin.\n"
              f"50|a|{ade_text[38:]}\n"
              "50\t0\t5\tFever\tDisease\tADE:adverse_effect\n"
              "50\t12\t19\taspirin\tChemical\tADE:drug\n"
              "50\t29\t36\taspirin\tChemical\tADE:drug\n"
              "50\t43\t47\trash\tDisease\tADE:adverse_effect\n"
              "50\t53\t59\tdrug B\tChemical\tADE:drug\n\n").encode(),
             raw={"ADE-Corpus-V2/DRUG-AE.rel": ade_rel, "ADE-Corpus-V2/ADE-NEG.txt": ade_neg}),
        Case("assets/unlabeled/standoff.PubTator.gz", "bionlp_standoff",
             b"1|t|Cancer and aspirin.\n1|a|Aspirin treats cancer.\n"
             b"1\t0\t6\tCancer\tDisease\tCancer\n1\t11\t18\taspirin\tChemical\tSimple_chemical\n"
             b"1\t20\t27\tAspirin\tCell\tCell\n1\t20\t27\tAspirin\tChemical\tSimple_chemical\n"
             b"1\t35\t41\tcancer\tDisease\tCancer\n\n"
             b"2|t|Title two.\n2|a|Abstract two.\n\n",
             archive=("bionlp-st-2013-cg", standoff),
             folders=("original-data/train/", "original-data/devel/", "original-data/test/")),
        Case("assets/unlabeled/gro.PubTator.gz", "bionlp_gro",
             b"10|t|Gene X. cDNA cloning.\n10|a|It binds DNA. Then 2 more.\n\n",
             archive=("bionlp-st-2013_data", gro), folders=("bionlp-st-2013_gro_train_devel_texts/",)),
        Case("assets/unlabeled/chemprot.PubTator.gz", "chemprot",
             b"7|t|Aspirin blocks COX.\n7|a|It works.\n7\t0\t7\tAspirin\tChemical\tCHEMICAL\n"
             b"7\t15\t18\tCOX\tGene\tGENE-Y\n\n8|t|No entities.\n8|a|None here.\n\n",
             raw={f"utils/chemprot/chemprot/{k}": v for k, v in chemprot_files.items()}),
        Case("assets/unlabeled/drsm.PubTator.gz", "drsm",
             b"30|t|New title.\n30|a|Two lines > one.\n\n31|t|Title 31.\n31|a|Abstract 31.\n\n"
             b"32|t|T32.\n32|a|A **b**.\n\n",
             raw={"c1/curated_data.tsv": drsm_curated, "c2/final_data.tsv": drsm_final}),
        Case("assets/unlabeled/evidence_inference.PubTator.gz", "evidence_inference",
             b"100|t|Trial of X in Y\n100|a|BACKGROUND: Why we tried. More. METHODS: How.\n\n"
             b"200|t|Trial of X in Y\n200|a|AbstractFirst.Second.\n\n",
             archive=("evidence-inference", evidence), folders=("annotations/xml_files/",)),
        Case("assets/unlabeled/hoc.PubTator.gz", "hoc",
             b"5|t|Ghrelin binds GHS-R (growth hormone receptor).\n5|a|It is found in cells, too-often.\n\n",
             archive=("Hallmarks-of-Cancer", hoc), folders=("text/",)),
        Case("assets/unlabeled/pubmedqa.PubTator.gz", "pubmedqa",
             b"21|t|Does X help?\n21|a|Part one. Part two. Yes.\n\n",
             raw={"data/ori_pqal.json": json.dumps(pqal).encode()}),
    ]


# --------------------------------------------------------------------------- a file server with faults


@dataclass
class Fault:
    """How to spoil the answers for one path: an HTTP status, a delay, or half a body."""

    status: int = 200
    delay: float = 0.0
    truncate: bool = False
    times: int = 1_000_000  # how many requests it spoils


class _FileHandler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802
        server: FileServer = self.server.owner
        path = self.path.split("?")[0]
        server.log.append((path, self.headers.get("Range")))
        fault = server.faults.get(path)
        if fault is not None and fault.times > 0:
            fault.times -= 1
        else:
            fault = None
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.status != 200:
            return self.send(fault.status, b"error")
        if path not in server.files:
            return self.send(404, b"not found")
        body = server.files[path]
        status, headers = 200, {}
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes="):-1])
            if start >= len(body):
                return self.send(416, b"")
            status, headers = 206, {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
            body = body[start:]
        self.send(status, body, headers, truncate=bool(fault and fault.truncate))


class FileServer(LocalServer):
    """Serves ``files`` ({url path: bytes}) on 127.0.0.1, with HTTP Range and per-path faults."""

    handler = _FileHandler

    def __init__(self, files: Dict[str, bytes]) -> None:
        self.files = dict(files)
        self.faults: Dict[str, Fault] = {}
        self.log: List[Tuple[str, Optional[str]]] = []  # (path, Range header)
        super().__init__()


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def project(tmp: Path, the_cases: List[Case]) -> Tuple[Dict, Dict[str, bytes]]:
    """A project.yml dict (the gold corpus + every case) and the files a server must hold for it."""
    files: Dict[str, bytes] = {}
    gold_url = f"https://raw.githubusercontent.com/gold/corpus/{COMMIT}/gold.txt"
    files[f"/raw.githubusercontent.com/gold/corpus/{COMMIT}/gold.txt"] = GOLD
    assets = [{"dest": GOLD_DEST, "url": gold_url, "checksum": hashlib.md5(GOLD).hexdigest(), "sha256": sha256(GOLD)}]
    for case in the_cases:
        sources = []
        for path, data in case.raw.items():
            url = f"https://raw.githubusercontent.com/owner/repo/{COMMIT}/{path}"
            files[url[len("https:/"):]] = data
            sources.append({"url": url, "path": path, "sha256": sha256(data)})
        if case.archive:
            repo, inside = case.archive
            url = f"https://github.com/owner/{repo}/archive/{COMMIT}.tar.gz"
            files[url[len("https:/"):]] = tar_gz(f"{repo}-{COMMIT}", inside)
            sources.append({"url": url, "files": {f: manifest_sha256(inside, f) for f in case.folders}})
        mirror_bytes = gzip.compress(case.expected, mtime=0)
        assets.append({
            "dest": case.dest, "url": sources[0]["url"], "checksum": hashlib.md5(mirror_bytes).hexdigest(),
            "sha256": sha256(mirror_bytes), "derived": "converted", "convert": case.convert,
            "content_sha256": sha256(case.expected), "sources": sources,
        })
    return {"title": "test", "assets": assets}, files
