"""Benchmark: tag the shared abstracts with `annotate` (1 and 2 processes, Ray with 2 actors) vs a plain nlp.pipe loop.

The 23,135 documents of pubtator/ and unlabeled/ in the data mirror (or a seeded sample of
--limit of them) are written as --files PubTator input files. Each configuration runs as its
own process, as a user would run it, with one torch/BLAS thread per worker process
(OMP_NUM_THREADS=1), and is timed by wall clock from start to exit (imports, model loading,
worker start-up and writing included):

- baseline: one process that loads the model, reads the files and runs ``nlp.pipe`` over all
  texts, keeping each entity's offsets, label and confidence, and writes nothing;
- ``annotate --n-process 1`` and ``--n-process 2`` (JSONL output);
- ``annotate --backend ray --concurrency 2`` (a local Ray started by the command).

Rates are also given after start-up: from the first shard opened to the last one finished, by
the shards' own timestamps in the manifest (workers and actors have loaded the pipeline by then),
since at PubMed scale start-up is negligible; the targets and the hours use these rates.
CPU seconds spent in ``nlp.pipe`` by the tagging processes (the manifest's ``tag_cpu_seconds``)
give documents per CPU second, which other jobs on a shared machine do not change, and the
cores a run really got (CPU seconds / seconds after start-up): with the kernel's autogroup
scheduling (``/proc/sys/kernel/sched_autogroup_enabled``) the processes of one terminal session
share one session's slice of a busy machine, however many there are, while Ray starts its actors
in sessions of their own.
Peak RSS per worker is the largest ``ru_maxrss`` of the processes that tagged (the manifest's
``peak_rss_mb``; the baseline's own). "h / 36M / 100 cores" is the hours that 36 M abstracts
would take on 100 cores at the run's documents per second per process used. The shards of the
three annotate runs are compared byte for byte.

    python benchmarks/annotate.py --model /work/qs/packages/... --limit 5000   # --data or $BIONER_DATA_MIRROR
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

PUBMED_ABSTRACTS = 36_000_000
TARGET_2_OVER_1 = 1.7
TARGET_RAY_OVER_LOCAL = 0.75  # "within 25 %"
TARGET_RSS_MB = 1024.0


def load_texts(data: Path) -> List[Tuple[str, str, str]]:
    """(pmid, title, abstract) of every document of pubtator/*.PubTator.gz and unlabeled/*.PubTator.gz."""
    from spacy_bioner.corpus.pubtator import read_pubtator

    files = sorted((data / "pubtator").glob("*.PubTator.gz")) + sorted((data / "unlabeled").glob("*.PubTator.gz"))
    if not files:
        raise FileNotFoundError(f"no *.PubTator.gz under {data}/pubtator or {data}/unlabeled")
    docs = []
    for path in files:
        docs.extend((d.pmid, d.title, d.abstract) for d in read_pubtator(path, text_only=True))
    return docs


def write_inputs(docs: Sequence[Tuple[str, str, str]], folder: Path, n_files: int) -> List[Path]:
    """Deal the documents round-robin into ``n_files`` PubTator files (PMIDs made unique per file)."""
    folder.mkdir(parents=True, exist_ok=True)
    chunks: List[List[str]] = [[] for _ in range(n_files)]
    for i, (pmid, title, abstract) in enumerate(docs):
        uid = f"{pmid}_{i}"  # the corpora share PMIDs; a repeated id is refused within a PubTator file
        chunks[i % n_files].append(f"{uid}|t|{title}\n{uid}|a|{abstract}\n\n")
    paths = []
    for n, chunk in enumerate(chunks):
        path = folder / f"part{n:03d}.PubTator"
        path.write_text("".join(chunk), encoding="utf-8")
        paths.append(path)
    return paths


def hours_for_pubmed(docs_per_second: float, processes: int, cores: int = 100) -> float:
    """Hours for 36 M abstracts on ``cores`` cores at this rate per process."""
    if docs_per_second <= 0:
        return float("inf")
    return PUBMED_ABSTRACTS / (docs_per_second / processes * cores) / 3600


def pipe_loop(model: str, folder: Path, batch_size: int) -> Dict[str, float]:
    """The baseline, run in its own process: load, read, nlp.pipe, keep the entities."""
    import spacy
    from spacy.tokens import Span

    from spacy_bioner.corpus.pubtator import read_pubtator

    nlp = spacy.load(model)
    texts = [d.text for path in sorted(folder.glob("*.PubTator")) for d in read_pubtator(path, text_only=True)]
    start, cpu = time.perf_counter(), time.process_time()
    has_conf = Span.has_extension("confidence")
    n_ents = 0
    for doc in nlp.pipe(texts, batch_size=batch_size):
        ents = [(e.start_char, e.end_char, e.label_, e._.confidence if has_conf else None) for e in doc.ents]
        n_ents += len(ents)
    return {
        "pipe_seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "documents": len(texts),
        "words": sum(len(t.split()) for t in texts),
        "entities": n_ents,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def run_timed(argv: List[str], env: Dict[str, str]) -> Tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"{' '.join(argv[:6])} ... exited with {proc.returncode}")
    return seconds, proc


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="trained pipeline (package name or path)")
    parser.add_argument("--data", type=Path, default=os.environ.get("BIONER_DATA_MIRROR"),
                        help="data folder (default: $BIONER_DATA_MIRROR)")
    parser.add_argument("--limit", type=int, default=0, help="a seeded sample of this many documents (0: all)")
    parser.add_argument("--files", type=int, default=8, help="input files the documents are dealt into")
    parser.add_argument("--batch-size", type=int, default=32, help="as annotate's default")
    parser.add_argument("--skip-ray", action="store_true", help="leave out the Ray backend")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--pipe-loop", type=Path, help=argparse.SUPPRESS)  # internal: run the baseline
    args = parser.parse_args(argv)
    if args.model is None:
        parser.error("give --model")
    if args.pipe_loop is not None:
        print(json.dumps(pipe_loop(args.model, args.pipe_loop, args.batch_size)))
        return 0
    if args.data is None:
        parser.error("give --data or set BIONER_DATA_MIRROR")

    docs = load_texts(Path(args.data))
    total = len(docs)
    if args.limit and args.limit < total:
        docs = random.Random(0).sample(docs, args.limit)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    py = sys.executable
    results: Dict[str, Dict[str, float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_annotate_"))
    try:
        inputs = tmp / "in"
        write_inputs(docs, inputs, args.files)
        print(f"{len(docs):,} of {total:,} documents in {args.files} PubTator files; model {args.model}; "
              f"batch size {args.batch_size}; {os.cpu_count()} CPUs seen, 1 thread per process", flush=True)

        seconds, proc = run_timed([py, __file__, "--model", args.model, "--pipe-loop", str(inputs),
                                   "--batch-size", str(args.batch_size)], env)
        base = json.loads(proc.stdout.strip().splitlines()[-1])
        results["nlp.pipe loop (baseline)"] = {**base, "processes": 1, "seconds": seconds, "steady_seconds": base["pipe_seconds"]}

        runs = [("annotate, 1 process", ["--n-process", "1"], 1), ("annotate, 2 processes", ["--n-process", "2"], 2)]
        if not args.skip_ray:
            runs.append(("annotate, Ray, 2 actors", ["--backend", "ray", "--concurrency", "2"], 2))
        shards: Dict[str, Dict[str, bytes]] = {}
        for name, extra, processes in runs:
            out = tmp / f"out{len(shards)}"
            seconds, _ = run_timed([py, "-m", "spacy_bioner", "annotate", args.model, str(inputs), "-o", str(out),
                                    "--format", "jsonl", "--batch-size", str(args.batch_size), "--no-progress", *extra], env)
            manifest = json.loads((out / "manifest.json").read_text())
            t = manifest["totals"]
            rss = max(s["peak_rss_mb"] for s in manifest["per_shard"])
            span = max(s["finished_at"] for s in manifest["per_shard"]) - min(s["started_at"] for s in manifest["per_shard"])
            results[name] = {"documents": t["documents"], "words": t["words"], "entities": t["entities"],
                             "failed": t["failed"], "processes": processes, "seconds": seconds,
                             "steady_seconds": span, "peak_rss_mb": rss,
                             "cpu_seconds": sum(s["tag_cpu_seconds"] for s in manifest["per_shard"])}
            shards[name] = {p.name: p.read_bytes() for p in out.glob("*.jsonl")}
            print(f"  {name}: {seconds:.1f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for r in results.values():
        r["docs_per_second"] = r["documents"] / r["seconds"]
        r["steady_docs_per_second"] = r["documents"] / r["steady_seconds"]
        r["steady_words_per_second"] = r["words"] / r["steady_seconds"]
        r["hours_36m_100_cores"] = hours_for_pubmed(r["steady_docs_per_second"], int(r["processes"]))
        r["docs_per_cpu_second"] = r["documents"] / r["cpu_seconds"]
        r["cores_used"] = r["cpu_seconds"] / r["steady_seconds"]
        r["hours_36m_100_cores_cpu"] = hours_for_pubmed(r["docs_per_cpu_second"], 1)
    base_rate = results["nlp.pipe loop (baseline)"]["steady_docs_per_second"]
    header = (f"{'run':<26} {'proc':>4} {'docs':>6} {'wall s':>6} {'wall docs/s':>11} {'tag s':>6} {'docs/s':>7} "
              f"{'words/s':>8} {'x base':>6} {'RSS/worker MB':>13} {'h/36M/100 cores':>15} {'docs/CPU-s':>10} {'h by CPU':>8} {'cores used':>10}")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(f"{name:<26} {int(r['processes']):>4} {int(r['documents']):>6} {r['seconds']:>6.1f} "
              f"{r['docs_per_second']:>11.1f} {r['steady_seconds']:>6.1f} {r['steady_docs_per_second']:>7.1f} "
              f"{r['steady_words_per_second']:>8,.0f} {r['steady_docs_per_second'] / base_rate:>6.2f} "
              f"{r['peak_rss_mb']:>13.0f} {r['hours_36m_100_cores']:>15.1f} {r['docs_per_cpu_second']:>10.1f} "
              f"{r['hours_36m_100_cores_cpu']:>8.1f} {r['cores_used']:>10.2f}")
    print("wall: process start to exit (imports, model loading, workers' start-up); tag s: first shard opened to last "
          "shard finished, after start-up (baseline: the nlp.pipe loop alone); docs/s, words/s, x base and hours use tag s; "
          "docs/CPU-s: documents per CPU second spent in nlp.pipe by the tagging processes, and 'h by CPU' the hours "
          "for 36 M abstracts on 100 cores at that rate (unaffected by other jobs on the machine); cores used: CPU seconds "
          "spent tagging / tag s")
    one, two = results["annotate, 1 process"], results["annotate, 2 processes"]
    ratio = two["steady_docs_per_second"] / one["steady_docs_per_second"]
    wall_ratio = two["docs_per_second"] / one["docs_per_second"]
    checks = [(f"annotate 2 processes / 1 process = {ratio:.2f} after start-up, {wall_ratio:.2f} wall "
               f"(target >= {TARGET_2_OVER_1})", ratio >= TARGET_2_OVER_1)]
    if "annotate, Ray, 2 actors" in results:
        ray = results["annotate, Ray, 2 actors"]
        ray_ratio = ray["steady_docs_per_second"] / two["steady_docs_per_second"]
        checks.append((f"Ray 2 actors / annotate 2 processes = {ray_ratio:.2f} after start-up, "
                       f"{ray['docs_per_second'] / two['docs_per_second']:.2f} wall (target >= {TARGET_RAY_OVER_LOCAL})",
                       ray_ratio >= TARGET_RAY_OVER_LOCAL))
    peak = max(r["peak_rss_mb"] for r in results.values())
    checks.append((f"peak RSS per worker = {peak:.0f} MB (target <= {TARGET_RSS_MB:.0f})", peak <= TARGET_RSS_MB))
    names = list(shards)
    same = all(shards[n] == shards[names[0]] for n in names[1:])
    checks.append((f"shards of {', '.join(names)} byte-identical", same))
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "checks": dict(checks)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
