"""The CRF kind: the Keras graph computes the fit's emissions, the fit is CRFsuite's (its marginals), and a
run through the engine fits it once, tags with its transitions and keeps them through save and load."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from data.bio_decoding import chain_log_marginals
from data.conll import load_conll
from data.errors import DataError
from data.token_alignment import align_words
from data.tokenizers import WordFeatureTokenizer
from data.tokenizers.word_features import SLOTS
from models.architecture.builders import backbone_kind, build_model, get_backbone
from models.architecture.crf import OFFSETS
from models.config import ModelConfig, RunConfig
from models.engine.crf_fit import _set_weights, allowed_ids
from models.engine.crfsuite_grid import Windows, attributes, emissions, fit_chain
from tests.conftest import make_names_conll


def _windows(tmp_path: Path, sentences: int = 60) -> tuple[WordFeatureTokenizer, Windows, list[str]]:
    data = load_conll(make_names_conll(tmp_path / "names.conll", sentences=sentences))
    tokenizer = WordFeatureTokenizer.train([" ".join(s) for s in data.sentences], slots=SLOTS)
    index = {tag: i for i, tag in enumerate(data.tag_set)}
    tag_ids = [[index[t] for t in tags] for tags in data.tags]
    aligned = align_words(tokenizer, data.sentences, tag_ids, seq_len=1 + len(SLOTS) * 12)
    allowed = allowed_ids(tokenizer)
    w = Windows(aligned.ids, aligned.weights, aligned.labels, allowed, OFFSETS, len(SLOTS))
    return tokenizer, w, list(data.tag_set)


def test_each_word_reads_its_own_features_and_its_neighbours_chosen_slots(tmp_path: Path):
    tokenizer, w, _ = _windows(tmp_path)
    words = attributes(w, 0)
    first = {a.split(":")[0] for a in words[0]} - {"b"}
    assert first == {"-1", "0", "1", "2"}  # [BOS] on its left, two words on its right
    assert [a for a in words[0] if a.startswith("-1:")] == ["-1:2"]  # [BOS] is id 2
    assert [a for a in words[1] if a.startswith("-2:")] == ["-2:2"]  # the second word: [BOS] two away
    slot_of = {i: t.split(":")[0] for i, t in enumerate(tokenizer.vocabulary)}
    own = [slot_of[int(a[2:])] for a in words[1] if a.startswith("0:")]
    assert sorted(own) == sorted(SLOTS)
    next_door = {slot_of[int(a.split(":")[1])] for a in words[1] if a.startswith("1:")}
    assert next_door <= {"w", "x", "s", "b"}


@pytest.mark.backend
def test_the_keras_graph_computes_the_fits_emissions_and_crfsuite_its_marginals(tmp_path: Path):
    import pycrfsuite

    tokenizer, w, tags = _windows(tmp_path)
    rows = list(range(len(w.ids)))
    fit = fit_chain(w, rows, 0.05, 0.05, len(tags), 50)
    cfg = ModelConfig(
        kind="crf", vocab_size=tokenizer.vocab_size, num_classes=len(tags), seq_len=w.ids.shape[1]
    )
    cfg.tokens_per_word = len(SLOTS)
    model = build_model(cfg, "token_classifier")
    assert backbone_kind(get_backbone(model)) == "crf"
    _set_weights(model, fit, 1.5)
    logits = np.asarray(model.predict(w.ids, verbose=0))
    for row in rows[:10]:
        ours = emissions(w, row, fit)
        np.testing.assert_allclose(logits[row][w.weights[row] > 0], ours, rtol=1e-4, atol=1e-4)
    # The same data and settings through CRFsuite itself: its marginals are ours from the copied tables.
    trainer = pycrfsuite.Trainer(verbose=False)
    for row in rows:
        trainer.append(attributes(w, row), [str(t) for t in w.labels[row][w.weights[row] > 0]])
    trainer.set_params({"c1": 0.05, "c2": 0.05, "max_iterations": 50})
    trainer.train(str(tmp_path / "m.crfsuite"))
    tagger = pycrfsuite.Tagger()
    tagger.open(str(tmp_path / "m.crfsuite"))
    for row in rows[:5]:
        tagger.set(attributes(w, row))
        theirs = np.array(
            [[tagger.marginal(str(k), i) for k in range(len(tags))] for i in range(int(w.weights[row].sum()))]
        )
        ours = np.exp(chain_log_marginals(emissions(w, row, fit), fit.transitions))
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_the_crf_is_for_taggers_and_reads_word_features_only(tmp_path: Path):
    with pytest.raises(DataError, match="tags each word"):
        build_model(ModelConfig(kind="crf", vocab_size=50, num_classes=3), "classifier")
    config = RunConfig(task="token_classifier", workspace=str(tmp_path / "ws"), name="crf-char")
    config.data.path = str(make_names_conll(tmp_path / "names.conll", sentences=80))
    config.model.kind, config.tokenizer.kind, config.train.epochs = "crf", "char", 1
    from models.engine.train import train

    with pytest.raises(DataError, match="word_features tokenizer"):
        train(config)
    (run,) = (tmp_path / "ws" / "runs").iterdir()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed" and "reads word features" in status["message"], status


@pytest.mark.backend
def test_a_crf_run_fits_once_and_tags_with_its_transitions_after_a_reload(tmp_path: Path):
    from models.engine.inference import load_run, tag
    from models.engine.recipe import choose
    from models.engine.train import train

    config = RunConfig(
        task="token_classifier", backend=keras.backend.backend(), workspace=str(tmp_path / "ws")
    )
    config.data.path = str(make_names_conll(tmp_path / "names.conll", sentences=200))
    run = train(choose(config))  # the recipe: the CRF on eleven word features
    assert run.status()["state"] == "completed", run.status()
    assert run.config().model.kind == "crf" and run.config().model.tokens_per_word == len(SLOTS)
    (epoch,) = [json.loads(line) for line in run.metrics_path.read_text().splitlines() if '"epoch"' in line]
    assert (
        epoch["outside_bias"] in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0) and 0.0 <= epoch["cv_entity_f1"] <= 1.0
    )
    report = json.loads(run.eval_path.read_text())
    assert report["entity_f1"] > 0.9, report
    loaded = load_run(run)  # from model.keras: the transitions and the shift came back with it
    chain = get_backbone(loaded.model).get_layer("tag_chain")
    assert np.abs(np.asarray(chain.transitions)).sum() > 0
    assert float(np.asarray(chain.outside_bias)) == epoch["outside_bias"]
    tagged = dict(tag(loaded, "we saw Hana Larsen in Riga"))
    assert tagged["Hana"] == "B-person" and tagged["Larsen"] == "I-person" and tagged["Riga"] == "B-place"
