"""The trf extra: registering the transformer architecture imports no transformer library, and a
transformer pipeline without the extra fails naming `pip install "spacy_bioner[trf]"`. Each check
runs in a new interpreter, the extra's import made to fail there (the dev setup installs it)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spacy_bioner.extras import MissingExtraError, require_extra

ROOT = Path(__file__).resolve().parent.parent
BLOCK = "import sys; sys.modules['spacy_transformers'] = None; sys.modules['transformers'] = None\n"
PIP = 'pip install "spacy_bioner[trf]"'


def python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                                                       "PATH": "/usr/bin:/bin"})


def test_registering_the_architectures_imports_no_transformer_library(tmp_path):
    code = ("import json, sys, spacy\n"
            "import spacy_bioner.models.transformer_crf, spacy_bioner.models.bilstm_crf, spacy_bioner.extras\n"
            "import spacy_bioner.pipeline.crf_ner, spacy_bioner.linking.pipe\n"
            "fn = spacy.registry.architectures.get('spacy_bioner.TransformerCRF.v1')\n"
            "print(json.dumps([m for m in ('spacy_transformers', 'transformers', 'sklearn', 'nmslib') if m in sys.modules]))")
    proc = python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == []


@pytest.mark.parametrize("config", ["trf_crf.cfg", "trf_minilm.cfg"])
def test_transformer_pipeline_without_the_extra_names_it(tmp_path, config):
    """spaCy runs the config's before_creation callback before it looks for the transformer factory."""
    code = BLOCK + (
        "from spacy.util import load_config, load_model_from_config\n"
        f"config = load_config({str(ROOT / 'configs' / config)!r}, overrides={{'paths.transformer': '.'}})\n"
        "load_model_from_config(config, auto_fill=True)\n"
    )
    proc = python(code, tmp_path)
    assert proc.returncode != 0
    assert "MissingExtraError" in proc.stderr and PIP in proc.stderr, proc.stderr[-3000:]
    assert "Can't find factory" not in proc.stderr


def test_transformer_architecture_without_the_extra_names_it(tmp_path):
    code = BLOCK + (
        "from thinc.api import noop\n"
        "from spacy_bioner.models.transformer_crf import build_transformer_crf\n"
        "build_transformer_crf(noop())\n"
    )
    proc = python(code, tmp_path)
    assert proc.returncode != 0
    assert "MissingExtraError" in proc.stderr and "spacy_bioner.TransformerCRF.v1" in proc.stderr
    assert PIP in proc.stderr


def test_require_extra_message():
    require_extra("trf", ["json"], "this")  # importable: no error
    with pytest.raises(MissingExtraError, match=r'needs the optional dependencies of spacy_bioner\[x\] .*'
                                                r'pip install "spacy_bioner\[x\]"') as err:
        require_extra("x", ["json", "no_such_module_bioner"], "Feature Y")
    assert isinstance(err.value, ImportError) and "no_such_module_bioner" in str(err.value)
