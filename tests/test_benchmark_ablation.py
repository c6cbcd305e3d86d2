"""benchmarks/ablation.py at a tiny scale: rows train, score on test, print the table, and are reused on a rerun."""

import json
from pathlib import Path

import pytest

from spacy_bioner.corpus.docbin import write_docbin
from spacy_bioner.corpus.spacy_docs import docs_from_documents
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.corpus.tokenizer import make_bio_nlp

from script_loader import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "ablation.py"
SAMPLE = Path(__file__).resolve().parent / "fixtures" / "pubtator" / "cdr_sample.PubTator.txt"


def test_ablation_rows_print_the_table_and_are_reused(tmp_path, capsys):
    script = load_script(SCRIPT)
    write_docbin(list(docs_from_documents(make_bio_nlp(), read_pubtator(SAMPLE))), tmp_path / "T.spacy")
    argv = ["--train", str(tmp_path / "T.spacy"), "--dev", str(tmp_path / "T.spacy"), "--test", str(SAMPLE),
            "--rows", "abstracts,chunks64", "--max-epochs", "1", "--jobs", "2", "--output", str(tmp_path / "out"),
            "--json", str(tmp_path / "rows.json")]  # fmt: skip
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "| abstracts | whole abstracts" in out and "| chunks64 | sentence chunks" in out
    rows = json.loads((tmp_path / "rows.json").read_text(encoding="utf8"))
    assert [r["row"] for r in rows] == ["abstracts", "chunks64"]
    assert all(0.0 <= r["test_f"] <= 1.0 and r["seconds"] > 0 and r["steps"] is not None for r in rows)
    configs = {r: (tmp_path / "out" / r / "config.cfg").read_text(encoding="utf8") for r in ("abstracts", "chunks64")}
    assert "spacy.batch_by_sequence.v1" in configs["abstracts"] and "sentence_chunks" not in configs["abstracts"]
    assert "spacy.batch_by_padded.v1" in configs["chunks64"] and "sentence_chunks" in configs["chunks64"]
    (tmp_path / "out" / "abstracts" / "model").rename(tmp_path / "moved")  # a rerun reads row.json, trains nothing
    assert script.main(argv) == 0 and not (tmp_path / "out" / "abstracts" / "model").exists()
    with pytest.raises(SystemExit):
        script.main(argv[:6] + ["--rows", "nonsense"])


def test_dictionary_row_reads_the_features_file(tmp_path, capsys):
    from spacy_bioner.models.dictionary_features import write_features_file
    from spacy_bioner.weak.dictionary import PRIORITY_VOCABULARY, DictionaryLabeller

    script = load_script(SCRIPT)
    write_docbin(list(docs_from_documents(make_bio_nlp(), read_pubtator(SAMPLE))), tmp_path / "T.spacy")
    argv = ["--train", str(tmp_path / "T.spacy"), "--dev", str(tmp_path / "T.spacy"), "--test", str(SAMPLE),
            "--rows", "chunks64-4k-dict", "--max-epochs", "1", "--jobs", "1", "--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit):
        script.main(argv)
    assert "need --dictionary" in capsys.readouterr().err
    labeller = DictionaryLabeller()
    labeller.add_term("lithium", "Chemical", "D008094", PRIORITY_VOCABULARY)
    write_features_file(labeller.build().to_state(), tmp_path / "cdr.dict")
    assert script.main(argv + ["--dictionary", str(tmp_path / "cdr.dict")]) == 0
    assert "| chunks64-4k-dict | chunks64-4k + dictionary features" in capsys.readouterr().out
    config = (tmp_path / "out" / "chunks64-4k-dict" / "config.cfg").read_text(encoding="utf8")
    assert "spacy_bioner.BiLSTMCRF.v3" in config


def test_pretrained_row_starts_from_the_encoder_file(tmp_path, capsys):
    """chunks64-4k-dict-pretrained needs --pretrained and trains from its weights."""
    import spacy
    from spacy.training.initialize import init_nlp

    from spacy_bioner.models.dictionary_features import write_features_file
    from spacy_bioner.models.pretrained import bilstm_module, save_encoder
    from spacy_bioner.weak.dictionary import PRIORITY_VOCABULARY, DictionaryLabeller

    script = load_script(SCRIPT)
    write_docbin(list(docs_from_documents(make_bio_nlp(), read_pubtator(SAMPLE))), tmp_path / "T.spacy")
    labeller = DictionaryLabeller()
    labeller.add_term("lithium", "Chemical", "D008094", PRIORITY_VOCABULARY)
    write_features_file(labeller.build().to_state(), tmp_path / "cdr.dict")
    argv = ["--train", str(tmp_path / "T.spacy"), "--dev", str(tmp_path / "T.spacy"), "--test", str(SAMPLE),
            "--rows", "chunks64-4k-dict-pretrained", "--max-epochs", "1", "--jobs", "1", "--output",
            str(tmp_path / "out"), "--dictionary", str(tmp_path / "cdr.dict")]
    with pytest.raises(SystemExit):
        script.main(argv)
    assert "need --pretrained" in capsys.readouterr().err
    # an encoder of the row's own architecture (no vectors here: hashed words)
    config = script.row_config(script.ROOT / "configs" / "bilstm_crf.cfg", script.ROWS["chunks64-4k-dict-pretrained"][2],
                               tmp_path / "row.cfg")
    cfg = spacy.util.load_config(config, overrides={"paths.train": str(tmp_path / "T.spacy"), "paths.dev": str(tmp_path / "T.spacy"),
                                                    "initialize.components.bioner.dictionary": str(tmp_path / "cdr.dict")})
    module = bilstm_module(init_nlp(cfg).get_pipe("bioner").model)
    save_encoder(module, tmp_path / "encoder.pt")
    assert script.main(argv + ["--pretrained", str(tmp_path / "encoder.pt")]) == 0
    assert "| chunks64-4k-dict-pretrained | chunks64-4k-dict, encoder initialised by BiLM" in capsys.readouterr().out
    trained = spacy.load(tmp_path / "out" / "chunks64-4k-dict-pretrained" / "model" / "model-best")
    assert trained.config["initialize"]["components"]["bioner"]["pretrained"] == str(tmp_path / "encoder.pt")
