"""An HTML report (displaCy) of predictions against gold, with false positives and negatives marked.

For each document two displaCy entity views: the predictions (true positives in the type's
colour, false positives as ``FP <type>`` in red) and the gold mentions (found ones plain, missed
ones as ``FN <type>`` in orange). Documents come most errors first; a header gives the scores.
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy import displacy

from ..corpus.document import Document
from .scorer import FN, FP, TP, MentionKey, MentionScores

COLOURS = {"Chemical": "#a6d8f0", "Disease": "#c6e8a0"}
FP_COLOUR = "#ff8a80"
FN_COLOUR = "#ffcc80"


def _view(text: str, spans: List[Tuple[int, int, str]], title: str) -> Dict[str, object]:
    ents = [{"start": s, "end": e, "label": label} for s, e, label in sorted(spans)]
    return {"text": text, "ents": ents, "title": title}


def report_html(
    gold: Sequence[Document], scores: MentionScores, *, max_docs: Optional[int] = 100, title: str = "Predictions"
) -> str:
    """The report as one HTML page (see the module docstring)."""
    by_doc: Dict[str, List[Tuple[str, MentionKey]]] = defaultdict(list)
    for kind, key in scores.outcomes:
        by_doc[key[0]].append((kind, key))
    texts = {d.pmid: d.text for d in gold}
    errors = {p: sum(k != TP for k, _ in outs) for p, outs in by_doc.items()}
    order = sorted(texts, key=lambda p: (-errors.get(p, 0), p))
    if max_docs is not None:
        order = order[:max_docs]
    colours = dict(COLOURS)
    for t in scores.types:
        colours.setdefault(t, "#ddd")
        colours[f"FP {t}"] = FP_COLOUR
        colours[f"FN {t}"] = FN_COLOUR
    parts = [f"<h1>{html.escape(title)}</h1>", "<pre>" + html.escape(scores.table()) + "</pre>",
             f"<p>{len(order)} of {len(texts)} documents, most errors first. Predicted view: true positives "
             "in the type's colour, false positives red. Gold view: missed mentions (false negatives) orange.</p>"]
    for pmid in order:
        outs = by_doc.get(pmid, [])
        pred = [(k[1], k[2], k[3] if kind == TP else f"FP {k[3]}") for kind, k in outs if kind in (TP, FP)]
        gold_spans = [(k[1], k[2], k[3] if kind == TP else f"FN {k[3]}") for kind, k in outs if kind in (TP, FN)]
        counts = {kind: sum(1 for k, _ in outs if k == kind) for kind in (TP, FP, FN)}
        parts.append(f"<h2>PMID {html.escape(pmid)}: TP {counts[TP]}, FP {counts[FP]}, FN {counts[FN]}</h2>")
        for view in (_view(texts[pmid], pred, "predicted"), _view(texts[pmid], gold_spans, "gold")):
            parts.append(f"<h3>{view['title']}</h3>")
            parts.append(displacy.render(view, style="ent", manual=True, page=False, options={"colors": colours}))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title>"
            "<style>body{font-family:sans-serif;max-width:70em;margin:auto}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_report(path: Union[str, Path], gold: Sequence[Document], scores: MentionScores, **kwargs: object) -> Path:
    from ..atomic import atomic_write_text

    return atomic_write_text(path, report_html(gold, scores, **kwargs))  # type: ignore[arg-type]


__all__ = ["report_html", "write_report"]
