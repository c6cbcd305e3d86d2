"""Thin wrappers around `spacy train` used by the re-correction and teacher stages.

Training goes through spaCy's own loop (``spacy.cli.train.train``) so every model the project
makes is an ordinary spaCy pipeline; fine-tuning sources the trained component into a copy of the
config (spaCy resumes sourced components instead of re-initialising them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Optional

from spacy.tokens import Doc, DocBin
from thinc.api import Config


def train_pipeline(
    config: Path, output: Path, overrides: Dict[str, Any], gpu_id: int = -1
) -> Path:
    """Run `spacy train`; return the path of the best model."""
    from spacy.cli.train import train

    output.mkdir(parents=True, exist_ok=True)
    train(config, output, use_gpu=gpu_id, overrides=overrides)
    return output / "model-best"


def finetune_config(config: Path, source: Path, component: str, output: Path) -> Path:
    """Write a copy of ``config`` whose ``component`` is sourced from the pipeline at ``source``."""
    cfg = Config().from_disk(config, interpolate=False)
    cfg["components"][component] = {"source": str(source)}
    output.parent.mkdir(parents=True, exist_ok=True)
    cfg.to_disk(output, interpolate=False)
    return output


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
    docs = DocBin().from_disk(source).get_docs(nlp.vocab)
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
    """Number of documents in a DocBin file."""
    return len(DocBin().from_disk(path))
