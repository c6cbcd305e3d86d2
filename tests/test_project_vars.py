"""project.yml: vars that change what a step reads also change its deps, so a rerun notices."""

from __future__ import annotations

from pathlib import Path

from spacy.cli.project.run import load_project_config

ROOT = Path(__file__).resolve().parents[1]


def _commands(**overrides: str) -> dict:
    config = load_project_config(ROOT, overrides={f"vars.{k}": v for k, v in overrides.items()})
    return {command["name"]: command for command in config["commands"]}


def test_distill_data_is_read_and_tracked_by_distill_and_similarity() -> None:
    default = _commands()
    larger = _commands(distill_data="weak/cdr/CDWC.spacy")
    for name in ("distill", "similarity"):
        assert "--data weak/cdr/cdwc.sample.spacy" in " ".join(default[name]["script"])
        assert "weak/cdr/cdwc.sample.spacy" in default[name]["deps"]
        assert "--data weak/cdr/CDWC.spacy" in " ".join(larger[name]["script"])
        assert "weak/cdr/CDWC.spacy" in larger[name]["deps"]
        assert "weak/cdr/cdwc.sample.spacy" not in larger[name]["deps"]


def test_student_mixed_reads_t_and_the_mixed_data() -> None:
    default = _commands()["distill-mixed"]
    script = " ".join(default["script"])
    assert "--mix-gold corpus/cdr/T.spacy" in script and "--epoch-docs 500" in script
    assert "--data weak/cdr/CDWC.spacy" in script and "--finetune" not in script
    assert "--distance kd" in script and "--epochs 40" in script and "--patience 8" in script
    assert {"corpus/cdr/T.spacy", "weak/cdr/CDWC.spacy"} <= set(default["deps"])
    smaller = _commands(mixed_data="weak/cdr/cdwc.sample.spacy")["distill-mixed"]
    assert "--data weak/cdr/cdwc.sample.spacy" in " ".join(smaller["script"])
    assert "weak/cdr/cdwc.sample.spacy" in smaller["deps"] and "weak/cdr/CDWC.spacy" not in smaller["deps"]


def test_all_ships_the_t_mixed_student() -> None:
    config = load_project_config(ROOT)
    commands = {command["name"]: command for command in config["commands"]}
    all_steps = config["workflows"]["all"]
    assert "distill-mixed" in all_steps and "distill" not in all_steps
    assert all_steps.index("distill-mixed") < all_steps.index("evaluate-student-mixed") < all_steps.index("package")
    assert set(all_steps) <= set(config["workflows"]["smoke"])
    package = commands["package"]
    assert {"training/student-mixed/model-best", "metrics/student-mixed/metrics.json"} <= set(package["deps"])
    ncbi = commands["ncbi-distill"]
    assert "--mix-gold corpus/ncbi/T.spacy" in " ".join(ncbi["script"]) and "weak/ncbi/CDWC.spacy" in ncbi["deps"]
    assets = {asset["dest"] for asset in config["assets"]}
    for workflow in ("all", "ncbi"):  # every input of a step is an asset, a config or made by an earlier step
        steps = config["workflows"][workflow]
        for step in steps:
            made = {out for name in steps[: steps.index(step)] for out in commands[name].get("outputs", [])}
            for dep in commands[step].get("deps", []):
                assert dep in made or dep in assets or dep.startswith("configs/"), (workflow, step, dep)


def test_side_by_side_steps_run_each_inner_command_on_its_own_inputs() -> None:
    import shlex

    commands = _commands(jobs="1")
    for name, program, sets in (
        ("recorrect", "recorrect", ("weak/cdr/cdwc.sample.spacy", "weak/cdr/cdwa.sample.spacy")),
        ("teachers", "teacher", ("training/recorrect/cdwc/best.spacy", "training/recorrect/cdwa/best.spacy")),
        ("ncbi-recorrect", "recorrect", ("weak/ncbi/dwc.sample.spacy", "weak/ncbi/dwa.sample.spacy")),
        ("ncbi-teachers", "teacher", ("training/ncbi/recorrect/dwc/best.spacy", "training/ncbi/recorrect/dwa/best.spacy")),
    ):
        command = commands[name]
        (line,) = command["script"]
        argv = shlex.split(line)
        assert argv[:6] == ["python", "-m", "spacy_bioner", "parallel", "--jobs", "1"]
        inner = [shlex.split(text) for text in argv[6:]]
        assert [args[:5] for args in inner] == [["python", "-m", "spacy_bioner", program, path] for path in sets]
        for args in inner:
            assert args[4] in command["deps"]
            output = args[args.index("--output") + 1]
            assert any(out.startswith(output + "/") for out in command["outputs"])
            overrides = args[args.index("--weak-overrides") + 1]
            assert "training.batcher.size=4000" in overrides and "paths.vectors=vectors/w2v" in overrides
        if program == "recorrect":  # the teachers' vectors are their re-corrected sets' deps already
            assert "vectors/w2v" in command["deps"]


def _option_values(argv: list, option: str) -> list:
    """The values after ``option`` up to the next ``--`` option."""
    start = argv.index(option) + 1
    end = next((i for i in range(start, len(argv)) if argv[i].startswith("--")), len(argv))
    return argv[start:end]


def test_weak_text_labels_every_unlabeled_asset_and_keeps_every_gold_file_out() -> None:
    import shlex

    config = load_project_config(ROOT)
    commands = {command["name"]: command for command in config["commands"]}
    (line,) = commands["weak-text"]["script"]
    argv = shlex.split(line)
    unlabeled = {a["dest"] for a in config["assets"] if a["dest"].startswith("assets/unlabeled/")
                 and a["dest"].endswith(".PubTator.gz")}
    assert len(unlabeled) == 20
    assert set(_option_values(argv, "--dictionary-unlabeled")) == unlabeled
    gold = {a["dest"] for a in config["assets"] if a["dest"].startswith(("assets/cdr/CDR_", "assets/ncbi_disease/NCBI"))
            and a["dest"].endswith((".PubTator.txt", "_corpus.txt"))}
    assert len(gold) == 6 and set(_option_values(argv, "--gold")) == gold
    # the same PubTator files as the `weak` step, so its CDWC abstracts are all in this one
    weak = shlex.split(commands["weak"]["script"][0])
    assert _option_values(argv, "--pubtator") == _option_values(weak, "--pubtator")
    assert "weak/cdr-text/CDWC.spacy" in commands["weak-text"]["outputs"]
