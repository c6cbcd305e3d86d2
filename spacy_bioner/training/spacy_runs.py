"""Thin wrappers around `spacy train` used by the re-correction and teacher stages.

Training goes through spaCy's own loop (``spacy.cli.train.train``) so every model the project
makes is an ordinary spaCy pipeline; fine-tuning sources the trained component into a copy of the
config (spaCy resumes sourced components instead of re-initialising them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.tokens import Doc, DocBin
from thinc.api import Config


def train_pipeline(
    config: Path, output: Path, overrides: Dict[str, Any], gpu_id: int = -1
) -> Path:
    """Run `spacy train`; return the path of the best model (model-last counts too, see
    :func:`promote_last_if_better`)."""
    from spacy.cli.train import train

    output.mkdir(parents=True, exist_ok=True)
    train(config, output, use_gpu=gpu_id, overrides=overrides)
    dev = overrides.get("paths.dev") or Config().from_disk(config, interpolate=False)["paths"].get("dev")
    if dev:
        promote_last_if_better(output, Path(str(dev)))
    return output / "model-best"


def weighted_score(scores: Dict[str, Any], weights: Dict[str, Any]) -> float:
    """spaCy's checkpoint score: the score_weights-weighted sum of the scores (missing = 0)."""
    return sum(float(w) * float(scores.get(k) or 0.0) for k, w in weights.items() if w)


def promote_last_if_better(output: Path, dev: Path) -> Dict[str, Any]:
    """Score ``output/model-last`` on ``dev``; when it beats ``model-best``, it becomes model-best.

    spaCy evaluates only every ``eval_frequency`` steps, so the updates after the last
    evaluation (with 1 epoch of 225 steps and ``eval_frequency = 225``: all but the first) never
    reach model-best. Returns both scores and whether model-last was promoted.
    """
    import shutil

    import spacy
    import srsly
    from spacy.training import Corpus

    best, last = Path(output) / "model-best", Path(output) / "model-last"
    if not last.is_dir():
        raise FileNotFoundError(f"{last}: no model-last to compare")
    nlp = spacy.load(last)
    weights = dict(nlp.config["training"]["score_weights"])
    scores = nlp.evaluate(list(Corpus(str(dev))(nlp)))
    last_score = weighted_score(scores, weights)
    best_meta = srsly.read_json(best / "meta.json") if (best / "meta.json").is_file() else {}
    best_score = weighted_score(best_meta.get("performance", {}), weights) if best_meta else float("-inf")
    promoted = last_score > best_score
    if promoted:
        if best.exists():
            shutil.rmtree(best)
        shutil.copytree(last, best)
        meta = srsly.read_json(best / "meta.json")
        meta["performance"] = {**meta.get("performance", {}), **{k: v for k, v in scores.items() if k in weights}}
        srsly.write_json(best / "meta.json", meta)
    record = {"model_best_score": best_score, "model_last_score": last_score, "promoted_model_last": promoted}
    srsly.write_json(Path(output) / "best_of.json", record)
    return record


def finetune_config(config: Path, source: Path, component: str, output: Path) -> Path:
    """Write a copy of ``config`` whose ``component`` is sourced from the pipeline at ``source``."""
    cfg = Config().from_disk(config, interpolate=False)
    cfg["components"][component] = {"source": str(source)}
    output.parent.mkdir(parents=True, exist_ok=True)
    cfg.to_disk(output, interpolate=False)
    return output


def docbin_paths(path: Path) -> List[Path]:
    """The DocBin files of ``path``: the file itself, or a folder's ``.spacy`` files (sorted,
    recursively, as spaCy's corpus reader walks them; sharded weak sets are such folders)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.spacy") if p.is_file())
        if not files:
            raise ValueError(f"{path}: a folder without .spacy files")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such DocBin file or folder")
    return [path]


def read_docbins(path: Path, vocab: Any) -> Iterator[Doc]:
    """The Docs (with user_data) of a DocBin file or folder of DocBin files, in order."""
    for file in docbin_paths(path):
        try:
            docbin = DocBin(store_user_data=True).from_disk(file)
        except Exception as err:  # zlib/msgpack errors: name the file
            raise ValueError(f"{file}: not a readable DocBin file ({err})") from err
        yield from docbin.get_docs(vocab)


def copy_docbin(
    source: Path, target: Path, limit: Optional[int] = None, prefer: Iterable[str] = ()
) -> Tuple[int, List[str]]:
    """Copy documents of ``source`` (a DocBin file or folder of shards) into one DocBin ``target``.

    First, in source order, the first document of each PMID in ``prefer``; then the others, in
    source order, until ``limit`` documents (None: all). The source is streamed (read twice when
    ``prefer`` is given), never held as Docs. Returns the number written and the PMIDs of
    ``prefer`` that ``source`` lacks."""
    from itertools import chain, islice

    from spacy.vocab import Vocab

    from ..corpus.docbin import PMID_KEY, write_docbin

    wanted, found = set(map(str, prefer)), set()
    vocab = Vocab()

    def preferred() -> Iterator[Doc]:
        for doc in read_docbins(source, vocab):
            pmid = str(doc.user_data.get(PMID_KEY))
            if pmid in wanted and pmid not in found:
                found.add(pmid)
                yield doc

    def others() -> Iterator[Doc]:
        skipped = set()  # the first copy of a preferred PMID went out already; later copies did not
        for doc in read_docbins(source, vocab):
            pmid = str(doc.user_data.get(PMID_KEY))
            if pmid in wanted and pmid not in skipped:
                skipped.add(pmid)
                continue
            yield doc

    docs = chain(preferred(), others()) if wanted else read_docbins(source, vocab)
    written = write_docbin(docs if limit is None else islice(docs, limit), target)
    if wanted - found:  # the limit may have cut the first pass short: look the rest up
        found.update(str(doc.user_data.get(PMID_KEY)) for doc in read_docbins(source, vocab))
    return written, sorted(wanted - found)


def docbin_pmids(path: Path) -> List[str]:
    """The PMIDs (``user_data["pmid"]``) of a DocBin's documents, in order; an error names a doc without one."""
    from spacy.vocab import Vocab

    from ..corpus.docbin import PMID_KEY

    pmids = []
    for i, doc in enumerate(read_docbins(path, Vocab())):
        if PMID_KEY not in doc.user_data:
            raise ValueError(f"{path}: document {i} has no PMID in its user data")
        pmids.append(str(doc.user_data[PMID_KEY]))
    return pmids


def labels_config(config: Path, component: str, labels: Iterable[str], output: Path) -> Path:
    """Write a copy of ``config`` that initialises ``component`` with fixed entity ``labels``.

    Needed when the training data may lack a label (a relabelled weak set can lose every
    mention of a type), so that every round's model has the same tag set.
    """
    cfg = Config().from_disk(config, interpolate=False)
    init = cfg.setdefault("initialize", {}).setdefault("components", {}).setdefault(component, {})
    init["labels"] = sorted(set(labels))
    output.parent.mkdir(parents=True, exist_ok=True)
    cfg.to_disk(output, interpolate=False)
    return output


def docbin_labels(path: Path) -> List[str]:
    """The entity labels used in a DocBin file."""
    from spacy.vocab import Vocab

    labels = set()
    for doc in read_docbins(path, Vocab()):
        labels.update(ent.label_ for ent in doc.ents)
    return sorted(labels)


def fresh_copies(nlp, docs: Iterable[Doc]) -> Iterator[Doc]:
    """Unannotated copies of docs (same tokens, user_data kept) in ``nlp``'s vocab."""
    for doc in docs:
        copy = Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
        copy.user_data.update(doc.user_data)
        yield copy


def relabel_docbin(
    nlp, source: Path, target: Path, batch_size: int = 64, n_process: int = 1
) -> Dict[str, int]:
    """Replace every document's entities in a DocBin by ``nlp``'s predictions, tokens unchanged."""
    docs = read_docbins(source, nlp.vocab)
    out = DocBin(store_user_data=True)
    stats = {"documents": 0, "entities": 0}
    for doc in nlp.pipe(fresh_copies(nlp, docs), batch_size=batch_size, n_process=n_process):
        out.add(doc)
        stats["documents"] += 1
        stats["entities"] += len(doc.ents)
    target.parent.mkdir(parents=True, exist_ok=True)
    out.to_disk(target)
    return stats


def count_docbin(path: Path, vocab: Optional[Any] = None) -> int:
    """Number of documents in a DocBin file or folder of DocBin files."""
    return sum(len(DocBin().from_disk(file)) for file in docbin_paths(path))
