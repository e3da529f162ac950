"""Model builders: shapes, masking, causality, tying, serialization, backbone reuse, training, presets."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from data.errors import DataError
from models import tasks
from models.architecture.builders import build_model, build_task_from_backbone, get_backbone
from models.architecture.presets import PRESETS, hashed_parameter_count, resolve_model_config
from models.architecture.sizing import count_params, estimate_memory
from models.config import FITTED_KINDS, ModelConfig

pytestmark = pytest.mark.backend

KINDS = ("transformer", "lstm")
VOCAB = 23
CLASSES = 3
HIDDEN = 16
FFN = 32
LAYERS = 2
SEQ_LEN = 12
LEN = 8  # one input length for most tests: JAX eager compiles each op once per shape


def tiny(kind: str, **overrides) -> ModelConfig:
    """Smallest config that still exercises every code path (two layers: stacking is covered)."""
    base = dict(
        kind=kind,
        preset=None,
        seq_len=SEQ_LEN,
        hidden_dim=HIDDEN,
        num_layers=LAYERS,
        num_heads=2,
        intermediate_dim=FFN,
        dropout=0.0,
        vocab_size=VOCAB,
        num_classes=CLASSES,
    )
    return ModelConfig(**{**base, **overrides})


def run(model: keras.Model, ids) -> np.ndarray:
    # Direct call, not predict(): no per-model compilation, which keeps the file fast on every backend.
    return keras.ops.convert_to_numpy(model(np.asarray(ids, dtype="int32"), training=False))


def right_pad(rows: list[list[int]], length: int) -> np.ndarray:
    out = np.zeros((len(rows), length), dtype="int32")
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


IDS = right_pad([[5, 6, 7, 8, 9], [10, 11]], LEN)


@pytest.fixture
def mixed_bfloat16():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("task", tasks.names())
def test_shapes_dtypes_and_names(kind, task):
    model = build_model(tiny(kind, bidirectional=True), task)
    logits = run(model, IDS)
    expected = {
        "causal_lm": (2, LEN, VOCAB),
        "masked_lm": (2, LEN, VOCAB),
        "classifier": (2, CLASSES),
        "token_classifier": (2, LEN, CLASSES),
    }[task]
    assert logits.shape == expected
    assert logits.dtype == np.float32
    assert np.isfinite(logits).all()
    assert model.name == f"textlab_{kind}_{task}"
    assert model.input.dtype == "int32"
    backbone = get_backbone(model)
    assert backbone.name == "backbone"
    assert backbone.input.dtype == "int32"
    assert tuple(backbone.output.shape) == (None, None, HIDDEN)  # symbolic: a forward pass is slow on JAX


@pytest.mark.parametrize("kind,task", [("transformer", "causal_lm"), ("lstm", "classifier")])
def test_mixed_precision_gives_float32_logits(kind, task, mixed_bfloat16):
    model = build_model(tiny(kind, bidirectional=True), task)
    assert get_backbone(model).get_layer("final_norm").compute_dtype == "bfloat16"
    logits = model(IDS, training=False)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.isfinite(keras.ops.convert_to_numpy(logits)).all()


@pytest.mark.parametrize(
    "kind,bidirectional",
    [("transformer", False), ("lstm", False), ("lstm", True)],
    ids=["transformer", "lstm", "bilstm"],
)
def test_padding_does_not_change_classifier_output(kind, bidirectional):
    keras.utils.set_random_seed(1)
    model = build_model(tiny(kind, bidirectional=bidirectional), "classifier")
    rows = [[5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15]]
    short, long = run(model, right_pad(rows, LEN)), run(model, right_pad(rows, SEQ_LEN))
    np.testing.assert_allclose(short, long, atol=1e-5)
    # The check can fail: a real token in place of padding does change the output.
    changed = run(model, right_pad([rows[0] + [16], rows[1]], LEN))
    assert np.abs(changed[0] - short[0]).max() > 1e-4


def _edit_position_5(ids: np.ndarray) -> np.ndarray:
    edited = ids.copy()
    edited[:, 5] = 20
    return edited


FULL = np.array([[5, 6, 7, 8, 9, 10, 11, 12], [13, 14, 15, 16, 17, 18, 19, 21]], dtype="int32")


@pytest.mark.parametrize("kind", KINDS)
def test_causal_lm_does_not_see_future_tokens(kind):
    keras.utils.set_random_seed(2)
    model = build_model(tiny(kind), "causal_lm")
    before, after = run(model, FULL), run(model, _edit_position_5(FULL))
    np.testing.assert_allclose(before[:, :5], after[:, :5], atol=1e-5)
    assert np.abs(before[:, 5:] - after[:, 5:]).max() > 1e-4


def test_bidirectional_transformer_sees_future_tokens():
    # Guards the causality test above: a masked LM must see later tokens, so the same probe must fire.
    model = build_model(tiny("transformer"), "masked_lm")
    assert np.abs(run(model, FULL)[:, :5] - run(model, _edit_position_5(FULL))[:, :5]).max() > 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_untied_lm_head_adds_vocab_times_hidden_params(kind):
    tied = build_model(tiny(kind, tie_embeddings=True), "causal_lm").count_params()
    untied = build_model(tiny(kind, tie_embeddings=False), "causal_lm").count_params()
    assert untied - tied == VOCAB * HIDDEN


# One case per head type and kind (each round trip re-creates every variable, which is slow on JAX).
@pytest.mark.parametrize(
    "kind,task",
    [
        ("transformer", "causal_lm"),
        ("transformer", "token_classifier"),
        ("lstm", "masked_lm"),
        ("lstm", "classifier"),
    ],
)
def test_keras_file_round_trip(kind, task, tmp_path):
    keras.utils.set_random_seed(3)
    model = build_model(tiny(kind, bidirectional=True), task)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(run(model, IDS), run(loaded, IDS))
    assert loaded.name == model.name
    assert get_backbone(loaded).name == "backbone"
    # Same variables, none duplicated: a tied head stays tied after loading.
    assert len(loaded.weights) == len(model.weights)
    assert loaded.count_params() == model.count_params()
    if task in ("causal_lm", "masked_lm"):
        _assert_output_projection_is_the_embedding(loaded)


def _assert_output_projection_is_the_embedding(model: keras.Model) -> None:
    before = run(model, IDS)
    embedding = get_backbone(model).get_layer("token_embedding")
    table = keras.ops.convert_to_numpy(embedding.embeddings)
    # Row of a token absent from IDS, so only a tied output projection sees the change. Not a constant
    # shift: the final LayerNorm makes hidden states zero-mean, which would cancel it exactly.
    table[VOCAB - 1] += np.linspace(-1.0, 1.0, HIDDEN, dtype="float32")
    embedding.embeddings.assign(table)
    after = run(model, IDS)
    assert np.abs(before[..., -1] - after[..., -1]).max() > 1e-3
    np.testing.assert_allclose(before[..., :-1], after[..., :-1], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_task_from_backbone_reuses_pretrained_weights(kind, tmp_path):
    keras.utils.set_random_seed(4)
    lm = build_model(tiny(kind), "causal_lm")
    lm.save(tmp_path / "lm.keras")
    pretrained = get_backbone(keras.models.load_model(tmp_path / "lm.keras"))
    expected = [keras.ops.convert_to_numpy(w) for w in get_backbone(lm).weights]

    clf = build_task_from_backbone(pretrained, tiny(kind), "classifier")
    backbone = get_backbone(clf)
    assert backbone is pretrained
    assert clf.name == f"textlab_{kind}_classifier"
    for got, want in zip(backbone.weights, expected, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), want)
    hidden = run(backbone, IDS)
    np.testing.assert_array_equal(hidden, run(get_backbone(lm), IDS))
    assert hidden.shape == (2, LEN, HIDDEN)
    # Pad positions are exactly zero in the backbone output.
    assert np.all(hidden[1, 2:] == 0.0) and np.any(hidden[1, :2] != 0.0)
    assert run(clf, IDS).shape == (2, CLASSES)
    # Only the head is new: a Dense(hidden -> classes).
    assert clf.count_params() - backbone.count_params() == HIDDEN * CLASSES + CLASSES


def test_causal_lm_head_refuses_a_bidirectional_backbone():
    encoder = get_backbone(build_model(tiny("transformer"), "masked_lm"))
    with pytest.raises(DataError, match="causal"):
        build_task_from_backbone(encoder, tiny("transformer"), "causal_lm")


@pytest.mark.parametrize(
    "kind,task", [("transformer", "causal_lm"), ("lstm", "classifier")], ids=["transformer-lm", "lstm-clf"]
)
def test_fit_reduces_loss(kind, task):
    # One fit per kind (compiling a train step dominates the cost); together they cover the tied LM head,
    # decoder blocks, stacked LSTMs and masked pooling.
    keras.utils.set_random_seed(5)
    if task == "causal_lm":
        # Counting sequences: the next token is always the current one + 1.
        seqs = (np.arange(32)[:, None] % 10 + 5 + np.arange(9)[None, :]).astype("int32")
        x, y = seqs[:, :-1], seqs[:, 1:]
    else:
        x = np.random.default_rng(5).integers(5, VOCAB, size=(32, 8)).astype("int32")
        y = (x[:, 0] % CLASSES).astype("int32")  # the class is a function of the first token
    model = build_model(tiny(kind), task)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    losses = model.fit(x, y, batch_size=16, epochs=8, verbose=0).history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses


def test_resolve_applies_presets_and_causal_default():
    for kind, presets in PRESETS.items():
        for name, sizes in presets.items():
            resolved = resolve_model_config(ModelConfig(kind=kind, preset=name, hidden_dim=8), "classifier")
            assert {k: getattr(resolved, k) for k in sizes} == sizes
            assert resolved.causal is False
    explicit = ModelConfig(preset=None, hidden_dim=48, num_heads=3)
    assert resolve_model_config(explicit, "causal_lm").hidden_dim == 48
    assert resolve_model_config(explicit, "causal_lm").causal is True
    assert resolve_model_config(explicit, "masked_lm").causal is False
    assert resolve_model_config(explicit).causal is None
    assert resolve_model_config(dataclasses.replace(explicit, causal=True), "classifier").causal is True
    with pytest.raises(DataError, match="preset"):
        resolve_model_config(ModelConfig(preset="huge"), "classifier")


def test_presets_grow_from_tiny_to_base():
    for fitted in FITTED_KINDS:  # one size: a weight per feature and class
        assert all(p == {} for p in PRESETS[fitted].values())
    for kind, presets in PRESETS.items():
        if kind in FITTED_KINDS:
            continue
        sizes = [tuple(p[field] for field in sorted(p)) for p in presets.values()]  # every size field
        assert list(presets) == ["tiny", "small", "base"]
        assert sizes == sorted(sizes) and len(set(sizes)) == 3


def _expected_params(kind: str, task: str) -> int:
    """Independent count from the architecture's definition (not from Keras)."""
    h, v, ffn = HIDDEN, VOCAB, FFN
    embeddings_and_final_norm = v * h + 2 * h
    if kind == "transformer":
        attention = 4 * (h * h + h)  # q, k, v and output projections with biases
        block = attention + 2 * (2 * h) + (h * ffn + ffn) + (ffn * h + h)  # + two layer norms + feed-forward
        body = SEQ_LEN * h + LAYERS * block  # + position embeddings
    elif task == "classifier":  # bidirectional: hidden/2 units per direction
        u = h // 2
        body = LAYERS * 2 * 4 * u * (h + u + 1)
    else:
        body = LAYERS * 4 * h * (h + h + 1)
    head = h * CLASSES + CLASSES if task == "classifier" else 0  # the causal LM head is tied: no weights
    return embeddings_and_final_norm + body + head


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("task", ["causal_lm", "classifier"])
def test_count_params_matches_the_architecture(kind, task):
    assert count_params(tiny(kind, bidirectional=True), task) == _expected_params(kind, task)


def test_estimate_memory_is_consistent():
    cfg = tiny("transformer")
    full = estimate_memory(cfg, "causal_lm", batch_size=8, precision="float32")
    mixed = estimate_memory(cfg, "causal_lm", batch_size=8, precision="mixed_bfloat16")
    bigger = estimate_memory(cfg, "causal_lm", batch_size=16, precision="float32")
    assert full["params"] == count_params(cfg, "causal_lm")
    assert full["param_bytes"] == 4 * full["params"]
    assert full["optimizer_bytes"] == 2 * full["param_bytes"]
    parts = ("param_bytes", "gradient_bytes", "optimizer_bytes", "activation_bytes")
    assert full["total_bytes"] == sum(full[k] for k in parts)
    assert mixed["activation_bytes"] < full["activation_bytes"] < bigger["activation_bytes"]
    assert mixed["param_bytes"] == full["param_bytes"]  # variables stay float32 under mixed precision
    assert "parameters" in full["human"] and "batch 8" in full["human"]
    with pytest.raises(DataError):
        estimate_memory(cfg, "causal_lm", batch_size=0)


@pytest.mark.parametrize(
    "overrides,task,match",
    [
        ({"vocab_size": 0}, "causal_lm", "vocab_size"),
        ({"num_classes": 1}, "classifier", "num_classes"),
        ({"hidden_dim": 18, "num_heads": 4}, "classifier", "num_heads"),
        ({"causal": False}, "causal_lm", "causal"),
        ({"dropout": 1.0}, "classifier", "dropout"),
    ],
)
def test_bad_configs_raise_data_error(overrides, task, match):
    with pytest.raises(DataError, match=match):
        build_model(tiny("transformer", **overrides), task)


def test_unknown_task_raises_data_error():
    with pytest.raises(DataError, match="task"):
        build_model(tiny("lstm"), "translation")


# -- the n-gram bag (fastText family) ------------------------------------------------------------------
@pytest.mark.parametrize("task", ["classifier", "token_classifier"])
def test_bag_builds_for_labelled_tasks_and_ignores_padding(task):
    keras.utils.set_random_seed(7)
    model = build_model(tiny("bag", ngram_buckets=97), task)
    assert model.name == f"textlab_bag_{task}"
    rows = [[5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15]]
    short, long = run(model, right_pad(rows, LEN)), run(model, right_pad(rows, SEQ_LEN))
    if task == "classifier":
        assert short.shape == (2, CLASSES) and short.dtype == np.float32
        np.testing.assert_allclose(short, long, atol=1e-5)
    else:
        np.testing.assert_allclose(short, long[:, :LEN], atol=1e-5)


def test_bag_reads_word_order_through_its_bigrams():
    """Unigrams alone are order-blind: the hashed bigram embedding is what tells 'not good' from 'good not'."""
    keras.utils.set_random_seed(8)
    model = build_model(tiny("bag", ngram_buckets=97), "classifier")
    forward, swapped = run(model, [[2, 5, 6, 7]]), run(model, [[2, 7, 6, 5]])
    assert np.abs(forward - swapped).max() > 1e-4
    unigrams_only = build_model(tiny("bag", ngram_buckets=97), "classifier")
    unigrams_only.backbone.get_layer("bigram_embedding").set_weights([np.zeros((97, HIDDEN), "float32")])
    np.testing.assert_allclose(
        run(unigrams_only, [[2, 5, 6, 7]]), run(unigrams_only, [[2, 7, 6, 5]]), atol=1e-6
    )


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("bag", VOCAB * HIDDEN + 97 * HIDDEN + HIDDEN * CLASSES + CLASSES),
        ("hashed", 97 * HIDDEN + HIDDEN * CLASSES + CLASSES),  # no row per vocabulary id
    ],
)
def test_bags_round_trip_and_learn(tmp_path, kind, expected):
    keras.utils.set_random_seed(9)
    model = build_model(tiny(kind, ngram_buckets=97), "classifier")
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    np.testing.assert_array_equal(run(model, IDS), run(keras.models.load_model(path, safe_mode=True), IDS))
    x = np.random.default_rng(9).integers(5, VOCAB, size=(32, 8)).astype("int32")
    y = (x[:, 0] % CLASSES).astype("int32")
    model.compile(
        keras.optimizers.AdamW(learning_rate=5e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    losses = model.fit(x, y, batch_size=16, epochs=10, verbose=0).history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
    assert count_params(tiny(kind, ngram_buckets=97), "classifier") == model.count_params() == expected


def test_bag_refuses_causal_language_modelling():
    with pytest.raises(DataError, match="bag model .* cannot learn.*masked-LM objective"):
        build_model(tiny("bag"), "causal_lm")


# -- the hashed n-gram bag --------------------------------------------------------------------------------
def test_hashed_bag_is_the_mean_of_shared_rows_and_ignores_padding():
    keras.utils.set_random_seed(10)
    model = build_model(tiny("hashed", ngram_buckets=7), "classifier")
    assert model.name == "textlab_hashed_classifier"
    table = model.backbone.get_layer("hashed_embedding").get_weights()[0]
    dense, bias = model.get_layer("logits").get_weights()
    rows = [[5, 6, 13, 20], [9, 16]]  # 6, 13 and 20 share row 6 (mod 7); 9 and 16 share row 2
    out = run(model, right_pad(rows, LEN))
    for row, logits in zip(rows, out, strict=True):
        pooled = table[np.asarray(row) % 7].mean(axis=0)  # the head's mean over the real positions
        np.testing.assert_allclose(logits, pooled @ dense + bias, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, run(model, right_pad(rows, SEQ_LEN)), atol=1e-6)
    expected = 7 * HIDDEN + HIDDEN * CLASSES + CLASSES  # no row per vocabulary id
    assert count_params(tiny("hashed", ngram_buckets=7), "classifier") == model.count_params() == expected


def test_hashed_presets_are_counted_without_building_them():
    for preset in PRESETS["hashed"]:
        cfg = ModelConfig(kind="hashed", preset=preset, vocab_size=VOCAB, num_classes=43)
        assert hashed_parameter_count(preset, 43) == count_params(cfg, "classifier")


@pytest.mark.parametrize("task", ["token_classifier", "causal_lm", "masked_lm"])
def test_hashed_bag_refuses_tasks_that_are_not_one_label_per_text(task):
    with pytest.raises(DataError, match="hashed model gives one label per text"):
        build_model(tiny("hashed"), task)
    with pytest.raises(DataError, match="ngram_buckets"):
        build_model(tiny("hashed", ngram_buckets=1), "classifier")


def test_window_context_is_the_mean_of_the_real_neighbours():
    from models.architecture.bag import WindowContext

    hidden = np.arange(1, 6, dtype="float32").reshape(1, 5, 1)  # positions hold 1..5; the last is PAD
    mask = np.array([[True, True, True, True, False]])
    out = keras.ops.convert_to_numpy(WindowContext(window=2)(hidden, mask))[0, :, 0]
    # position 0: (2 + 3) / 2; 1: (1 + 3 + 4) / 3; 2: (1 + 2 + 4) / 3; 3: (2 + 3) / 2; 4 (PAD): (3 + 4) / 2
    np.testing.assert_allclose(out, [2.5, 8 / 3, 7 / 3, 2.5, 3.5], rtol=1e-6)


def test_bag_masked_lm_learns_a_word_from_its_neighbours():
    """CBOW: in "a X b" rows X is fixed by its neighbours, which the bag's masked-LM head reads."""
    model = build_model(tiny("bag", ngram_buckets=97, dropout=0.0), "masked_lm")
    assert model.get_layer("context_window") is not None
    rng = np.random.default_rng(0)
    left = rng.integers(5, 14, size=512)
    x = np.stack([left, np.full(512, 4), left + 9], axis=1).astype("int32")  # [a, MASK, a + 9]
    y = np.stack([left, left, left + 9], axis=1).astype("int32")
    weights = np.array([[0.0, 1.0, 0.0]] * 512, dtype="float32")
    model.compile(
        keras.optimizers.AdamW(learning_rate=3e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, sample_weight=weights, batch_size=32, epochs=15, verbose=0).history["loss"]
    predicted = np.argmax(keras.ops.convert_to_numpy(model(x[:64])), axis=-1)[:, 1]
    assert history[-1] < 0.3 * history[0] and (predicted == left[:64]).mean() > 0.9, history
