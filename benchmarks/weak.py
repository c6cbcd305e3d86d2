"""Benchmark: build CDWC and CDWA from all shared abstracts, against a baseline on half of them.

    BIONER_DATA_MIRROR=/path/to/data python benchmarks/weak.py [--unlabeled] [--tracemalloc]
        [--n-process N] [--no-single]

Each build runs in a fresh process (so its peak memory is its own) that first loads the
knowledge bases, the leak guard and (with ``--unlabeled``) a saved dictionary labeller, then
builds with ``--n-process`` worker processes (default 2); the table shows the build's
wall-clock seconds, abstracts read per second, CPU seconds (workers included), the process's
peak resident memory (``ru_maxrss``), what it held before the build started, the largest
worker's peak (pages shared with the building process since the fork included), and with
``--tracemalloc`` the peak of Python allocations during the build (slower, this process only).
The baseline ("half") is the same build on the first half of every input file: if memory does
not grow with the corpus, its peak equals the full build's. Unless ``--no-single``, the full
build also runs in one process, for the speed-up, and its outputs must equal those of the
parallel build, byte for byte (``report.json`` but for its output paths); the benchmark
fails (exit status 1) when they differ.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Dict, List, Optional


def _rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # ended (waited for) children
    return usage.ru_utime + usage.ru_stime


def _inputs(data: Path, unlabeled: bool) -> Dict[str, List[Path]]:
    return {
        "pubtator": sorted((data / "pubtator").glob("*.PubTator.gz")),
        "unlabeled": sorted((data / "unlabeled").glob("*.PubTator.gz")) if unlabeled else [],
        "ctd": sorted((data / "ctd").glob("chemdisgene_*relationships.tsv.gz")),
        "gold": sorted((data / "cdr").glob("CDR_*.PubTator.txt"))
        + sorted((data / "ncbi_disease").glob("NCBI*_corpus.txt")),
    }


def _halve(paths: List[Path], folder: Path, text_only: bool = False) -> List[Path]:
    """The first half of every file's documents, written to ``folder``."""
    from spacy_bioner.corpus.pubtator import read_pubtator, write_pubtator

    folder.mkdir(parents=True, exist_ok=True)
    halves = []
    for path in paths:
        n = sum(1 for _ in read_pubtator(path, text_only=text_only))
        target = folder / path.name
        write_pubtator(islice(read_pubtator(path, text_only=text_only), (n + 1) // 2), target)
        halves.append(target)
    return halves


def run_build(job: Dict[str, object]) -> Dict[str, object]:
    """One build in this (fresh) process; returns its measurements."""
    import warnings

    warnings.simplefilter("ignore")
    from spacy_bioner.corpus.splits import LeakGuard
    from spacy_bioner.corpus.tokenizer import make_bio_nlp
    from spacy_bioner.weak.build import build_weak_datasets
    from spacy_bioner.weak.dictionary import DictionaryLabeller
    from spacy_bioner.weak.kb import load_knowledge_base

    data = Path(str(job["data"]))
    started = time.perf_counter()
    kb = load_knowledge_base(job["ctd"], data / "ctd" / "CTD_diseases.tsv.gz",  # type: ignore
                             data / "mesh" / "mesh_descriptor_terms.tsv.gz")
    guard = LeakGuard.from_files(job["gold"])  # type: ignore[arg-type]
    labeller = DictionaryLabeller.load(str(job["labeller"])) if job["unlabeled"] else None
    nlp = make_bio_nlp()
    setup = time.perf_counter() - started
    rss_before = _rss_mb()
    if job["tracemalloc"]:
        import tracemalloc

        tracemalloc.start()
    cpu0, children0 = time.process_time(), _children_cpu()
    started = time.perf_counter()
    result = build_weak_datasets(job["pubtator"], kb, str(job["output"]), guard=guard,  # type: ignore
                                 unlabeled=job["unlabeled"], labeller=labeller,  # type: ignore
                                 nlp=nlp, progress=False,
                                 n_process=int(job["n_process"]))  # type: ignore[call-overload]
    seconds = time.perf_counter() - started
    own_cpu = time.process_time() - cpu0
    workers_cpu = _children_cpu() - children0
    traced = None
    if job["tracemalloc"]:
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    report = result.report
    return {
        "run": job["name"], "n_process": job["n_process"], "output": job["output"],
        "abstracts": report.documents_read, "setup_s": setup,
        "seconds": seconds, "per_s": report.documents_read / seconds,
        "cpu_s": own_cpu + workers_cpu, "own_cpu_s": own_cpu, "workers_cpu_s": workers_cpu,
        "rss_before_mb": rss_before, "peak_rss_mb": _rss_mb(), "traced_peak_mb": traced,
        "worker_peak_rss_mb": _rss_mb(resource.RUSAGE_CHILDREN) if workers_cpu else None,
        "cdwc": report.documents["CDWC"], "cdwa": report.documents["CDWA"],
        "accounting_errors": report.accounting_errors(),
    }


def differences(first: Path, second: Path) -> List[str]:
    """The output files of two builds that differ (``report.json``: but for ``outputs``)."""
    names = {p.relative_to(first) for p in first.rglob("*") if p.is_file()}
    names |= {p.relative_to(second) for p in second.rglob("*") if p.is_file()}
    differ = []
    for name in sorted(names):
        a, b = first / name, second / name
        if not (a.is_file() and b.is_file()):
            differ.append(f"{name} (only in one build)")
        elif name == Path("report.json"):
            reports = [json.loads(p.read_text(encoding="utf-8")) for p in (a, b)]
            for report in reports:
                report.pop("outputs", None)
            if json.dumps(reports[0]) != json.dumps(reports[1]):  # key order included
                differ.append(str(name))
        elif a.read_bytes() != b.read_bytes():
            differ.append(str(name))
    return differ


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("BIONER_DATA_MIRROR"),
                        help="the data folder (default: $BIONER_DATA_MIRROR)")
    parser.add_argument("--unlabeled", action="store_true",
                        help="also label unlabeled/ with the dictionary (joins CDWC)")
    parser.add_argument("--dictionary", type=Path, help="a saved dictionary labeller "
                        "(default: build one from MeSH/CTD, tuned on CDR train/dev)")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python "
                        "allocations during the builds (slower)")
    parser.add_argument("--n-process", type=int, default=2, help="worker processes of the "
                        "builds (default: 2)")
    parser.add_argument("--single", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the full build in one process and compare its outputs "
                        "(default: yes)")
    parser.add_argument("--workdir", type=Path, help="where to write (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args(argv)
    if args.n_process < 1:
        parser.error("--n-process must be at least 1")
    if args.data is None or not (args.data / "pubtator").is_dir():
        parser.error("give --data or set BIONER_DATA_MIRROR to the data folder")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bioner-weak-bench-"))
    inputs = _inputs(args.data, args.unlabeled)
    labeller_path = args.dictionary
    if args.unlabeled and labeller_path is None:
        from spacy_bioner.corpus.pubtator import read_pubtator
        from spacy_bioner.weak.dictionary import build_labeller

        started = time.perf_counter()
        d = args.data
        labeller, info = build_labeller(
            d / "mesh" / "mesh_descriptor_terms.tsv.gz", d / "ctd" / "CTD_diseases.tsv.gz",
            d / "mesh" / "chemical_terms_lower.tsv.gz", d / "mesh" / "disease_terms_lower.tsv.gz",
            list(read_pubtator(d / "cdr" / "CDR_TrainingSet.PubTator.txt")),
            list(read_pubtator(d / "cdr" / "CDR_DevelopmentSet.PubTator.txt")))
        labeller_path = work / "labeller.pkl"
        labeller.save(labeller_path)
        print(f"dictionary labeller built and tuned in {time.perf_counter() - started:.1f} s "
              f"({info['terms']} terms)", file=sys.stderr)
    half = {"pubtator": _halve(inputs["pubtator"], work / "half" / "pubtator"),
            "unlabeled": _halve(inputs["unlabeled"], work / "half" / "unlabeled", True)}
    runs = [("half (baseline)", half, args.n_process, "half"),
            ("full", inputs, args.n_process, "full")]
    if args.single and args.n_process > 1:
        runs.append(("full, 1 process", inputs, 1, "full-1"))
    jobs = []
    for name, files, n_process, folder in runs:
        jobs.append({"name": name, "data": str(args.data), "pubtator": files["pubtator"],
                     "unlabeled": files["unlabeled"], "ctd": inputs["ctd"],
                     "gold": inputs["gold"], "labeller": str(labeller_path),
                     "tracemalloc": args.tracemalloc, "n_process": n_process,
                     "output": str(work / folder)})
    context = multiprocessing.get_context("spawn")
    results = []
    for job in jobs:  # a fresh (non-daemonic: it starts the workers) process per build
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            results.append(pool.submit(run_build, job).result())
    header = (f"{'run':<16} {'proc':>4} {'abstracts':>9} {'seconds':>8} {'abstr/s':>8} "
              f"{'cpu s':>7} {'peak RSS MB':>11} {'RSS before':>10} {'worker MB':>9} "
              f"{'traced MB':>9}  CDWC/CDWA")
    print(header)
    for r in results:
        traced = f"{r['traced_peak_mb']:.1f}" if r["traced_peak_mb"] is not None else "-"
        worker = (f"{r['worker_peak_rss_mb']:.0f}" if r["worker_peak_rss_mb"] is not None
                  else "-")
        print(f"{r['run']:<16} {r['n_process']:>4} {r['abstracts']:>9,} {r['seconds']:>8.1f} "
              f"{r['per_s']:>8.1f} {r['cpu_s']:>7.1f} {r['peak_rss_mb']:>11.0f} "
              f"{r['rss_before_mb']:>10.0f} {worker:>9} {traced:>9}  "
              f"{r['cdwc']:,}/{r['cdwa']:,}")
        if r["accounting_errors"]:
            print(f"  accounting errors: {r['accounting_errors']}")
    full, base = results[1], results[0]
    print(f"full build: {full['abstracts']:,} abstracts in {full['seconds']:.1f} s "
          f"({full['per_s']:.0f}/s, {full['n_process']} processes, {os.cpu_count()} cores), "
          f"peak RSS {full['peak_rss_mb']:.0f} MB vs {base['peak_rss_mb']:.0f} MB on half "
          f"the input; CPU {full['own_cpu_s']:.1f} s in the building process, "
          f"{full['workers_cpu_s']:.1f} s in the workers")
    status = 1 if any(r["accounting_errors"] for r in results) else 0
    if len(results) > 2:
        single = results[2]
        differ = differences(Path(str(single["output"])), Path(str(full["output"])))
        print(f"one process: {single['seconds']:.1f} s, so {args.n_process} processes are "
              f"{single['seconds'] / full['seconds']:.2f}x as fast; outputs "
              + ("identical" if not differ else f"DIFFER: {', '.join(differ)}"))
        if differ:
            status = 1
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
