"""Label similarity of two teachers (the paper's Fig. 3).

The label similarity of an abstract is the share of its tokens on which the two teachers'
Viterbi paths give the same BIO tag. Its histogram over the distillation set shows how often
the teachers disagree, i.e. how much the student can gain from learning from both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy
import srsly

from ..corpus.docbin import DocStore
from ..device import use_gpu
from .teachers import Teacher, TeacherCache, TeacherSource

PathLike = Union[str, Path]


def label_similarity(paths_a: Sequence[numpy.ndarray], paths_b: Sequence[numpy.ndarray]) -> numpy.ndarray:
    """Per document, the share of tokens with the same tag id in both paths (``nan`` if empty)."""
    if len(paths_a) != len(paths_b):
        raise ValueError(f"{len(paths_a)} paths vs {len(paths_b)}: the teachers must tag the same documents")
    out = numpy.full((len(paths_a),), numpy.nan, dtype="float64")
    for i, (a, b) in enumerate(zip(paths_a, paths_b)):
        if len(a) != len(b):
            raise ValueError(f"document {i}: paths of {len(a)} and {len(b)} tokens")
        if len(a):
            out[i] = float((numpy.asarray(a) == numpy.asarray(b)).mean())
    return out


def histogram(values: numpy.ndarray, bins: int = 20) -> Dict[str, Any]:
    """Counts of ``values`` (shares in [0, 1]) in ``bins`` equal bins; the last bin includes 1."""
    if bins < 1:
        raise ValueError(f"bins must be positive, got {bins}")
    finite = values[numpy.isfinite(values)]
    counts, edges = numpy.histogram(finite, bins=bins, range=(0.0, 1.0))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def plot_histogram(values: numpy.ndarray, path: PathLike, bins: int = 20, title: str = "") -> Path:
    """Write a PNG histogram of the similarities (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = values[numpy.isfinite(values)]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.hist(finite, bins=bins, range=(0.0, 1.0), color="#4c72b0", edgecolor="white")
    ax.set_xlabel("label similarity (share of tokens with the same tag)")
    ax.set_ylabel("abstracts")
    ax.set_title(title or f"Label similarity of two teachers ({len(finite)} abstracts)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def teacher_similarity(
    teachers: Sequence[PathLike],
    data: Sequence[PathLike],
    output: PathLike,
    *,
    cache_dir: Optional[PathLike] = None,
    shard_size: int = 1000,
    batch_size: int = 64,
    bins: int = 20,
    limit: Optional[int] = None,
    gpu_id: int = -1,
) -> Dict[str, Any]:
    """Tag ``data`` with two teachers; write ``similarity.json`` and ``similarity.png`` to ``output``."""
    if len(teachers) != 2:
        raise ValueError(f"label similarity compares exactly two teachers, got {len(teachers)}")
    use_gpu(gpu_id)
    loaded = [Teacher(t, batch_size=batch_size) for t in teachers]
    if loaded[0].tags != loaded[1].tags:
        raise ValueError(f"teachers disagree on tags: {loaded[0].tags} vs {loaded[1].tags}")
    store = DocStore.from_docbins(data, limit)
    sources: List[TeacherSource] = list(loaded)
    if cache_dir is not None:
        sources = [TeacherCache(t, store, cache_dir, shard_size) for t in loaded]
    indices = list(range(len(store)))
    paths = [[o.path for o in source.outputs(store, indices)] for source in sources]
    values = label_similarity(paths[0], paths[1])
    finite = values[numpy.isfinite(values)]
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    result = {
        "teachers": [str(t) for t in teachers],
        "data": [str(d) for d in data],
        "documents": len(store),
        "tokens": int(sum(store.lengths)),
        "token_agreement": float(
            sum(int((a == b).sum()) for a, b in zip(*paths)) / max(1, sum(store.lengths))
        ),
        "mean": float(finite.mean()) if len(finite) else None,
        "median": float(numpy.median(finite)) if len(finite) else None,
        "identical_documents": int((finite == 1.0).sum()),
        "histogram": histogram(values, bins),
        "per_document": [
            {"id": doc_id, "tokens": n, "similarity": float(v)}
            for doc_id, n, v in zip(store.ids, store.lengths, values)
        ],
    }
    srsly.write_json(output / "similarity.json", result)
    plot_histogram(values, output / "similarity.png", bins)
    return result
