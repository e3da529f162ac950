"""Learn a WordPiece vocabulary from word counts with BPE-style merges (standard library only).

This is the algorithm Hugging Face's ``WordPieceTrainer`` uses: start from single characters (word-initial
ones bare, the rest "##"-prefixed) and repeatedly add the most frequent adjacent pair as one new piece until
the vocabulary has the requested size. Every merged piece is a valid WordPiece token, and every character
comes in both forms (bare, and "##" if it ever occurs inside a word), so greedy longest-match-first
encoding (tf-text) never needs [UNK] for a word made of known characters. Unlike tf-text's threshold
learner, each merge costs only the words that contain the pair, and the size is hit exactly unless the
data runs out of repeated pairs.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping

from data.tokenizers.wordpiece_py import MAX_BYTES_PER_WORD
from data.tokenizers.wordpiece_py import SUFFIX_INDICATOR as SUFFIX

MAX_UNIQUE_CHARS = 1000  # tf-text's learner default: rare symbols must not crowd out real pieces
MAX_WORDS = 200_000  # merges learn from the most frequent words; rarer ones only add characters
MIN_PAIR_COUNT = 2  # a pair seen once only memorizes one word; stop instead (vocabulary ends smaller)


def _alphabet(words: Mapping[str, int], budget: int) -> list[str]:
    """Single-character tokens, most frequent characters first, within ``budget`` tokens."""
    char_counts: Counter[str] = Counter()
    inner: set[str] = set()  # characters seen inside longer words need a "##" form too
    for word, count in words.items():
        for ch in word:
            char_counts[ch] += count
        if len(word) > 1:
            inner.update(word)
    tokens: list[str] = []
    ranked = sorted(char_counts.items(), key=lambda item: (-item[1], item[0]))
    for ch, _ in ranked[:MAX_UNIQUE_CHARS]:
        forms = [ch, SUFFIX + ch] if ch in inner else [ch]
        if len(tokens) + len(forms) > budget:
            break
        tokens.extend(forms)
    return tokens


def learn_vocabulary(
    word_counts: Mapping[str, int] | Iterable[tuple[str, int]],
    vocab_size: int,
    reserved_tokens: Iterable[str],
) -> list[str]:
    """``reserved_tokens`` first, then characters, then merged pieces; at most ``vocab_size`` tokens.

    Deterministic: ties are broken by count, then by the token strings.
    """
    reserved = list(reserved_tokens)
    counts: Counter[str] = Counter()
    for word, count in word_counts.items() if isinstance(word_counts, Mapping) else word_counts:
        # tf-text encodes longer words as [UNK] whatever the vocabulary, so they teach nothing.
        if word and count > 0 and len(word.encode("utf-8")) <= MAX_BYTES_PER_WORD:
            counts[word] += int(count)
    budget = vocab_size - len(reserved)
    if budget <= 0:
        return reserved[:vocab_size]

    alphabet = _alphabet(counts, budget)
    vocab = list(reserved) + [t for t in alphabet if t not in reserved]
    seen = set(vocab)
    known_chars = {t for t in alphabet if not t.startswith(SUFFIX)}

    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_WORDS]
    # A word with a character left out of the alphabet cannot be split into known pieces: skip it.
    ranked = [(w, c) for w, c in ranked if len(w) > 1 and all(ch in known_chars for ch in w)]
    symbols = [[w[0]] + [SUFFIX + ch for ch in w[1:]] for w, _ in ranked]
    freqs = [c for _, c in ranked]

    pair_counts: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}
    for i, syms in enumerate(symbols):
        for pair in zip(syms, syms[1:], strict=False):
            pair_counts[pair] = pair_counts.get(pair, 0) + freqs[i]
            where.setdefault(pair, set()).add(i)
    # Max-heap with lazy deletion: an entry is live only while its count is still the pair's count.
    heap = [(-n, a, b) for (a, b), n in pair_counts.items()]
    heapq.heapify(heap)

    while len(vocab) < vocab_size and heap:
        neg, a, b = heapq.heappop(heap)
        if pair_counts.get((a, b), 0) != -neg:
            continue
        if -neg < MIN_PAIR_COUNT:
            break
        merged = a + b[len(SUFFIX) :]
        if merged not in seen:
            seen.add(merged)
            vocab.append(merged)
        changed: set[tuple[str, str]] = set()
        for i in where.pop((a, b)):
            new, spots = _merge(symbols[i], a, b, merged)
            if not spots:
                continue  # an earlier merge already consumed this word's (a, b)
            freq = freqs[i]
            # Only the pairs touching a merged spot change; a pair between two spots is counted once.
            deltas: list[tuple[tuple[str, str], int]] = []
            last = len(new) - 1
            for k, j in enumerate(spots):
                deltas.append(((a, b), -freq))
                if j > 0:
                    if k > 0 and spots[k - 1] == j - 1:
                        deltas += [((b, a), -freq), ((merged, merged), freq)]
                    else:
                        deltas += [((new[j - 1], a), -freq), ((new[j - 1], merged), freq)]
                if j < last and not (k + 1 < len(spots) and spots[k + 1] == j + 1):
                    deltas += [((b, new[j + 1]), -freq), ((merged, new[j + 1]), freq)]
            for pair, delta in deltas:
                pair_counts[pair] = pair_counts.get(pair, 0) + delta
                changed.add(pair)
                if delta > 0:
                    where.setdefault(pair, set()).add(i)
            symbols[i] = new
        pair_counts.pop((a, b), None)
        for pair in changed:  # the heap orders by (count, pair), so push order does not matter
            n = pair_counts.get(pair, 0)
            if n > 0:
                heapq.heappush(heap, (-n, *pair))
            else:
                pair_counts.pop(pair, None)
    return vocab


def _merge(syms: list[str], a: str, b: str, merged: str) -> tuple[list[str], list[int]]:
    """``syms`` with every adjacent (a, b) replaced by ``merged``, left to right, and where they now sit."""
    out: list[str] = []
    spots: list[int] = []
    i, n = 0, len(syms)
    while i < n:
        if i + 1 < n and syms[i] == a and syms[i + 1] == b:
            spots.append(len(out))
            out.append(merged)
            i += 2
        else:
            out.append(syms[i])
            i += 1
    return out, spots
