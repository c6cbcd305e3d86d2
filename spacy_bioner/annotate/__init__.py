"""Annotate corpora at scale: readers, shard writers and the local and Ray runners of ``annotate``.

``python -m spacy_bioner annotate MODEL INPUT... --output DIR`` (``spacy_bioner.cli.annotate``).
"""

from .readers import INPUT_FORMATS, InputFile, detect_format
from .records import Deleted, Entity, Failure, Record
from .runner import FileTask, JobOptions, PipelineSpec, load_pipeline, plan, process_files, run_local, write_reports
from .writers import OUTPUT_FORMATS, open_shard

__all__ = [
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "Deleted",
    "Entity",
    "Failure",
    "FileTask",
    "InputFile",
    "JobOptions",
    "PipelineSpec",
    "Record",
    "detect_format",
    "load_pipeline",
    "open_shard",
    "plan",
    "process_files",
    "run_local",
    "write_reports",
]
