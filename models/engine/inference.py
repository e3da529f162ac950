"""Inference from a saved run: streaming text generation, label probabilities and tags."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data.errors import DataError
from models import tasks
from models.run_dir import RunDir

PREDICT_ON_BATCH_MAX = 64  # texts per model call in classify


@dataclass
class LoadedRun:
    """A run's model, tokenizer and labels, ready for predictions."""

    run: RunDir
    model: Any
    tokenizer: Any
    labels: list[str]
    task: str
    seq_len: int
    # A causal LM's cached decoding (models.engine.cached_decoding.generation_lm: a Transformer's numpy twin, an
    # LSTM's compiled step), built on its first generation and kept with the model so later ones reuse it.
    cached_lm: Any = field(default=None, repr=False)


def load_run(run: RunDir) -> LoadedRun:
    """Load the final model (or, for an unfinished run, the last checkpoint) in Keras safe mode."""
    from data.tokenizers import load_tokenizer
    from models.engine.safe_load import load_keras_model

    source = run.trained_model
    if not source.exists():
        raise DataError(
            f"run '{run.id}' has no trained model yet",
            hint="wait for the run to write its first checkpoint, or resume it.",
        )
    config = run.config()
    model = load_keras_model(source, compile=False)
    return LoadedRun(
        run=run,
        model=model,
        tokenizer=load_tokenizer(run.tokenizer_dir),
        labels=run.labels(),
        task=config.task,
        seq_len=config.model.seq_len,
    )


def require_interface(loaded: LoadedRun, interface: str) -> None:
    """Refuse, naming the tasks that can, when the run's task does not ``interface`` (generate/classify/tag)."""
    if tasks.get(loaded.task).interface == interface:
        return
    able = tasks.specs(lambda s: s.interface == interface)
    raise DataError(
        f"run '{loaded.run.id}' is a {loaded.task} run; to {interface} text pick a "
        + " or ".join(f"{s.name} run ({s.label})" for s in able),
        hint="choose another run, or train one of that task.",
    )


def classify(loaded: LoadedRun, texts: list[str]) -> list[dict[str, float]]:
    """Label probabilities for each text, highest first."""
    import keras

    from data.pipelines import pack_for_classification

    require_interface(loaded, tasks.CLASSIFY)
    empty = [i + 1 for i, text in enumerate(texts) if not str(text).strip()]
    if empty:  # a model still answers on [BOS] alone, with a confident-looking label for no words at all
        which = "the text is" if len(texts) == 1 else f"text {', '.join(map(str, empty))} of {len(texts)} is"
        raise DataError(f"{which} empty: there is nothing to classify.", hint="Type or paste some text.")
    ids, _ = pack_for_classification(loaded.tokenizer, list(texts), loaded.seq_len)
    # predict() sets up a data adapter and step loop per call (~75 ms here); a playground-sized request is
    # one batch, which predict_on_batch runs directly (~3 ms; bench/inference.py measures both).
    if len(ids) <= PREDICT_ON_BATCH_MAX:
        logits = np.asarray(loaded.model.predict_on_batch(ids))
    else:
        logits = loaded.model.predict(ids, batch_size=PREDICT_ON_BATCH_MAX, verbose=0)
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(keras.ops.convert_to_tensor(logits), axis=-1))
    out = []
    for row in probs:
        pairs = sorted(zip(loaded.labels, row.tolist(), strict=True), key=lambda p: -p[1])
        out.append(dict(pairs))
    return out


def generate_stream(
    loaded: LoadedRun,
    prompt: str,
    *,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    use_cache: bool | None = True,
    keep: int | None = None,
) -> Iterator[str]:
    """Yield generated text piece by piece, reading a window of at most seq_len tokens that shifts to its newest
    ``keep`` ones when full (models.decoding.ContextWindow; default_keep), as the bundle runner does.

    A Transformer LM reuses its keys/values and an LSTM LM carries its state (models.engine.cached_decoding)
    unless ``use_cache`` is false, which runs the model on the whole window for every token, as does any
    other model; None uses only a cached path that compiles nothing (a Transformer's numpy twin), for one-off
    generations where an LSTM step's compiling would cost more than it saves. Both give the same logits, so the
    same tokens. Tokens are chosen by models.decoding.choose_token (greedy at temperature 0), seeded by ``seed``.
    """
    from data.tokenizers import BOS, EOS
    from models.decoding import NEVER_SAMPLED, ContextWindow, choose_token, default_keep

    require_interface(loaded, tasks.GENERATE)
    rng = np.random.default_rng(seed)
    window = ContextWindow(loaded.seq_len, keep or default_keep(loaded.seq_len))
    tokens = [BOS] + loaded.tokenizer.encode(prompt)
    prompt_len = len(tokens)
    next_logits = _next_logits(loaded, use_cache, window)
    emitted = ""
    for _ in range(max_new_tokens):
        logits = next_logits(tokens)
        logits[:, NEVER_SAMPLED] = -np.inf
        next_id = choose_token(logits[0], temperature, top_k, rng, top_p)
        if next_id == EOS:
            break
        tokens.append(next_id)
        # Decode the whole continuation each time: WordPiece joins '##' pieces, so a token's text depends on its
        # neighbours; the new suffix is what the user has not seen yet.
        text = loaded.tokenizer.decode(tokens[prompt_len:])
        if text != emitted:
            yield text[len(emitted) :]
            emitted = text


def _next_logits(
    loaded: LoadedRun, use_cache: bool | None, context_window: Any
) -> Callable[[list[int]], np.ndarray]:
    """tokens -> float32 logits [1, vocab] for the next token, from the context ``context_window`` gives."""
    from data.tokenizers import PAD
    from models.engine.cached_decoding import CachedSession, generation_lm
    from models.engine.numpy_decoding import NumpyTransformer

    if use_cache is not False and loaded.cached_lm is None:
        loaded.cached_lm = generation_lm(loaded.model, loaded.seq_len)
    if use_cache is None:
        use_cache = isinstance(loaded.cached_lm, NumpyTransformer)
    if use_cache and loaded.cached_lm is not None:
        # A session per generation: the Playground may run two at once on the same loaded model.
        return CachedSession(loaded.cached_lm, context_window.keep).next_logits
    window = np.full((1, loaded.seq_len), PAD, dtype=np.int32)

    def full_window(tokens: list[int]) -> np.ndarray:
        context = context_window.context(tokens)
        window[0, :] = PAD
        window[0, : len(context)] = context
        return np.array(loaded.model.predict_on_batch(window)[:, len(context) - 1, :], dtype=np.float32)

    return full_window


def generate(loaded: LoadedRun, prompt: str, **kwargs: Any) -> str:
    return "".join(generate_stream(loaded, prompt, **kwargs))


def tag(loaded: LoadedRun, text: str | list[str]) -> list[tuple[str, str]]:
    """Tag each word of ``text`` (split on whitespace, or already a word list) with a token-classifier run.

    Words are laid out as in training (data.token_alignment: each word's first sub-token is read); a text
    longer than the sequence length is tagged window by window, so every word gets a tag.
    """
    from data.token_alignment import align_words
    from models.tasks.token_classifier import chain_decoding, word_tags

    require_interface(loaded, tasks.TAG)
    words = text.split() if isinstance(text, str) else [str(w) for w in text]
    tagged: list[tuple[str, str]] = []
    start = 0
    chain = chain_decoding(loaded.model)  # a CRF's transitions and O shift; None for the other kinds
    while start < len(words):
        aligned = align_words(loaded.tokenizer, [words[start:]], None, loaded.seq_len)
        kept = int(aligned.words_kept[0])  # >= 1: a word's first sub-token always fits after [BOS]
        logits = np.asarray(loaded.model.predict_on_batch(aligned.ids))[0]
        # BIO-valid tags (I-x only after B-x / I-x), decoded at each kept word's first sub-token.
        tags = word_tags(logits, aligned.weights[0], kept, loaded.labels, chain)
        tagged.extend(zip(words[start : start + kept], tags, strict=True))
        start += kept
    return tagged


def entity_segments(tagged: list[tuple[str, str]]) -> list[tuple[str, str | None]]:
    """``tag``'s (word, tag) pairs -> the text as segments: each entity's words joined with its type
    (``("Hana Larsen", "person")``), the words between them unlabelled (``("flew to", None)``)."""
    from data.conll import entity_spans

    words = [word for word, _ in tagged]
    segments: list[tuple[str, str | None]] = []
    done = 0
    for kind, first, last in entity_spans([t for _, t in tagged]):
        if first > done:
            segments.append((" ".join(words[done:first]), None))
        segments.append((" ".join(words[first : last + 1]), kind))
        done = last + 1
    if done < len(words):
        segments.append((" ".join(words[done:]), None))
    return segments
