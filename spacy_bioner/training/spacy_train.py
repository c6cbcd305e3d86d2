"""Thin wrappers around `spacy train` used by the re-correction and teacher stages.

Training goes through spaCy's own loop (``spacy.cli.train.train``) so every model the project
makes is an ordinary spaCy pipeline; fine-tuning sources the trained component into a copy of the
config (spaCy resumes sourced components instead of re-initialising them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable

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


