"""CLI commands: recorrect, teacher, distill, similarity, experiments (METHOD.md sections 3 and 4).

Config overrides are ``KEY=VALUE`` pairs (``training.max_steps=100``), given as one
space-separated string or by repeating the option; values are read as JSON when they parse,
else as strings, as ``spacy train`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import srsly
import typer

from ..corpus.document import Document
from ._app import app
from ._helpers import fail, parse_type_map, read_gold, require_path, setup_gpu


def parse_overrides(values: Optional[List[str]], option: str = "--overrides") -> Dict[str, Any]:
    """``["training.max_steps=10 training.eval_frequency=5"]`` -> ``{"training.max_steps": 10, ...}``."""
    out: Dict[str, Any] = {}
    for value in values or []:
        for pair in value.split():
            key, sep, raw = pair.partition("=")
            if not sep or not key or "." not in key:
                raise typer.BadParameter(f"{pair!r} is not SECTION.KEY=VALUE", param_hint=option)
            try:
                out[key] = srsly.json_loads(raw)
            except ValueError:
                out[key] = raw
    return out


def _gold(path: Optional[Path], type_map: Optional[str]) -> Optional[List[Document]]:
    if path is None:
        return None
    require_path(path, "gold file", file=False)
    return read_gold(path, parse_type_map(type_map))


@app.command("recorrect")
def recorrect_command(
    weak: Path = typer.Argument(..., help="Weak set L (DocBin .spacy)."),
    train: Path = typer.Option(..., "--train", help="Gold training data T (DocBin)."),
    dev: Path = typer.Option(..., "--dev", help="Gold development data D (DocBin), for spacy train."),
    dev_gold: Path = typer.Option(..., "--dev-gold", help="D as PubTator: the stopping criterion (mention-level F)."),
    test_gold: Optional[Path] = typer.Option(None, "--test-gold", help="Test set as PubTator: scored per round, for the record."),
    config: Path = typer.Option(..., "--config", "-c", help="spaCy training config of the correction model."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for rounds, state.json, rounds.md/json, best.spacy."),
    max_rounds: int = typer.Option(3, "--max-rounds", min=1, help="Most rounds; fewer when D's F stops rising."),
    weak_overrides: Optional[List[str]] = typer.Option(None, "--weak-overrides", help="Config overrides for training on L."),
    finetune_overrides: Optional[List[str]] = typer.Option(None, "--finetune-overrides", help="Config overrides for fine-tuning on T."),
    component: Optional[str] = typer.Option(None, "--component", help="The bioner_crf component (default: the config's only one)."),
    type_map: Optional[str] = typer.Option(None, "--type-map", help="Rename gold types: 'ncbi' or FROM=TO,..."),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to train on; -1 for CPU."),
) -> None:
    """Label re-correction: train C on L, fine-tune on T, relabel L, repeat while F on D rises."""
    from ..training.teachers import crf_component_name
    from ..training.experiments import srsly_config
    from ..training.recorrect import recorrect

    for path, what in ((weak, "weak set"), (train, "train set"), (dev, "dev set"), (config, "config")):
        require_path(path, what, file=False)
    overrides_w = parse_overrides(weak_overrides, "--weak-overrides")
    overrides_f = parse_overrides(finetune_overrides, "--finetune-overrides")
    try:
        name = crf_component_name(srsly_config(config), component)
    except ValueError as err:
        fail(f"{config}: {err}")
    setup_gpu(gpu_id)
    try:
        run = recorrect(
            weak, train, dev, _gold(dev_gold, type_map), output, config,
            test_gold=_gold(test_gold, type_map), max_rounds=max_rounds, component=name,
            weak_overrides=overrides_w, finetune_overrides=overrides_f, gpu_id=gpu_id, log=typer.echo,
        )  # fmt: skip
    except ValueError as err:
        fail(str(err))
    typer.echo((output / "rounds.md").read_text(encoding="utf8"))
    typer.echo(f"best round {run.best.round if run.best else '-'}; wrote {output / 'best.spacy'}")


@app.command("teacher")
def teacher_command(
    weak: Path = typer.Argument(..., help="Large set to train on (e.g. CDRC as DocBin)."),
    train: Path = typer.Option(..., "--train", help="Gold training data T (DocBin) to fine-tune on."),
    dev: Path = typer.Option(..., "--dev", help="Gold development data D (DocBin)."),
    config: Path = typer.Option(..., "--config", "-c", help="spaCy training config."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder; the teacher is OUTPUT/finetuned/model-best."),
    weak_overrides: Optional[List[str]] = typer.Option(None, "--weak-overrides", help="Config overrides for training on WEAK."),
    finetune_overrides: Optional[List[str]] = typer.Option(None, "--finetune-overrides", help="Config overrides for fine-tuning on T."),
    component: Optional[str] = typer.Option(None, "--component", help="The bioner_crf component (default: the config's only one)."),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to train on; -1 for CPU."),
) -> None:
    """Train a teacher: train on WEAK, then fine-tune on T (the same recipe as a correction model)."""
    from ..training.experiments import train_then_finetune

    for path, what in ((weak, "weak set"), (train, "train set"), (dev, "dev set"), (config, "config")):
        require_path(path, what, file=False)
    setup_gpu(gpu_id)
    try:
        model = train_then_finetune(
            config, weak, train, dev, output, weak_overrides=parse_overrides(weak_overrides, "--weak-overrides"),
            finetune_overrides=parse_overrides(finetune_overrides, "--finetune-overrides"),
            component=component, gpu_id=gpu_id,
        )  # fmt: skip
    except ValueError as err:
        fail(str(err))
    typer.echo(f"teacher: {model}")


@app.command("distill")
def distill_command(
    teachers: List[Path] = typer.Option(..., "--teacher", "-t", help="Trained teacher pipeline (repeat for several)."),
    data: List[Path] = typer.Option(..., "--data", help="DocBin of texts to distil over (repeat for several)."),
    config: Path = typer.Option(..., "--config", "-c", help="spaCy training config of the student."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for model-best, model-last, distill.json."),
    distance: str = typer.Option("none", "--distance", help="Soft-label distance: l1, l2, kd or none."),
    weight: float = typer.Option(1.0, "--weight", "-w", min=0.0, help="Weight w of the soft-label term."),
    temperature: float = typer.Option(2.0, "--temperature", help="KD temperature t."),
    hard: bool = typer.Option(True, "--hard/--no-hard", help="CRF loss on each teacher's Viterbi path."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs (default: [training] max_epochs, else 10)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=0, help="Stop after this many updates (default: [training] max_steps)."),
    patience: int = typer.Option(0, "--patience", min=0, help="Stop after this many epochs without dev improvement (0: never)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Documents per data file (default: all)."),
    epoch_docs: Optional[int] = typer.Option(None, "--epoch-docs", min=1, help="Distillation documents per epoch (default: all)."),
    mix_gold: Optional[List[Path]] = typer.Option(None, "--mix-gold", help="Gold DocBin (T) whose batches join every epoch, on gold tags."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache teacher outputs here, in .npy shards."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1, help="Documents per cache shard."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Gold D as DocBin (for the config's dev corpus)."),
    dev_gold: Optional[Path] = typer.Option(None, "--dev-gold", help="Gold D as PubTator: model selection per epoch."),
    overrides: Optional[List[str]] = typer.Option(None, "--overrides", help="Student config overrides (e.g. a smaller model)."),
    finetune_train: Optional[Path] = typer.Option(None, "--finetune", help="Afterwards fine-tune the student on this gold DocBin (T)."),
    finetune_overrides: Optional[List[str]] = typer.Option(None, "--finetune-overrides", help="Config overrides for that fine-tuning."),
    component: Optional[str] = typer.Option(None, "--component", help="The student's bioner_crf component."),
    type_map: Optional[str] = typer.Option(None, "--type-map", help="Rename gold types: 'ncbi' or FROM=TO,..."),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to train on; -1 for CPU."),
) -> None:
    """Distil one or more frozen teachers into a student built from CONFIG."""
    from ..training.distill import DistillSettings, distill

    for path in teachers:
        require_path(path, "teacher", file=False)
    for path in data:
        require_path(path, "data file", file=False)
    for path in mix_gold or []:
        require_path(path, "gold file", file=False)
    require_path(config, "config", file=False)
    require_path(dev, "dev set", file=False)
    if finetune_train is not None and dev is None:
        fail("--finetune needs --dev (spacy train's dev corpus)")
    settings = DistillSettings(
        distance=distance, weight=weight, temperature=temperature, hard=hard, epochs=epochs,
        max_steps=max_steps, patience=patience, shard_size=shard_size, limit=limit, epoch_docs=epoch_docs,
    )  # fmt: skip
    try:
        settings.check()
    except ValueError as err:
        fail(str(err))
    gold = _gold(dev_gold, type_map)
    setup_gpu(gpu_id)
    try:
        result = distill(
            teachers, data, config, output, settings, overrides=parse_overrides(overrides),
            dev=dev, dev_gold=gold, cache_dir=cache_dir, gold=mix_gold or None, gpu_id=gpu_id, component=component,
            progress=True, log=typer.echo,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(f"student: {result.model_best} (best epoch {result.best_epoch}); log {output / 'distill.json'}")
    if finetune_train is not None:
        from ..training.experiments import finetune

        assert dev is not None
        name = component or _student_component(Path(result.model_best))
        model = finetune(
            config, Path(result.model_best), finetune_train, dev, output / "finetuned", name,
            parse_overrides(finetune_overrides, "--finetune-overrides"), gpu_id,
        )  # fmt: skip
        typer.echo(f"fine-tuned student: {model}")


def _student_component(model: Path) -> str:
    from ..training.teachers import crf_component_name
    from ..training.experiments import srsly_config

    return crf_component_name(srsly_config(model / "config.cfg"))


@app.command("similarity")
def similarity_command(
    teachers: List[Path] = typer.Option(..., "--teacher", "-t", help="Two teacher pipelines (Tc, then Ta)."),
    data: List[Path] = typer.Option(..., "--data", help="DocBin of abstracts (repeat for several)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for similarity.json and similarity.png."),
    bins: int = typer.Option(20, "--bins", min=1, help="Histogram bins over [0, 1]."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Documents per data file (default: all)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Teacher output cache (shared with distill)."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1, help="Documents per cache shard."),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to run on; -1 for CPU."),
) -> None:
    """Label similarity of two teachers per abstract, and its histogram (the paper's Fig. 3)."""
    from ..training.similarity import teacher_similarity

    if len(teachers) != 2:
        raise typer.BadParameter(f"give exactly two teachers, got {len(teachers)}", param_hint="--teacher")
    for path in list(teachers) + list(data):
        require_path(path, "input", file=False)
    try:
        result = teacher_similarity(
            teachers, data, output, cache_dir=cache_dir, shard_size=shard_size, bins=bins, limit=limit, gpu_id=gpu_id
        )
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(
        f"{result['documents']} abstracts: mean similarity {result['mean']:.4f}, median {result['median']:.4f}, "
        f"{result['identical_documents']} identical; token agreement {result['token_agreement']:.4f}"
    )
    typer.echo(f"wrote {output / 'similarity.json'}, {output / 'similarity.png'}")


@app.command("experiments")
def experiments_command(
    cdrc: Path = typer.Option(..., "--cdrc", help="Re-corrected coverage set CDRC (DocBin)."),
    cdra: Path = typer.Option(..., "--cdra", help="Re-corrected accuracy set CDRA (DocBin)."),
    cdwc: Path = typer.Option(..., "--cdwc", help="Weak coverage set CDWC (DocBin)."),
    cdwa: Path = typer.Option(..., "--cdwa", help="Weak accuracy set CDWA (DocBin)."),
    train: Path = typer.Option(..., "--train", help="Gold T (DocBin)."),
    dev: Path = typer.Option(..., "--dev", help="Gold D (DocBin)."),
    dev_gold: Path = typer.Option(..., "--dev-gold", help="Gold D (PubTator)."),
    test_gold: Path = typer.Option(..., "--test-gold", help="Gold test set (PubTator)."),
    config: Path = typer.Option(..., "--config", "-c", help="spaCy training config (teachers and students)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for teachers, rows, results.json/md."),
    scale: str = typer.Option("full", "--scale", help="tiny, small or full (steps, epochs, document limits)."),
    rows: Optional[str] = typer.Option(None, "--rows", help="Comma-separated row ids (default: all)."),
    unlabeled: Optional[List[Path]] = typer.Option(None, "--unlabeled", help="Unlabelled abstracts (DocBin) for row t4_unlabeled."),
    weight: float = typer.Option(1.0, "--weight", min=0.0, help="Soft-label weight w."),
    temperature: float = typer.Option(2.0, "--temperature", help="KD temperature t."),
    ablation_distance: str = typer.Option("auto", "--ablation-distance", help="Distance of Table 5 rows: auto (best on D), none, l1, l2, kd."),
    student_overrides: Optional[List[str]] = typer.Option(None, "--student-overrides", help="Config overrides for students."),
    weak_overrides: Optional[List[str]] = typer.Option(None, "--weak-overrides", help="Overrides for training on large sets."),
    finetune_overrides: Optional[List[str]] = typer.Option(None, "--finetune-overrides", help="Overrides for fine-tuning on T."),
    student_finetune_overrides: Optional[List[str]] = typer.Option(None, "--student-finetune-overrides", help="Overrides for the students' (and the union row's) fine-tuning on T (default: --finetune-overrides)."),
    teacher_model: Optional[List[str]] = typer.Option(None, "--teacher-model", help="SET=MODEL: use this trained teacher for cdrc, cdra, cdwc or cdwa instead of training one."),
    finetune_student: bool = typer.Option(True, "--finetune-student/--no-finetune-student", help="Fine-tune students on T."),
    large_batch: int = typer.Option(32, "--large-batch", min=0, help="Batch size on the large sets (batch_by_sequence configs; 0: the config's)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Override the scale's spacy-train max_steps (both stages)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Override the scale's documents per large set."),
    distill_epochs: Optional[int] = typer.Option(None, "--distill-epochs", min=1, help="Override the scale's distillation epochs."),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to train on; -1 for CPU."),
) -> None:
    """Tables 4 and 5: students with and without distillation, and the re-correction ablations."""
    from dataclasses import replace

    from ..training.experiments import SCALES, ExperimentData, Experiments, ExperimentSettings

    if scale not in SCALES:
        raise typer.BadParameter(f"unknown scale {scale!r}: use {', '.join(SCALES)}", param_hint="--scale")
    chosen = SCALES[scale]
    if max_steps is not None:
        chosen = replace(
            chosen,
            weak_overrides={**chosen.weak_overrides, "training.max_steps": max_steps},
            finetune_overrides={**chosen.finetune_overrides, "training.max_steps": max_steps},
        )
    if limit is not None:
        chosen = replace(chosen, limit_weak=limit)
    if distill_epochs is not None:
        chosen = replace(chosen, distill_epochs=distill_epochs)
    data = ExperimentData(cdrc, cdra, cdwc, cdwa, train, dev, dev_gold, test_gold, list(unlabeled or []))
    teacher_models: Dict[str, Path] = {}
    for value in teacher_model or []:
        name, sep, model = value.partition("=")
        if not sep or not name or not model:
            raise typer.BadParameter(f"{value!r} is not SET=MODEL", param_hint="--teacher-model")
        teacher_models[name.strip().lower()] = Path(model)
    settings = ExperimentSettings(
        config=config, output=output, scale=chosen,
        rows=[r.strip() for r in rows.split(",") if r.strip()] if rows else None,
        weight=weight, temperature=temperature, ablation_distance=ablation_distance,
        student_overrides=parse_overrides(student_overrides, "--student-overrides"),
        weak_overrides=parse_overrides(weak_overrides, "--weak-overrides"),
        finetune_overrides=parse_overrides(finetune_overrides, "--finetune-overrides"),
        student_finetune_overrides=(
            parse_overrides(student_finetune_overrides, "--student-finetune-overrides") if student_finetune_overrides else None
        ),
        teacher_models=teacher_models, finetune_student=finetune_student, large_batch_size=large_batch or None, gpu_id=gpu_id,
    )  # fmt: skip
    setup_gpu(gpu_id)
    try:
        summary = Experiments(data, settings, log=typer.echo).run()
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    from ..training.experiments import results_markdown

    typer.echo(results_markdown(summary))
    typer.echo(f"wrote {output / 'results.json'}, {output / 'results.md'}")


@app.command("best-of")
def best_of_command(
    output: Path = typer.Argument(..., help="Output folder of `spacy train` (with model-best and model-last)."),
    dev: Path = typer.Argument(..., help="The dev DocBin that `spacy train` selected on."),
) -> None:
    """Make model-last the model-best when it scores higher on DEV (spaCy never evaluates the
    updates after its last eval_frequency step)."""
    from ..training.spacy_train import promote_last_if_better

    require_path(output / "model-last", "model-last", file=False)
    require_path(dev, "dev set", file=False)
    record = promote_last_if_better(output, dev)
    typer.echo(f"model-best {record['model_best_score']:.4f}, model-last {record['model_last_score']:.4f}: "
               + ("model-last promoted to model-best" if record["promoted_model_last"] else "model-best kept"))


@app.command("pretrain")
def pretrain_command(
    inputs: List[Path] = typer.Argument(..., help="PubTator files (.gz too) whose abstracts are the training text."),
    exclude: List[Path] = typer.Option([], "--exclude", help="PubTator files whose PMIDs are left out (the test sets)."),
    config: Path = typer.Option(..., "--config", "-c", help="spaCy training config of the BiLSTM-CRF to pretrain for."),
    train: Path = typer.Option(..., "--train", help="Gold DocBin (T) that initialises the pipeline (labels, as spacy train)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for encoder.pt, pretrain.json and the per-epoch checkpoint."),
    overrides: Optional[List[str]] = typer.Option(None, "--overrides", help="Config overrides (paths.vectors=..., paths.dictionary=...)."),
    epochs: int = typer.Option(1, "--epochs", min=1, help="Passes over the abstracts."),
    batch_tokens: int = typer.Option(4000, "--batch-tokens", min=1, help="Padded token positions per step."),
    learn_rate: float = typer.Option(1e-3, "--learn-rate", min=0.0, help="Adam's learning rate."),
    seed: int = typer.Option(0, "--seed", help="Shuffling, dropout and the held-out draw."),
    limit: int = typer.Option(0, "--limit", min=0, help="Use only the first N abstracts (0: all)."),
    held_out: int = typer.Option(200, "--held-out", min=0, help="Abstracts kept out of training, for the held-out loss."),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to train on; -1 for CPU."),
) -> None:
    """BiLM pretraining of a BiLSTM-CRF's encoder on unlabelled abstracts: OUTPUT/encoder.pt,
    which `[initialize.components.NAME] pretrained` loads before training."""
    from spacy.training.initialize import init_nlp
    from spacy.util import load_config
    from thinc.api import fix_random_seed

    from ..training.pretrain import PretrainSettings, docs_from_texts, pretrain, split_held_out
    from ..vectors import iter_texts, pmids_of

    for path in [*inputs, *exclude]:
        require_path(path, "PubTator file")
    require_path(config, "config")
    require_path(train, "train set", file=False)
    if output.exists() and not output.is_dir():
        fail(f"--output {output} is a file, not a folder")
    paths = {"paths.train": str(train), "paths.dev": str(train)}
    cfg = load_config(config, overrides={**paths, **parse_overrides(overrides)}, interpolate=False)
    setup_gpu(gpu_id)
    fix_random_seed(seed)
    try:
        nlp = init_nlp(cfg, use_gpu=gpu_id)
    except ValueError as err:
        fail(f"{config}: {err}")
    stats: dict = {}
    texts = list(iter_texts(inputs, pmids_of(exclude), stats, limit))
    try:
        docs, held = split_held_out(docs_from_texts(nlp, texts), held_out, seed)
    except ValueError as err:
        fail(str(err))
    typer.echo(f"{len(docs)} abstracts ({sum(len(d) for d in docs):,} tokens) to train on, {len(held)} held out; "
               f"excluded {stats.get('excluded', 0)} test abstracts, {stats.get('duplicates', 0)} duplicates")
    settings = PretrainSettings(epochs=epochs, batch_tokens=batch_tokens, learn_rate=learn_rate, seed=seed)
    try:
        result = pretrain(nlp, docs, output, settings, held_out=held, log=typer.echo)
    except ValueError as err:
        fail(str(err))
    last = result["history"][-1]
    typer.echo(f"wrote {output / 'encoder.pt'} (held-out loss {result['history'][0]['held_out_loss']} -> {last['held_out_loss']})")
