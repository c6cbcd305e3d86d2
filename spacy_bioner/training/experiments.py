"""The paper's Tables 4 and 5 from one call: students with and without distillation, ablations.

Teachers are trained like correction models (train on a weak set, fine-tune on T) and reused by
every row that needs them (cached by weak-set path under ``<output>/teachers``). Students are
fine-tuned on T after distillation, like the teachers and the no-distillation baseline, so every
row ends with the same gold fine-tuning. Each row is scored on the test set (P/R/F per type and
micro) and on D; finished rows are kept in ``<output>/rows/<id>/row.json`` and skipped when the
command runs again with the same settings.

Table 4: ``t4_union`` (plain training on CDRA + CDRC, then T), ``t4_hard`` (hard labels of Tc
and Ta), ``t4_l1``, ``t4_l2``, ``t4_kd`` (hard + soft labels), and ``t4_unlabeled`` when
unlabelled abstracts are given (the distillation set grows beyond the weak-set abstracts).
Table 5: ``t5_no_recorrection`` (teachers from CDWC and CDWA), ``t5_only_cdrc``, ``t5_only_cdra``.
Table 5 and ``t4_unlabeled`` use ``ablation_distance``; ``auto`` takes the Table 4 distillation
row with the best F on D (never the test set).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import spacy
import srsly

from ..corpus.docbin import concat_docbins, docbin_labels, docbin_paths, limit_docbin
from ..corpus.document import Document
from ..corpus.pubtator import read_pubtator
from .distill import DISTANCES, DistillSettings, distill
from .spacy_train import finetune_config, labels_config, train_pipeline
from .teachers import crf_component_name, score_pipeline

PathLike = Union[str, Path]
TYPES = ("Chemical", "Disease")
WEAK_SETS = ("cdrc", "cdra", "cdwc", "cdwa")


@dataclass
class Scale:
    """How much training each stage gets, and how many documents each set keeps."""

    name: str
    weak_overrides: Dict[str, Any] = field(default_factory=dict)
    finetune_overrides: Dict[str, Any] = field(default_factory=dict)
    distill_epochs: Optional[int] = None
    distill_max_steps: Optional[int] = None
    limit_weak: Optional[int] = None
    limit_gold: Optional[int] = None


SCALES: Dict[str, Scale] = {
    "tiny": Scale(
        "tiny",
        weak_overrides={"training.max_steps": 4, "training.eval_frequency": 2},
        finetune_overrides={"training.max_steps": 4, "training.eval_frequency": 2},
        distill_epochs=1,
        distill_max_steps=4,
        limit_weak=16,
        limit_gold=8,
    ),
    "small": Scale(
        "small",
        weak_overrides={"training.max_steps": 300, "training.eval_frequency": 100},
        finetune_overrides={"training.max_steps": 200, "training.eval_frequency": 50},
        distill_epochs=2,
        limit_weak=1000,
        limit_gold=200,
    ),
    "full": Scale("full"),
}


@dataclass
class RowSpec:
    id: str
    table: int
    label: str
    kind: str  # "union" or "distill"
    teachers: Sequence[str] = ()
    distance: str = "none"  # or "auto"
    extra_data: bool = False


TABLE4 = [
    RowSpec("t4_union", 4, "CDRA ∪ CDRC, no distillation", "union"),
    RowSpec("t4_hard", 4, "hard labels", "distill", ("cdrc", "cdra"), "none"),
    RowSpec("t4_l1", 4, "hard + l1", "distill", ("cdrc", "cdra"), "l1"),
    RowSpec("t4_l2", 4, "hard + l2", "distill", ("cdrc", "cdra"), "l2"),
    RowSpec("t4_kd", 4, "hard + KD", "distill", ("cdrc", "cdra"), "kd"),
]
UNLABELED_ROW = RowSpec("t4_unlabeled", 4, "hard + {distance}, weak + unlabelled abstracts", "distill", ("cdrc", "cdra"), "auto", True)
TABLE5 = [
    RowSpec("t5_no_recorrection", 5, "no re-correction (teachers from CDWC, CDWA)", "distill", ("cdwc", "cdwa"), "auto"),
    RowSpec("t5_only_cdrc", 5, "only CDRC (one teacher)", "distill", ("cdrc",), "auto"),
    RowSpec("t5_only_cdra", 5, "only CDRA (one teacher)", "distill", ("cdra",), "auto"),
]
ALL_ROWS = TABLE4 + [UNLABELED_ROW] + TABLE5


@dataclass
class ExperimentData:
    """Inputs: the four large sets and the gold splits (DocBin for training, PubTator for scores)."""

    cdrc: Path
    cdra: Path
    cdwc: Path
    cdwa: Path
    train: Path
    dev: Path
    dev_gold: Path
    test_gold: Path
    unlabeled: List[Path] = field(default_factory=list)

    def check(self) -> None:
        for name in (*WEAK_SETS, "train", "dev"):
            docbin_paths(Path(getattr(self, name)))  # a DocBin file or a folder of shards
        for name in ("dev_gold", "test_gold"):
            if not Path(getattr(self, name)).is_file():
                raise FileNotFoundError(f"{name}: {getattr(self, name)} does not exist")
        for path in self.unlabeled:
            docbin_paths(Path(path))


def file_digest(path: PathLike) -> str:
    """sha1 of a file's bytes (of a DocBin folder: of its .spacy files' names and bytes)."""
    digest = hashlib.sha1()
    files = docbin_paths(Path(path)) if Path(path).is_dir() else [Path(path)]
    for file in files:
        digest.update(file.name.encode("utf8"))
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def model_digest(model: Path) -> str:
    """sha1 over the files of a saved pipeline (names and bytes), to tell one teacher from another."""
    digest = hashlib.sha1()
    for file in sorted(p for p in Path(model).rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(model)).encode("utf8"))
        digest.update(file.read_bytes())
    return digest.hexdigest()


def read_gold(path: Path, limit: Optional[int] = None) -> List[Document]:
    """The first ``limit`` (or all) documents of a PubTator file."""
    return list(islice(read_pubtator(path), limit))


def train_then_finetune(
    config: Path,
    weak: Path,
    train: Path,
    dev: Path,
    output: Path,
    *,
    weak_overrides: Optional[Dict[str, Any]] = None,
    finetune_overrides: Optional[Dict[str, Any]] = None,
    component: Optional[str] = None,
    gpu_id: int = -1,
) -> Path:
    """Train a pipeline on ``weak`` (spacy train), then fine-tune it on ``train``; return model-best.

    The tag set is fixed to the labels of ``weak`` and ``train`` together, so a relabelled weak
    set that lost every mention of a type still gives a model with the gold task's labels.
    """
    name = component or crf_component_name(srsly_config(config))
    labels = sorted(set(docbin_labels(weak)) | set(docbin_labels(train)))
    if not labels:
        raise ValueError(f"neither {weak} nor {train} has entity labels")
    weak_cfg = labels_config(config, name, labels, output / "weak.cfg")
    weak_model = train_pipeline(weak_cfg, output / "weak", {"paths.train": str(weak), "paths.dev": str(dev), **(weak_overrides or {})}, gpu_id)
    return finetune(config, weak_model, train, dev, output / "finetuned", name, finetune_overrides, gpu_id)


def finetune(
    config: Path,
    model: Path,
    train: Path,
    dev: Path,
    output: Path,
    component: str,
    overrides: Optional[Dict[str, Any]] = None,
    gpu_id: int = -1,
) -> Path:
    """Fine-tune the ``component`` of a saved pipeline on ``train`` with ``config``'s training."""
    cfg = finetune_config(config, model, component, output.parent / f"{output.name}.cfg")
    return train_pipeline(cfg, output, {"paths.train": str(train), "paths.dev": str(dev), **(overrides or {})}, gpu_id)


def srsly_config(path: Path) -> Dict[str, Any]:
    """A config file as nested dicts, without interpolation."""
    from thinc.api import Config

    return Config().from_disk(path, interpolate=False)


def large_batch_overrides(config: Path, size: Optional[int]) -> Dict[str, Any]:
    """``training.batcher.size`` for training on a large set, when the config batches by sequence."""
    if size is None:
        return {}
    batcher = srsly_config(config).get("training", {}).get("batcher", {})
    if batcher.get("@batchers") != "spacy.batch_by_sequence.v1":
        return {}
    return {"training.batcher.size": size}


@dataclass
class ExperimentSettings:
    config: Path
    output: Path
    scale: Scale = field(default_factory=lambda: SCALES["full"])
    rows: Optional[List[str]] = None  # row ids; default all (t4_unlabeled only with unlabelled data)
    weight: float = 1.0
    temperature: float = 2.0
    ablation_distance: str = "auto"
    student_overrides: Dict[str, Any] = field(default_factory=dict)
    weak_overrides: Dict[str, Any] = field(default_factory=dict)
    finetune_overrides: Dict[str, Any] = field(default_factory=dict)
    # fine-tuning of the students and the union row on T (None: finetune_overrides, as the teachers)
    student_finetune_overrides: Optional[Dict[str, Any]] = None
    finetune_student: bool = True
    # teachers trained elsewhere (e.g. by the project's `teachers` step), by weak-set name: not retrained
    teacher_models: Dict[str, Path] = field(default_factory=dict)
    large_batch_size: Optional[int] = 32  # the paper's batch on the large sets (batch_by_sequence only)
    shard_size: int = 1000
    gpu_id: int = -1
    component: Optional[str] = None


class Experiments:
    """Runs the rows; trains each teacher once; resumes finished rows."""

    def __init__(self, data: ExperimentData, settings: ExperimentSettings, log: Callable[[str], None] = print):
        data.check()
        if settings.ablation_distance not in (*DISTANCES, "auto"):
            raise ValueError(f"unknown ablation distance {settings.ablation_distance!r}: use auto or {', '.join(DISTANCES)}")
        self.settings = settings
        self.log = log
        self.out = Path(settings.output)
        self.out.mkdir(parents=True, exist_ok=True)
        self.component = crf_component_name(srsly_config(Path(settings.config)), settings.component)
        scale = settings.scale
        large = large_batch_overrides(Path(settings.config), settings.large_batch_size)
        self.weak_overrides = {**large, **scale.weak_overrides, **settings.weak_overrides}
        self.student_overrides = {**large, **settings.student_overrides}
        self.finetune_overrides = {**scale.finetune_overrides, **settings.finetune_overrides}
        student_ft = settings.finetune_overrides if settings.student_finetune_overrides is None else settings.student_finetune_overrides
        self.student_finetune_overrides = {**scale.finetune_overrides, **student_ft}
        unknown = sorted(set(settings.teacher_models) - set(WEAK_SETS))
        if unknown:
            raise ValueError(f"teacher models for unknown sets {unknown}; use {', '.join(WEAK_SETS)}")
        for name, model in settings.teacher_models.items():
            if not (Path(model) / "config.cfg").is_file():
                raise FileNotFoundError(f"teacher model for {name}: {model} is not a saved spaCy pipeline")
        d = self.out / "data"
        lw, lg = scale.limit_weak, scale.limit_gold
        self.sets = {name: limit_docbin(Path(getattr(data, name)), d / f"{name}.spacy", lw) for name in WEAK_SETS}
        self.unlabeled = [limit_docbin(Path(p), d / f"unlabeled{i}.spacy", lw) for i, p in enumerate(data.unlabeled)]
        self.train = limit_docbin(Path(data.train), d / "train.spacy", lg)
        self.dev = limit_docbin(Path(data.dev), d / "dev.spacy", lg)
        self.dev_gold = read_gold(Path(data.dev_gold), lg)
        self.test_gold = read_gold(Path(data.test_gold), lg)
        self.teachers: Dict[str, Dict[str, Any]] = {}
        self.results: Dict[str, Dict[str, Any]] = {}

    # -- teachers -------------------------------------------------------------------------------
    def teacher(self, name: str) -> Path:
        """The teacher trained on weak set ``name`` (trained once, reused by path and settings)."""
        if name in self.teachers:
            return Path(self.teachers[name]["model"])
        if name in self.settings.teacher_models:
            return self.given_teacher(name, Path(self.settings.teacher_models[name]))
        weak = self.sets[name]
        folder = self.out / "teachers" / name
        stamp = {
            "weak": str(weak), "weak_sha1": file_digest(weak), "config_sha1": file_digest(self.settings.config),
            "train_sha1": file_digest(self.train), "weak_overrides": self.weak_overrides,
            "finetune_overrides": self.finetune_overrides,
        }  # fmt: skip
        record_path = folder / "teacher.json"
        if record_path.is_file():
            record = srsly.read_json(record_path)
            if record.get("stamp") == json.loads(json.dumps(stamp)) and Path(record["model"]).is_dir():
                self.log(f"teacher {name}: reusing {record['model']}")
                self.teachers[name] = record
                return Path(record["model"])
        self.log(f"teacher {name}: training on {weak}, fine-tuning on {self.train}")
        t0 = time.perf_counter()
        model = train_then_finetune(
            Path(self.settings.config), weak, self.train, self.dev, folder,
            weak_overrides=self.weak_overrides, finetune_overrides=self.finetune_overrides,
            component=self.component, gpu_id=self.settings.gpu_id,
        )  # fmt: skip
        nlp = spacy.load(model)
        record = {
            "name": name, "model": str(model), "stamp": stamp, "seconds": time.perf_counter() - t0,
            "dev": score_pipeline(nlp, self.dev_gold, TYPES), "test": score_pipeline(nlp, self.test_gold, TYPES),
        }  # fmt: skip
        srsly.write_json(record_path, record)
        self.teachers[name] = record
        return model

    def given_teacher(self, name: str, model: Path) -> Path:
        """A teacher trained elsewhere: scored on D and the test set, not retrained."""
        self.log(f"teacher {name}: given, {model}")
        nlp = spacy.load(model)
        self.teachers[name] = {
            "name": name, "model": str(model), "stamp": {"given": str(model), "sha1": model_digest(model)},
            "seconds": 0.0, "dev": score_pipeline(nlp, self.dev_gold, TYPES),
            "test": score_pipeline(nlp, self.test_gold, TYPES),
        }  # fmt: skip
        return model

    # -- rows -----------------------------------------------------------------------------------
    def distance_for(self, spec: RowSpec) -> str:
        if spec.distance != "auto":
            return spec.distance
        if self.settings.ablation_distance != "auto":
            return self.settings.ablation_distance
        for spec4 in TABLE4:  # rows finished by an earlier command count too
            done = self.out / "rows" / spec4.id / "row.json"
            if spec4.id not in self.results and done.is_file():
                self.results[spec4.id] = srsly.read_json(done)
        candidates = [r for r in self.results.values() if r["table"] == 4 and r["kind"] == "distill" and not r["extra_data"]]
        if not candidates:
            return "none"
        best = max(candidates, key=lambda r: r["dev"]["micro"]["f"])
        return best["distance"]

    def row_settings(self, spec: RowSpec, distance: str) -> Dict[str, Any]:
        s = self.settings
        return json.loads(json.dumps({
            "row": spec.id, "distance": distance, "teachers": list(spec.teachers), "extra_data": spec.extra_data,
            "weight": s.weight, "temperature": s.temperature, "scale": asdict(s.scale),
            "student_overrides": self.student_overrides, "weak_overrides": self.weak_overrides,
            "finetune_overrides": self.finetune_overrides, "finetune_student": s.finetune_student,
            "student_finetune_overrides": self.student_finetune_overrides,
            "given_teachers_sha1": {t: self.teachers[t]["stamp"].get("sha1") for t in spec.teachers},
            "config_sha1": file_digest(s.config),
            "sets_sha1": {n: file_digest(p) for n, p in self.sets.items()},
        }))  # fmt: skip

    def run_row(self, spec: RowSpec) -> Dict[str, Any]:
        distance = self.distance_for(spec)
        folder = self.out / "rows" / spec.id
        row_path = folder / "row.json"
        teacher_paths = [self.teacher(t) for t in spec.teachers]  # trained outside the row's clock
        wanted = self.row_settings(spec, distance)
        if row_path.is_file():
            done = srsly.read_json(row_path)
            if done.get("settings") == wanted:
                self.log(f"{spec.id}: already done ({row_path})")
                self.results[spec.id] = done
                return done
        self.log(f"{spec.id}: {spec.label.format(distance=distance)}")
        s = self.settings
        seconds: Dict[str, float] = {}
        t_row = time.perf_counter()
        if spec.kind == "union":
            union = concat_docbins([self.sets["cdra"], self.sets["cdrc"]], self.out / "data" / "union_cdra_cdrc.spacy")
            t0 = time.perf_counter()
            model = train_then_finetune(
                Path(s.config), union, self.train, self.dev, folder,
                weak_overrides=self.weak_overrides, finetune_overrides=self.student_finetune_overrides,
                component=self.component, gpu_id=s.gpu_id,
            )  # fmt: skip
            seconds["train"] = time.perf_counter() - t0
        else:
            data = [self.sets[spec.teachers[0]]] + (self.unlabeled if spec.extra_data else [])
            settings = DistillSettings(
                distance=distance, weight=s.weight, temperature=s.temperature, hard=True,
                epochs=s.scale.distill_epochs, max_steps=s.scale.distill_max_steps, shard_size=s.shard_size,
            )  # fmt: skip
            t0 = time.perf_counter()
            result = distill(
                teacher_paths, data, s.config, folder / "distilled", settings,
                overrides=self.student_overrides, dev=self.dev, dev_gold=self.dev_gold,
                cache_dir=self.out / "cache", gpu_id=s.gpu_id, component=self.component, log=self.log,
            )  # fmt: skip
            seconds["distill"] = time.perf_counter() - t0
            model = Path(result.model_best)
            if s.finetune_student:
                t0 = time.perf_counter()
                model = finetune(
                    Path(s.config), model, self.train, self.dev, folder / "finetuned", self.component,
                    self.student_finetune_overrides, s.gpu_id,
                )  # fmt: skip
                seconds["finetune"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        nlp = spacy.load(model)
        dev_scores = score_pipeline(nlp, self.dev_gold, TYPES)
        test_scores = score_pipeline(nlp, self.test_gold, TYPES)
        seconds["evaluate"] = time.perf_counter() - t0
        seconds["total"] = time.perf_counter() - t_row
        row = {
            "id": spec.id, "table": spec.table, "label": spec.label.format(distance=distance), "kind": spec.kind,
            "teachers": list(spec.teachers), "distance": distance, "extra_data": spec.extra_data,
            "model": str(model), "dev": dev_scores, "test": test_scores, "seconds": seconds, "settings": wanted,
        }  # fmt: skip
        srsly.write_json(row_path, row)
        self.results[spec.id] = row
        return row

    def run(self) -> Dict[str, Any]:
        wanted = self.settings.rows
        specs = [r for r in ALL_ROWS if (wanted is None and (not r.extra_data or self.unlabeled)) or (wanted and r.id in wanted)]
        if wanted:
            unknown = sorted(set(wanted) - {r.id for r in ALL_ROWS})
            if unknown:
                raise ValueError(f"unknown rows {unknown}; known: {[r.id for r in ALL_ROWS]}")
        if any(r.extra_data for r in specs) and not self.unlabeled:
            raise ValueError("row t4_unlabeled needs unlabelled abstracts (--unlabeled)")
        started = time.perf_counter()
        for name in dict.fromkeys(t for spec in specs for t in spec.teachers):
            self.teacher(name)  # trained once, or reused from an earlier run
        for spec in specs:
            self.run_row(spec)
        summary = {
            "scale": asdict(self.settings.scale),
            "rows": [self.results[s.id] for s in specs],
            "teachers": self.teachers,
            "seconds": time.perf_counter() - started,
        }
        srsly.write_json(self.out / "results.json", summary)
        (self.out / "results.md").write_text(results_markdown(summary), encoding="utf8")
        return summary


def _cells(scores: Dict[str, Any]) -> List[str]:
    cells = []
    for key in (*TYPES, "all"):
        s = scores["micro"] if key == "all" else scores["per_type"].get(key, {"p": 0.0, "r": 0.0, "f": 0.0})
        cells += [f"{100 * s['p']:.2f}", f"{100 * s['r']:.2f}", f"{100 * s['f']:.2f}"]
    return cells


def results_markdown(summary: Dict[str, Any]) -> str:
    """Tables 4 and 5 (test P/R/F per type and for all, D F, seconds) and the teachers, as Markdown."""
    header = (
        "| row | Chem P | Chem R | Chem F | Dis P | Dis R | Dis F | all P | all R | all F | D F | seconds |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [f"Scale: {summary['scale']['name']}. Scores on the test set (%); D F = micro F on D.", ""]
    for table, title in ((4, "Table 4: distillation settings"), (5, "Table 5: ablations")):
        rows = [r for r in summary["rows"] if r["table"] == table]
        if not rows:
            continue
        lines += [f"### {title}", "", header]
        for r in rows:
            cells = _cells(r["test"]) + [f"{100 * r['dev']['micro']['f']:.2f}", f"{r['seconds']['total']:.1f}"]
            lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
        lines.append("")
    if summary["teachers"]:
        lines += ["### Teachers (train on the set, fine-tune on T)", "", header]
        for name, t in summary["teachers"].items():
            seconds = "given" if "given" in t.get("stamp", {}) else f"{t['seconds']:.1f}"  # trained elsewhere
            cells = _cells(t["test"]) + [f"{100 * t['dev']['micro']['f']:.2f}", seconds]
            lines.append(f"| T({name.upper()}) | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
