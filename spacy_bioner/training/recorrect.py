"""Label re-correction (METHOD.md section 3), with resume after a killed run.

One round, for a weak set L, gold training data T and gold development data D:
  1. train a correction model C on L;  2. fine-tune C on T;  3. relabel all of L with C;
  4. score C on D (and, for the record, on the test set).
Rounds repeat while D's F-score still rises; the relabelled L of the best round is kept.
Every finished round is written to ``state.json`` before the next starts, so a killed run resumes
from the last finished round.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import spacy
import srsly

from ..corpus.docbin import docbin_labels, relabel_docbin
from ..corpus.document import Document
from ..evaluation.predict import predict_documents
from ..evaluation.scorer import score_documents
from .spacy_train import finetune_config, labels_config, train_pipeline

STATE = "state.json"


@dataclass
class RoundResult:
    round: int
    input: str
    model: str
    relabelled: str
    dev: Dict[str, Any]
    test: Optional[Dict[str, Any]]
    relabel_stats: Dict[str, int]
    seconds: Dict[str, float]

    @property
    def dev_f(self) -> float:
        return float(self.dev["micro"]["f"])


@dataclass
class RecorrectionRun:
    weak: str
    rounds: List[RoundResult] = field(default_factory=list)
    stopped: Optional[str] = None

    @property
    def best(self) -> Optional[RoundResult]:
        return max(self.rounds, key=lambda r: r.dev_f) if self.rounds else None

    def to_dict(self) -> Dict[str, Any]:
        best = self.best
        return {
            "weak": self.weak,
            "rounds": [asdict(r) for r in self.rounds],
            "best_round": best.round if best else None,
            "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "RecorrectionRun":
        return cls(
            weak=data["weak"],
            rounds=[RoundResult(**r) for r in data["rounds"]],
            stopped=data.get("stopped"),
        )


Scorer = Callable[[spacy.language.Language], Dict[str, Any]]


def gold_scorer(gold: List[Document], batch_size: int = 64) -> Scorer:
    """A function that scores a pipeline on gold documents (BioCreative mention level)."""

    def score(nlp) -> Dict[str, Any]:
        pred, wps = predict_documents(nlp, gold, batch_size=batch_size)
        result = score_documents(gold, pred).to_dict()
        result["words_per_second"] = wps
        return result

    return score


def recorrect(
    weak: Path,
    train: Path,
    dev: Path,
    dev_gold: List[Document],
    output: Path,
    config: Path,
    *,
    test_gold: Optional[List[Document]] = None,
    max_rounds: int = 3,
    component: str = "bioner",
    weak_overrides: Optional[Dict[str, Any]] = None,
    finetune_overrides: Optional[Dict[str, Any]] = None,
    gpu_id: int = -1,
    log: Callable[[str], None] = print,
) -> RecorrectionRun:
    """Run re-correction rounds for one weak set; write ``output/best.spacy`` and ``state.json``."""
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
    output.mkdir(parents=True, exist_ok=True)
    state_path = output / STATE
    if state_path.exists():
        run = RecorrectionRun.from_dict(srsly.read_json(state_path))
        if run.weak != str(weak):
            raise ValueError(
                f"{state_path}: this folder holds a re-correction of {run.weak}, not {weak}; use another --output"
            )
        if run.stopped is not None and run.stopped.startswith("reached max_rounds") and len(run.rounds) < max_rounds:
            run.stopped = None  # a larger max_rounds continues a run that stopped at the old limit
        log(f"resuming after {len(run.rounds)} finished round(s)")
    else:
        run = RecorrectionRun(weak=str(weak))
    if run.stopped is None and run.rounds and len(run.rounds) >= max_rounds:
        run.stopped = f"reached max_rounds={max_rounds}"
    labels = docbin_labels(weak)  # fixed for every round: a relabelled L may lose a type
    if not labels:
        raise ValueError(f"{weak}: the weak set has no entities")
    score_dev = gold_scorer(dev_gold)
    score_test = gold_scorer(test_gold) if test_gold is not None else None
    while run.stopped is None:
        n = len(run.rounds) + 1
        current = Path(run.rounds[-1].relabelled) if run.rounds else weak
        rdir = output / f"round{n}"
        if rdir.exists():  # a round killed half-way starts over
            shutil.rmtree(rdir)
        times: Dict[str, float] = {}
        t0 = time.perf_counter()
        base = {"paths.train": str(current), "paths.dev": str(dev), **(weak_overrides or {})}
        weak_cfg = labels_config(config, component, labels, rdir / "weak.cfg")
        weak_model = train_pipeline(weak_cfg, rdir / "weak", base, gpu_id)
        times["train_weak"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ft_cfg = finetune_config(config, weak_model, component, rdir / "finetune.cfg")
        ft = {"paths.train": str(train), "paths.dev": str(dev), **(finetune_overrides or {})}
        model = train_pipeline(ft_cfg, rdir / "finetuned", ft, gpu_id)
        times["finetune"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        nlp = spacy.load(model)
        relabelled = rdir / "relabelled.spacy"
        stats = relabel_docbin(nlp, current, relabelled)
        times["relabel"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        dev_scores = score_dev(nlp)
        test_scores = score_test(nlp) if score_test else None
        times["score"] = time.perf_counter() - t0
        result = RoundResult(
            round=n,
            input=str(current),
            model=str(model),
            relabelled=str(relabelled),
            dev=dev_scores,
            test=test_scores,
            relabel_stats=stats,
            seconds=times,
        )
        previous = run.rounds[-1].dev_f if run.rounds else None
        run.rounds.append(result)
        log(f"round {n}: dev F {result.dev_f:.4f}" + (f" (previous {previous:.4f})" if previous is not None else ""))
        if previous is not None and result.dev_f <= previous:
            run.stopped = f"dev F stopped rising at round {n}"
        elif n >= max_rounds:
            run.stopped = f"reached max_rounds={max_rounds}"
        _write_json_atomic(state_path, run.to_dict())
        write_round_table(run, output)
    _write_json_atomic(state_path, run.to_dict())
    best = run.best
    assert best is not None
    shutil.copyfile(best.relabelled, output / "best.spacy")
    write_round_table(run, output)
    return run


def _write_json_atomic(path: Path, data: Dict[str, Any]) -> None:
    """Write JSON to a temporary file, then rename it over ``path`` (no half-written state)."""
    tmp = path.with_name(path.name + ".tmp")
    srsly.write_json(tmp, data)
    os.replace(tmp, path)


def write_round_table(run: RecorrectionRun, output: Path) -> str:
    """The paper's Table 3 for one weak set: P/R/F on D and test per round, as Markdown + JSON."""
    lines = [
        f"Re-correction of {Path(run.weak).name} (best round: {run.best.round if run.best else '-'})",
        "",
        "| round | trained on | entities after relabelling | D P | D R | D F | test P | test R | test F |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in run.rounds:
        t = r.test["micro"] if r.test else None
        d = r.dev["micro"]
        test_cells = [f"{100 * t[k]:.2f}" for k in "prf"] if t else ["-", "-", "-"]
        trained_on = Path(run.weak).name if r.round == 1 else f"round {r.round - 1} relabelled"
        lines.append(
            f"| {r.round} | {trained_on} | {r.relabel_stats.get('entities', '-')} | "
            + " | ".join(f"{100 * d[k]:.2f}" for k in "prf") + " | " + " | ".join(test_cells) + " |"
        )
    if run.stopped:
        lines += ["", f"Stopped: {run.stopped}."]
    text = "\n".join(lines) + "\n"
    (output / "rounds.md").write_text(text, encoding="utf8")
    srsly.write_json(output / "rounds.json", run.to_dict())
    plot_rounds(run, output / "rounds.png")
    return text


def plot_rounds(run: RecorrectionRun, path: Path) -> Path:
    """PNG of P, R and F on D (and on the test set, dashed) per round (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    rounds = [r.round for r in run.rounds]
    for key, name, colour in (("f", "F", "C0"), ("r", "R", "C1"), ("p", "P", "C2")):
        ax.plot(rounds, [100 * r.dev["micro"][key] for r in run.rounds], "-o", color=colour, label=f"D {name}")
        if all(r.test for r in run.rounds):
            ax.plot(rounds, [100 * r.test["micro"][key] for r in run.rounds], "--s", color=colour,  # type: ignore[index]
                    label=f"test {name}")
    ax.set_xticks(rounds)
    ax.set_xlabel("re-correction round")
    ax.set_ylabel("%")
    ax.set_title(f"Re-correction of {Path(run.weak).name}")
    ax.legend(fontsize="small", ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
