"""Run an annotate job on Ray Data: one dataset row per input file, one pipeline per actor.

The files to do become a Ray dataset (one block per file, so the actors share them out);
``map_batches`` with ``_RayAnnotator``, a stateful class, loads the pipeline once per actor
(``num_cpus``/``num_gpus`` per actor, ``concurrency`` actors) and runs the local backend's
``process_files`` on each file, so every shard is written (atomically, with its record) exactly
as the local backend writes it: same batches, same bytes. The output folder must therefore be one
that every node of the cluster can write (a shared file system). Without ``address`` a local Ray
is started for the job and shut down after it; a Ray that is already initialised is used as is.

Ray is an optional extra: ``pip install spacy_bioner[ray]``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence

from .runner import FileTask, InlineTagger, JobOptions, PipelineSpec, load_pipeline, process_files

__all__ = ["run_ray"]


class _RayAnnotator:
    """A Ray Data actor: loads the pipeline once, then annotates whole files, one per row."""

    def __init__(self, spec: PipelineSpec, options: JobOptions) -> None:
        self.tagger = InlineTagger(load_pipeline(spec), spec.link is not None)
        self.options = options

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        import numpy

        records = []
        for path, shard, input_format in zip(batch["input"], batch["shard"], batch["input_format"]):
            task = FileTask(str(path), str(shard), str(input_format))
            records.extend(process_files([task], self.tagger, self.options))
        return {"record": numpy.asarray([json.dumps(r, ensure_ascii=False) for r in records], dtype=object)}


def run_ray(
    tasks: Sequence[FileTask],
    spec: PipelineSpec,
    options: JobOptions,
    address: Optional[str] = None,
    concurrency: int = 2,
    cpus_per_actor: float = 1.0,
    gpus_per_actor: float = 0.0,
    progress: bool = False,
) -> List[Dict[str, Any]]:
    """Process ``tasks`` on Ray (see the module docstring); return the shards' records.

    RAISES: ImportError (with the pip command) when Ray is not installed.
    """
    if not tasks:
        return []
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ImportError("the Ray backend needs Ray Data: pip install 'spacy_bioner[ray]'") from err
    actor_spec = PipelineSpec(
        spec.model, spec.link, 0 if gpus_per_actor > 0 else -1, spec.threads or max(1, int(cpus_per_actor))
    )
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level="WARNING", log_to_driver=True)
        started = True
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        context.print_on_execution_start = progress
        rows = [asdict(t) for t in tasks]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        dataset = dataset.map_batches(
            _RayAnnotator,
            fn_constructor_kwargs={"spec": actor_spec, "options": options},
            batch_size=1,
            batch_format="numpy",
            concurrency=max(1, min(concurrency, len(rows))),
            num_cpus=cpus_per_actor,
            num_gpus=gpus_per_actor,
        )
        return [json.loads(row["record"]) for row in dataset.take_all()]
    finally:
        if started:
            ray.shutdown()
