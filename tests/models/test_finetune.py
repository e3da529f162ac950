"""Pretrain (masked LM) then fine-tune: backbone loaded, freeze/unfreeze, backbone LR, lineage, NER, errors."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from data.errors import DataError
from data.tokenizers import load_tokenizer
from models.architecture.builders import get_backbone
from models.config import RunConfig
from models.engine import lineage
from models.engine.compile import compile_model
from models.engine.inference import load_run, tag
from models.engine.optimizers import BackboneScaledAdamW
from models.engine.train import resume, train
from models.run_dir import RunDir, list_runs
from models.tasks import prepare
from models.tasks.token_classifier import entity_metrics
from tests.conftest import FILLER, make_corpus, make_sentiment_csv

backend = pytest.mark.backend

PEOPLE = ["john smith", "mary jones", "ali khan", "eva green", "tom ford"]
PLACES = ["paris", "new york", "berlin", "cairo", "san diego"]
TEMPLATES = [
    "{per} flew to {loc} today",
    "we saw {per} in {loc}",
    "{loc} welcomes {per}",
    "the {w} in {loc} was {w}",
    "{per} said the {w} was {w}",
]


def tiny_config(workspace: Path, data: Path, task: str, **train) -> RunConfig:
    config = RunConfig(task=task, backend=keras.backend.backend(), workspace=str(workspace))
    config.data.path = str(data)
    config.tokenizer.kind = "wordpiece"
    config.tokenizer.vocab_size = 200
    config.model.kind = "transformer"
    config.model.preset = None
    config.model.seq_len = 32
    config.model.hidden_dim = 32
    config.model.num_layers = 1
    config.model.num_heads = 2
    config.model.intermediate_dim = 64
    config.train.batch_size = 16
    config.train.learning_rate = 3e-3
    config.train.warmup_ratio = 0.0
    config.train.log_every = 2
    config.train.early_stopping_patience = None
    for key, value in train.items():
        setattr(config.train, key, value)
    return config


def finetune_config(
    workspace: Path, data: Path, parent: RunDir, task: str = "classifier", **train
) -> RunConfig:
    config = tiny_config(workspace, data, task, **train)
    config.finetune.from_run = str(parent.path)  # a path: the parent may live in another workspace
    return config


def make_conll(path: Path, sentences: int = 320, seed: int = 0) -> Path:
    """Sentences with two-word person and place names (B-/I- tags) a tiny tagger can learn."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(sentences):
        lines = []
        for piece in rng.choice(TEMPLATES).split():
            if piece in ("{per}", "{loc}"):
                kind = "per" if piece == "{per}" else "loc"
                words = rng.choice(PEOPLE if kind == "per" else PLACES).split()
                lines += [f"{w}\t{'B' if k == 0 else 'I'}-{kind}" for k, w in enumerate(words)]
            else:
                lines.append(f"{rng.choice(FILLER) if piece == '{w}' else piece}\tO")
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def step_losses(run: RunDir) -> list[float]:
    return [r["loss"] for r in run.metrics() if r.get("kind") == "step"]


def weights_of(layer) -> list[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(w)) for w in layer.weights]


def saved_backbone(path: Path) -> list[np.ndarray]:
    return weights_of(get_backbone(keras.models.load_model(path, compile=False, safe_mode=True)))


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def mean_abs_change(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(x - y).mean() for x, y in zip(a, b, strict=True)]))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> RunDir:
    """One tiny masked-LM run per backend, shared by the fine-tuning tests."""
    root = tmp_path_factory.mktemp("pretrain")
    corpus = make_corpus(root / "corpus.txt", chars=30_000)
    return train(tiny_config(root / "ws", corpus, "masked_lm", epochs=5, max_steps=40))


@pytest.fixture
def sentiment(tmp_path: Path) -> Path:
    return make_sentiment_csv(tmp_path / "sentiment.csv")


def prepared_child(config: RunConfig, workspace_run: RunDir | None = None):
    """The engine's first steps for a fine-tune (adopt, tokenizer, data), without training."""
    run = workspace_run or RunDir.create(config)
    lineage.adopt_pretrained_architecture(config, run)
    prepared = prepare(config, run, lineage.pretrained_tokenizer(config))
    config.model.vocab_size = prepared.tokenizer.vocab_size
    config.model.num_classes = len(prepared.labels or [])
    return run, prepared


@backend
def test_masked_lm_pretraining_loss_falls_and_reports_masked_perplexity(pretrained):
    assert pretrained.status()["state"] == "completed", pretrained.status()
    losses = step_losses(pretrained)
    assert len(losses) >= 10 and np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.3
    report = pretrained.eval_report()
    vocab = pretrained.config().model.vocab_size
    assert report["masked_tokens"] > 20
    assert report["perplexity"] < vocab / 2  # well below a uniform guess (the corpus is i.i.d. words)
    assert 0.0 < report["token_accuracy"] <= 1.0
    data_report = json.loads(pretrained.data_report_path.read_text())
    assert data_report["mask_rate"] == 0.15 and data_report["sequences"]["train"] >= 16


@backend
def test_finetune_starts_from_parent_backbone_and_records_lineage(tmp_path, pretrained, sentiment):
    config = finetune_config(tmp_path / "ws", sentiment, pretrained, epochs=3)
    config.model.kind = "lstm"  # ignored: a fine-tune adopts the parent's architecture
    run, prepared = prepared_child(config)
    assert config.model.kind == "transformer" and config.model.causal is False
    assert prepared.tokenizer.vocabulary == load_tokenizer(pretrained.tokenizer_dir).vocabulary
    model = lineage.initial_model(config, run)
    parent = saved_backbone(pretrained.model_path)
    assert same(weights_of(get_backbone(model)), parent)  # loaded, not re-initialised
    assert model.task == "classifier" and model.num_classes == 2

    finished = train(config)  # the whole flow: a new run directory, same config
    assert finished.status()["state"] == "completed", finished.status()
    assert finished.status()["from_run"] == pretrained.id
    record = finished.lineage()
    assert record["parent_id"] == pretrained.id and record["parent_task"] == "masked_lm"
    assert record["parent_step"] == pretrained.status()["step"] and record["head"] == "new"
    assert Path(record["parent_path"]) == pretrained.path.resolve()
    assert (finished.tokenizer_dir / "vocab.txt").read_text() == (
        pretrained.tokenizer_dir / "vocab.txt"
    ).read_text()
    summary = next(s for s in list_runs(config.workspace) if s.id == finished.id)
    assert summary.from_run == pretrained.id and "masked_lm" in summary.lineage_text
    assert not same(saved_backbone(finished.model_path), parent)  # the backbone was fine-tuned too
    assert finished.eval_report()["accuracy"] > 0.6


def test_bag_pretrains_with_masked_lm_and_fine_tunes_into_a_classifier(tmp_path, sentiment):
    corpus = make_corpus(tmp_path / "corpus.txt", chars=20_000)
    config = tiny_config(tmp_path / "ws", corpus, "masked_lm", epochs=2, max_steps=30)
    config.model.kind, config.model.hidden_dim, config.model.ngram_buckets = "bag", 16, 997
    parent = train(config)
    assert parent.status()["state"] == "completed", parent.status()
    assert parent.eval_report()["perplexity"] < parent.config().model.vocab_size  # below a uniform guess
    child = finetune_config(tmp_path / "ws", sentiment, parent, epochs=3)
    finished = train(child)
    assert finished.status()["state"] == "completed", finished.status()
    assert finished.config().model.kind == "bag" and finished.lineage()["parent_task"] == "masked_lm"
    assert finished.eval_report()["accuracy"] > 0.6


@backend
def test_freeze_then_unfreeze_keeps_one_working_optimizer(tmp_path, pretrained, sentiment):
    config = finetune_config(tmp_path / "ws", sentiment, pretrained)
    config.finetune.freeze_backbone_epochs = 1
    run, prepared = prepared_child(config)
    model = lineage.initial_model(config, run)
    compile_model(model, config, total_steps=20)
    optimizer = model.optimizer
    assert isinstance(optimizer, BackboneScaledAdamW)
    backbone = get_backbone(model)
    head = model.get_layer("logits")
    start_backbone, start_head = weights_of(backbone), weights_of(head)

    lineage.before_epoch(model, config, 0, 20)
    model.fit(prepared.train_factory(0).take(4), shuffle=False, verbose=0)
    assert same(weights_of(backbone), start_backbone)  # frozen: not one backbone weight moved
    assert not same(weights_of(head), start_head)
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 4

    lineage.before_epoch(model, config, 1, 20)
    frozen_head = weights_of(head)
    model.fit(prepared.train_factory(1).take(4), shuffle=False, verbose=0)
    assert model.optimizer is optimizer and int(keras.ops.convert_to_numpy(optimizer.iterations)) == 8
    assert mean_abs_change(weights_of(backbone), start_backbone) > 1e-5
    assert not same(weights_of(head), frozen_head)


@backend
def test_backbone_lr_multiplier_lowers_backbone_updates(tmp_path, pretrained, sentiment):
    changes = {}
    for multiplier in (1.0, 0.1):
        config = finetune_config(tmp_path / f"ws{multiplier}", sentiment, pretrained)
        config.finetune.backbone_lr_multiplier = multiplier
        run, prepared = prepared_child(config)
        x, y = next(iter(prepared.train_factory(0).as_numpy_iterator()))
        keras.utils.set_random_seed(7)  # same head initialisation and dropout masks for both models
        model = lineage.initial_model(config, run)
        compile_model(model, config, total_steps=10)
        assert isinstance(model.optimizer, BackboneScaledAdamW) == (multiplier != 1.0)
        backbone, head = get_backbone(model), model.get_layer("logits")
        before = weights_of(backbone), weights_of(head)
        model.train_on_batch(x, y)
        changes[multiplier] = [
            mean_abs_change(weights_of(layer), old)
            for layer, old in zip((backbone, head), before, strict=True)
        ]
    backbone_ratio = changes[0.1][0] / changes[1.0][0]
    head_ratio = changes[0.1][1] / changes[1.0][1]
    assert 0.07 < backbone_ratio < 0.13, changes
    assert 0.9 < head_ratio < 1.1, changes


@backend
def test_scaled_adamw_matches_adamw_and_scales_only_backbone_steps():
    def run(optimizer, steps: int = 3, frozen: bool = False) -> list[list[np.ndarray]]:
        with keras.name_scope("transformer_layer_0"):
            body = keras.Variable(np.linspace(-1, 1, 6).reshape(2, 3), name="kernel")
        with keras.name_scope("logits"):
            head = keras.Variable(np.linspace(1, 2, 3), name="bias")
        optimizer.build([body, head])
        if frozen:
            optimizer.freeze_backbone(True)
        grads = [np.full((2, 3), 0.3, "float32"), np.array([0.5, -0.2, 0.1], "float32")]
        history = [[keras.ops.convert_to_numpy(v).copy() for v in (body, head)]]
        for _ in range(steps):
            optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], [body, head])
            history.append([keras.ops.convert_to_numpy(v).copy() for v in (body, head)])
        return history

    kwargs = dict(learning_rate=0.01, weight_decay=0.1, global_clipnorm=1.0)
    plain = run(keras.optimizers.AdamW(**kwargs))
    same_rate = run(
        BackboneScaledAdamW(**kwargs, backbone_lr_multiplier=1.0, backbone_layers=["transformer_layer_0"])
    )
    for a, b in zip(plain, same_rate, strict=True):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
    scaled = run(
        BackboneScaledAdamW(**kwargs, backbone_lr_multiplier=0.1, backbone_layers=["transformer_layer_0"])
    )
    np.testing.assert_allclose(scaled[1][0] - scaled[0][0], 0.1 * (plain[1][0] - plain[0][0]), rtol=1e-4)
    np.testing.assert_allclose(scaled[-1][1], plain[-1][1], rtol=1e-6)  # the head keeps the full rate
    frozen = run(
        BackboneScaledAdamW(**kwargs, backbone_lr_multiplier=0.1, backbone_layers=["transformer_layer_0"]),
        frozen=True,
    )
    np.testing.assert_array_equal(frozen[-1][0], frozen[0][0])  # frozen: exactly unchanged, decay included
    np.testing.assert_allclose(frozen[-1][1], plain[-1][1], rtol=1e-6)

    restored = keras.optimizers.deserialize(
        keras.optimizers.serialize(
            BackboneScaledAdamW(**kwargs, backbone_lr_multiplier=0.25, backbone_layers=["b", "a"])
        )
    )
    assert isinstance(restored, BackboneScaledAdamW)
    assert restored.backbone_lr_multiplier == 0.25 and restored.backbone_layers == ["a", "b"]


@backend
@pytest.mark.slow
def test_resume_across_the_unfreeze_keeps_scaled_optimizer(tmp_path, pretrained, sentiment):
    config = finetune_config(tmp_path / "ws", sentiment, pretrained, epochs=1)
    config.finetune.freeze_backbone_epochs = 1
    config.finetune.backbone_lr_multiplier = 0.5
    run = train(config)
    assert run.status()["state"] == "completed", run.status()
    parent = saved_backbone(pretrained.model_path)
    assert same(saved_backbone(run.last_checkpoint), parent)  # the only epoch was frozen
    frozen_steps = run.status()["step"]
    saved = keras.models.load_model(run.last_checkpoint, compile=True, safe_mode=True).optimizer
    assert isinstance(saved, BackboneScaledAdamW)  # reloads whole: class, step count, frozen scale
    assert int(keras.ops.convert_to_numpy(saved.iterations)) == frozen_steps
    assert float(keras.ops.convert_to_numpy(saved.backbone_scale)) == 0.0

    longer = run.config()
    longer.train.epochs = 2  # train on: the next epoch unfreezes the backbone
    longer.save(run.config_path)
    resume(run)
    assert run.status()["state"] == "completed", run.status()
    assert any(r.get("event") == "resumed" and r["step"] == frozen_steps for r in run.metrics())
    assert run.status()["step"] == 2 * frozen_steps
    model = keras.models.load_model(run.last_checkpoint, compile=True, safe_mode=True)
    assert isinstance(model.optimizer, BackboneScaledAdamW) and model.optimizer.backbone_lr_multiplier == 0.5
    assert float(keras.ops.convert_to_numpy(model.optimizer.backbone_scale)) == 0.5
    assert "transformer_layer_0" in model.optimizer.backbone_layers
    assert mean_abs_change(weights_of(get_backbone(model)), parent) > 1e-5


@backend
@pytest.mark.slow
def test_token_classifier_fine_tuned_from_masked_lm_tags_entities(tmp_path, pretrained):
    data = make_conll(tmp_path / "ner.conll")
    config = finetune_config(tmp_path / "ws", data, pretrained, task="token_classifier", epochs=6)
    run = train(config)
    assert run.status()["state"] == "completed", run.status()
    losses = step_losses(run)
    assert losses[-1] < losses[0] - 0.3
    assert run.labels() == ["O", "B-loc", "B-per", "I-loc", "I-per"]
    report = run.eval_report()
    assert report["entity_f1"] > 0.6, report
    assert set(report["per_type"]) == {"loc", "per"}
    assert run.lineage()["parent_task"] == "masked_lm"

    pairs = tag(load_run(run), "we saw mary jones in new york")
    assert [w for w, _ in pairs] == "we saw mary jones in new york".split()
    assert all(t in run.labels() for _, t in pairs)
    assert pairs[2][1] == "B-per" and pairs[5][1] == "B-loc"


@backend
@pytest.mark.slow
def test_token_classifier_from_scratch_reports_entity_f1_and_cli_tags(tmp_path, capsys):
    from app.cli import main

    data = make_conll(tmp_path / "ner.conll", sentences=240)
    config = tiny_config(tmp_path / "ws", data, "token_classifier", epochs=4)
    config.model.seq_len = 16
    run = train(config)
    assert run.status()["state"] == "completed", run.status()
    report = run.eval_report()
    assert {"entity_precision", "entity_recall", "entity_f1", "per_type", "word_accuracy"} <= set(report)
    assert report["entity_f1"] > 0.3, report
    assert run.status()["headline"]["entity_f1"] == report["entity_f1"]

    long_text = " ".join(["paris"] * 40)  # longer than seq_len: tagged window by window, no word lost
    assert len(tag(load_run(run), long_text)) == 40
    assert main(["--workspace", config.workspace, "tag", run.id, "tom ford flew to cairo"]) == 0
    *lines, entities = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == "tom ford flew to cairo".split()
    assert entities.startswith("# entities: ")


@backend
def test_label_set_of_a_classifier_parent_is_kept_or_refused(tmp_path, pretrained, sentiment):
    parent_config = finetune_config(tmp_path / "ws", sentiment, pretrained, epochs=1)
    parent = train(parent_config)
    assert parent.status()["state"] == "completed"

    same_labels = finetune_config(tmp_path / "ws", make_sentiment_csv(tmp_path / "more.csv", seed=5), parent)
    run, prepared = prepared_child(same_labels)
    assert prepared.labels == parent.labels() and run.lineage()["head"] == "kept from parent"
    model = lineage.initial_model(same_labels, run)
    parent_model = keras.models.load_model(parent.model_path, compile=False, safe_mode=True)
    assert same(weights_of(model.get_layer("logits")), weights_of(parent_model.get_layer("logits")))

    other = tmp_path / "other.csv"
    other.write_text(sentiment.read_text().replace(",pos", ",good").replace(",neg", ",bad"))
    with pytest.raises(DataError, match="'bad', 'good'.*does not know"):
        train(finetune_config(tmp_path / "ws", other, parent))


@backend
def test_vocabulary_mismatch_and_lstm_masked_lm_are_refused(tmp_path, pretrained, sentiment):
    broken = tmp_path / "ws" / "runs" / "broken-parent"
    shutil.copytree(pretrained.path, broken)
    vocab = broken / "tokenizer" / "vocab.txt"
    vocab.write_text("".join(line + "\n" for line in vocab.read_text().splitlines()[:-7]))
    config = finetune_config(tmp_path / "ws", sentiment, RunDir(broken))
    with pytest.raises(DataError, match="embedding has .* rows"):
        train(config)
    failed = next(s for s in list_runs(config.workspace) if s.id != "broken-parent")
    assert failed.state == "failed" and "vocab.txt" in failed.message

    lstm = tiny_config(tmp_path / "ws", make_corpus(tmp_path / "c.txt"), "masked_lm")
    lstm.model.kind = "lstm"
    with pytest.raises(DataError, match="needs a Transformer.*--objective causal_lm"):
        train(lstm)


def test_entity_metrics_score_exact_spans():
    gold = [["B-per", "I-per", "O", "B-loc"], ["O", "B-org"]]
    predicted = [["B-per", "O", "O", "B-loc"], ["O", "B-org"]]  # the person span is cut short: a miss
    report = entity_metrics(gold, predicted)
    assert report["entities"] == 3 and report["predicted_entities"] == 3
    assert report["entity_precision"] == pytest.approx(2 / 3) and report["entity_recall"] == pytest.approx(
        2 / 3
    )
    assert report["per_type"]["per"]["f1"] == 0.0 and report["per_type"]["loc"]["f1"] == 1.0
    assert report["word_accuracy"] == pytest.approx(5 / 6)
    perfect = entity_metrics(gold, gold)
    assert perfect["entity_f1"] == 1.0 and perfect["entity_macro_f1"] == 1.0
