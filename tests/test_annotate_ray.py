"""The ``annotate --backend ray`` job on a local Ray (2 CPUs): the same bytes as the local backend."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from spacy_bioner.cli import app

from annotate_data import train_crf_model, write_pubmed

ray = pytest.importorskip("ray", reason="the Ray backend needs the ray extra (pip install 'spacy_bioner[ray]')")
runner = CliRunner()


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs, no dashboard, shut down after the module."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def test_ray_backend_writes_the_same_shards_as_the_local_backend(local_ray, tmp_path):
    model = train_crf_model(tmp_path / "model")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for n in range(3):
        write_pubmed(inputs / f"pubmed26n000{n}.xml.gz")
    (inputs / "notes.txt").write_text("\n".join(f"Naloxone {n} reverses the hypotension ." for n in range(20)), "utf-8")
    outs = {}
    for backend in ("local", "ray"):
        out = tmp_path / backend
        args = ["annotate", str(model), str(inputs), "-o", str(out), "--format", "bioc-xml", "--batch-size", "4"]
        result = runner.invoke(app, [*args, "--backend", backend, "--concurrency", "2", "--no-progress"])
        assert result.exit_code == 0, result.output
        assert "annotated 32 documents" in result.output
        outs[backend] = {p.name: p.read_bytes() for p in out.glob("*.BioC.xml")}
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["shards"] == 4 and manifest["totals"]["deleted"] == 6
    assert len(outs["ray"]) == 4 and outs["ray"] == outs["local"]
    # the job left Ray running for the module's fixture (it did not start it, so it did not stop it)
    assert ray.is_initialized()
