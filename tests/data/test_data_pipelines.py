"""tf.data pipelines: shapes, int32, determinism, per-epoch reshuffle, resume, packing, MLM masking."""

from __future__ import annotations

import numpy as np
import pytest

from data.errors import DataError
from data.pipelines import (
    EpochOrder,
    causal_lm_dataset,
    chunk_ids,
    classification_dataset,
    encode_documents_for_lm,
    lm_windows,
    masked_lm_dataset,
    pack_for_classification,
    pack_token_lists,
)
from data.tokenizers import BOS, EOS, MASK, PAD, CharTokenizer
from data.truncation import truncate_report

VOCAB = 60


def batches(dataset) -> list[tuple[np.ndarray, ...]]:
    return list(dataset.as_numpy_iterator())


def stream(n: int = 5000) -> np.ndarray:
    return (np.arange(n) % (VOCAB - 5) + 5).astype(np.int32)


def mlm_ids(rows: int = 256, seq_len: int = 32) -> np.ndarray:
    ids = np.random.default_rng(0).integers(5, VOCAB, size=(rows, seq_len)).astype(np.int32)
    ids[:, 0] = BOS
    ids[:, -4:] = PAD
    return ids


def test_lm_windows_and_chunks():
    windows = lm_windows(np.arange(11), 3, offset=1)
    assert windows.tolist() == [[1, 2, 3, 4], [4, 5, 6, 7], [7, 8, 9, 10]]
    assert lm_windows(np.arange(11), 3, offset=1, count=2).shape == (2, 4)
    assert lm_windows(np.arange(3), 3).shape == (0, 4) and windows.dtype == np.int32
    assert chunk_ids(np.arange(10), 4).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_causal_lm_shapes_shift_and_determinism():
    data = stream()
    first = batches(causal_lm_dataset(data, 16, 8, EpochOrder(seed=5, epoch=0)))
    assert len(first) > 10
    for x, y in first:
        assert x.shape == y.shape == (8, 16) and x.dtype == y.dtype == np.int32
        np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
        # y really is the next token of the stream: each row is a contiguous slice of it.
        start = int(np.flatnonzero(data == x[0, 0])[0])
        np.testing.assert_array_equal(y[0], data[start + 1 : start + 17])
    again = batches(causal_lm_dataset(data, 16, 8, EpochOrder(seed=5, epoch=0)))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    other_epoch = batches(causal_lm_dataset(data, 16, 8, EpochOrder(seed=5, epoch=1)))
    assert len(other_epoch) == len(first)  # same number of batches in every epoch
    assert not np.array_equal(first[0][0], other_epoch[0][0])


def test_causal_lm_unshuffled_covers_stream_in_order():
    data = np.arange(5, 5 + 33, dtype=np.int32)
    (x, y), (x2, y2) = batches(causal_lm_dataset(data, 8, 2, EpochOrder(shuffle=False)))
    np.testing.assert_array_equal(np.concatenate([x, x2]).reshape(-1), data[:32])
    np.testing.assert_array_equal(np.concatenate([y, y2]).reshape(-1), data[1:33])


def test_causal_lm_rows_are_the_windows_in_the_epochs_order():
    data = np.arange(5, 5 + 1000, dtype=np.int32)  # each token once: a row's first token names its start
    order = EpochOrder(seed=3, epoch=1, skip_batches=2)
    got = batches(causal_lm_dataset(data, 16, 8, order, drop_remainder=False))
    x, y = np.concatenate([b[0] for b in got]), np.concatenate([b[1] for b in got])
    offset = int((x[:, 0] - 5).min() % 16)
    count = (1000 - 1 - 15) // 16  # the windows that fit at every offset in [0, 15]
    expected = lm_windows(data, 16, offset=offset, count=count)[order.rows(count, 8)]
    np.testing.assert_array_equal(np.concatenate([x, y[:, -1:]], axis=1), expected)


def test_causal_lm_skip_batches_resumes_mid_epoch():
    full = batches(causal_lm_dataset(stream(), 16, 4, EpochOrder(seed=1, epoch=2)))
    resumed = batches(causal_lm_dataset(stream(), 16, 4, EpochOrder(seed=1, epoch=2, skip_batches=5)))
    assert len(resumed) == len(full) - 5
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(full[5:], resumed, strict=True))


def test_causal_lm_too_little_text():
    with pytest.raises(DataError, match="fewer than one window of 17"):
        causal_lm_dataset(np.arange(10), 16, 4)
    with pytest.raises(DataError, match="do not fill one batch of 64"):
        causal_lm_dataset(np.arange(100), 16, 64)


def test_encode_documents_puts_eos_between():
    tok = CharTokenizer.train(["abc"])
    assert encode_documents_for_lm(tok, ["ab", "c", "ba"]).tolist() == [5, 6, EOS, 7, EOS, 6, 5]
    assert encode_documents_for_lm(tok, ["abc"]).dtype == np.int32


def test_pack_for_classification_and_truncation_report():
    tok = CharTokenizer.train(["abcdef"])
    ids, truncated = pack_for_classification(tok, ["ab", "abcdef", ""], 5)
    assert ids.dtype == np.int32 and ids.shape == (3, 5)
    assert ids.tolist() == [[BOS, 5, 6, PAD, PAD], [BOS, 5, 6, 7, 8], [BOS, PAD, PAD, PAD, PAD]]
    assert truncated == 1
    report = truncate_report([len(t) for t in tok.encode_batch(["ab", "abcdef", ""])], 5, reserved=1)
    assert (report.rows, report.truncated, report.longest) == (3, 1, 7)
    assert "1 of 3 rows longer than the model's sequence length (5 tokens) were truncated" in report.message()
    assert truncate_report([1, 2], 5).message() == ""
    assert pack_token_lists([[9] * 4], 5)[1] == 0  # exactly fits with [BOS]


def test_classification_dataset_order_epochs_and_resume():
    ids = np.arange(100 * 4, dtype=np.int32).reshape(100, 4)
    labels = np.arange(100) % 3
    full = batches(classification_dataset(ids, labels, 16, EpochOrder(seed=3, epoch=0)))
    assert [len(x) for x, _ in full] == [16] * 6 + [4]
    x_all = np.concatenate([x for x, _ in full])
    y_all = np.concatenate([y for _, y in full])
    assert x_all.dtype == np.int32 and y_all.dtype == np.int32
    assert sorted(x_all[:, 0].tolist()) == list(range(0, 400, 4))  # a permutation, nothing lost
    np.testing.assert_array_equal(y_all, (x_all[:, 0] // 4) % 3)  # labels stay with their rows
    assert not np.array_equal(x_all[:, 0], np.arange(0, 400, 4))  # shuffled
    same = np.concatenate(
        [x for x, _ in batches(classification_dataset(ids, labels, 16, EpochOrder(seed=3, epoch=0)))]
    )
    next_epoch = np.concatenate(
        [x for x, _ in batches(classification_dataset(ids, labels, 16, EpochOrder(seed=3, epoch=1)))]
    )
    np.testing.assert_array_equal(same, x_all)
    assert not np.array_equal(next_epoch, x_all)
    resumed = batches(classification_dataset(ids, labels, 16, EpochOrder(seed=3, epoch=0, skip_batches=2)))
    np.testing.assert_array_equal(np.concatenate([x for x, _ in resumed]), x_all[32:])
    ordered = batches(classification_dataset(ids, labels, 50, EpochOrder(shuffle=False), drop_remainder=True))
    np.testing.assert_array_equal(np.concatenate([x for x, _ in ordered]), ids)


def test_masked_lm_proportions():
    ids = mlm_ids(rows=512, seq_len=64)
    out = batches(masked_lm_dataset(ids, 32, EpochOrder(seed=11), vocab_size=VOCAB))
    x = np.concatenate([b[0] for b in out])
    y = np.concatenate([b[1] for b in out])
    weight = np.concatenate([b[2] for b in out])
    assert x.dtype == y.dtype == np.int32 and weight.dtype == np.float32 and x.shape == (512, 64)
    selected = weight == 1.0
    candidates = y >= 5
    assert set(np.unique(weight).tolist()) <= {0.0, 1.0}
    assert not (selected & ~candidates).any()  # specials ([BOS], [PAD]) are never selected
    assert abs(selected.sum() / candidates.sum() - 0.15) < 0.01
    np.testing.assert_array_equal(x[~selected], y[~selected])  # unselected positions untouched
    chosen, original = x[selected], y[selected]
    masked = (chosen == MASK).mean()
    kept = (chosen == original).mean()
    replaced = ((chosen != MASK) & (chosen != original)).mean()
    assert abs(masked - 0.8) < 0.03 and abs(kept - 0.1) < 0.02 and abs(replaced - 0.1) < 0.02
    assert chosen[(chosen != MASK)].min() >= 5 and chosen.max() < VOCAB  # random ids are real tokens
    assert sorted(np.sort(y, axis=1).tolist()) == sorted(np.sort(ids, axis=1).tolist())  # y = original rows


def test_masked_lm_deterministic_new_masks_per_epoch_and_resume():
    ids = mlm_ids()
    first = batches(masked_lm_dataset(ids, 16, EpochOrder(seed=2, epoch=0), vocab_size=VOCAB))
    again = batches(masked_lm_dataset(ids, 16, EpochOrder(seed=2, epoch=0), vocab_size=VOCAB))
    other = batches(masked_lm_dataset(ids, 16, EpochOrder(seed=2, epoch=1), vocab_size=VOCAB))
    for a, b in zip(first, again, strict=True):
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(first[0][2], other[0][2])
    resumed = batches(
        masked_lm_dataset(ids, 16, EpochOrder(seed=2, epoch=0, skip_batches=3), vocab_size=VOCAB)
    )
    assert len(resumed) == len(first) - 3
    for a, b in zip(first[3:], resumed, strict=True):
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)


@pytest.mark.backend
def test_batches_feed_a_keras_model_on_this_backend():
    """Every pipeline's batches are numpy-convertible and train a tiny plain-Keras model for one step."""
    import keras

    def tiny(outputs_per_token: bool, classes: int) -> keras.Model:
        inputs = keras.Input(shape=(16,), dtype="int32")
        hidden = keras.layers.Embedding(VOCAB, 8)(inputs)
        if not outputs_per_token:
            hidden = keras.layers.GlobalAveragePooling1D()(hidden)
        model = keras.Model(inputs, keras.layers.Dense(classes)(hidden))
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    labels = np.arange(64) % 3
    cases = [
        (causal_lm_dataset(stream(2000), 16, 8, EpochOrder(seed=0)), tiny(True, VOCAB)),
        (classification_dataset(mlm_ids(64, 16), labels, 8, EpochOrder(seed=0)), tiny(False, 3)),
        (masked_lm_dataset(mlm_ids(64, 16), 8, EpochOrder(seed=0), vocab_size=VOCAB), tiny(True, VOCAB)),
    ]
    for dataset, model in cases:
        first = next(dataset.as_numpy_iterator())
        assert all(isinstance(part, np.ndarray) for part in first)
        assert first[0].dtype == np.int32 and first[0].shape[0] == 8
        history = model.fit(dataset, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)
        assert np.isfinite(history.history["loss"][0])


def test_pipelines_run_without_autotuning_so_ending_an_epoch_never_waits_for_the_tuner():
    # tf.data's autotuner runs a thread that a destroyed iterator joins: 5-35 s at an epoch boundary on 2 cores.
    ids = np.ones((40, 16), dtype=np.int32)
    for dataset in (
        causal_lm_dataset(stream(), 16, 8),
        classification_dataset(ids, np.zeros(40, dtype=np.int32), 8),
        masked_lm_dataset(ids, 8, vocab_size=VOCAB),
    ):
        epoch = dataset.repeat().skip(1).take(2)  # as the engine cuts one epoch's fit call
        assert epoch.options().autotune.enabled is False
        assert len(batches(epoch)) == 2
