"""Tasks, generated from a seed, and the real data sets that ship inside scikit-learn.

Nothing here downloads anything.

    linear_task       the notes' ``d = 3x + 2 + 0.3 * noise``, x ~ U[0, 1)
    polynomial_task   the notes' ``d = -0.4x^3 + 1.6x^2 - 2.8x + 1 + 0.05 * noise``,
                      x ~ U[-2, 2)
    iris              150 x 4 features (standardized), 3 classes  (sklearn.datasets)
    digits            1797 8x8 images scaled to [0, 1], 10 classes (sklearn.datasets)
    binary_addition   the notes' RNN task: a + b bit by bit, least significant bit first;
                      x (N, 8, 2) the two input bits per step, d (N, 8, 1) the sum's bit
    noisy_sine        sequence regression: a window of a noisy sine wave -> its next value
    batches           seeded mini-batches over (x, y), the same for every framework's loop

Sequence-to-sequence tasks (token ids for ``Seq2SeqSpec``), each returning
``(src (N, S) int64, tgt (N, T) int64, src_vocab, tgt_vocab)``: rows of random lengths,
right-padded with 0 to the longest row of the batch; every target row ends with eos.
A ``Vocab`` maps symbols (one character each) to ids, with 0 <pad>, 1 <bos>, 2 <eos> reserved
(``Seq2SeqSpec``'s pad_id, bos_id, eos_id), the task's symbols from 3 on; ``len(vocab)`` is the
spec's vocabulary size.

    sequence_reversal  "abca" -> "acba" + eos: ``vocab - 3`` letters (a, b, c, ...), lengths
                       uniform in [min_len, max_len]; one Vocab for source and target
    digit_addition     "57+648" -> "705" + eos: two numbers of 1..max_digits digits each
                       (no leading zeros), their sum; source symbols 0-9 and +, target 0-9
"""

from __future__ import annotations

import numpy as np


def linear_task(seed: int, n: int = 100, noise: float = 0.3, w: float = 3.0, b: float = 2.0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1))                                       # (N, 1)
    d = w * x + b + noise * rng.standard_normal((n, 1))          # (N, 1)
    return x, d


def polynomial_task(seed: int, n: int = 100, noise: float = 0.05,
                    coeffs: tuple[float, ...] = (1.0, -2.8, 1.6, -0.4)):
    """``coeffs[i]`` multiplies ``x**i``."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1)) * 4.0 - 2.0                           # (N, 1)
    d = sum(c * x ** i for i, c in enumerate(coeffs))            # (N, 1)
    return x, d + noise * rng.standard_normal((n, 1))


def iris():
    """Standardized iris features ``(150, 4)`` float64 and labels ``(150,)`` int64."""
    from sklearn.datasets import load_iris

    data = load_iris()
    x = data.data.astype(np.float64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, data.target.astype(np.int64)


def digits():
    """8x8 digit images ``(1797, 1, 8, 8)`` in [0, 1] (NCHW) and labels ``(1797,)`` int64."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images / 16.0)[:, None, :, :].astype(np.float64), data.target.astype(np.int64)


def binary_addition(seed: int, n: int = 100, bits: int = 8):
    """The notes' binary addition (``binary_dim = 8``, ``a_int, b_int < largest_number / 2``):
    ``x[:, t] = (bit t of a, bit t of b)`` and ``d[:, t] = bit t of a + b``, with t = 0 the
    least significant bit (the notes walk the bits from the right), so the carry flows
    forward in time. Returns ``x (N, bits, 2)``, ``d (N, bits, 1)`` float64 and the integers
    ``(a, b)`` for checking."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2 ** (bits - 1), size=n)                           # (N,)
    b = rng.integers(0, 2 ** (bits - 1), size=n)                           # (N,)
    place = 2 ** np.arange(bits)                                           # (T,) LSB first
    bit = lambda v: (v[:, None] // place[None, :]) % 2                     # noqa: E731  (N, T)
    x = np.stack([bit(a), bit(b)], axis=-1).astype(np.float64)             # (N, T, 2)
    d = bit(a + b)[:, :, None].astype(np.float64)                          # (N, T, 1)
    return x, d, (a, b)


def noisy_sine(seed: int, n: int = 100, seq_len: int = 25, noise: float = 0.05,
               step: float = 0.25):
    """Windows of ``sin(step * t + phase) + noise`` (random phase per window) and the
    next clean value: ``x (N, T, 1)``, ``d (N, 1)``."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))                       # (N, 1)
    t = np.arange(seq_len + 1)[None, :]                                    # (1, T + 1)
    wave = np.sin(step * t + phase)                                        # (N, T + 1)
    x = wave[:, :seq_len] + noise * rng.standard_normal((n, seq_len))      # (N, T)
    return x[:, :, None], wave[:, seq_len:]                                # (N, T, 1), (N, 1)


# -- sequence-to-sequence tasks --------------------------------------------------

class Vocab:
    """Symbols <-> token ids: 0 ``<pad>``, 1 ``<bos>``, 2 ``<eos>``, then ``symbols`` in order
    (single characters, so a sequence is a string)."""

    PAD, BOS, EOS = 0, 1, 2
    SPECIALS = ("<pad>", "<bos>", "<eos>")

    def __init__(self, symbols):
        symbols = tuple(symbols)
        if not symbols or any(not isinstance(c, str) or len(c) != 1 for c in symbols) \
                or len(set(symbols)) != len(symbols):
            raise ValueError(f"symbols must be distinct single characters (at least one), got {symbols!r}")
        self.tokens = self.SPECIALS + symbols
        self.ids = {c: i for i, c in enumerate(symbols, start=len(self.SPECIALS))}
        self.pad_id, self.bos_id, self.eos_id = self.PAD, self.BOS, self.EOS

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"Vocab({''.join(self.tokens[len(self.SPECIALS):])!r})"

    def encode(self, text: str, eos: bool = False) -> list[int]:
        """The ids of ``text``'s symbols (and ``eos`` at the end if asked)."""
        unknown = sorted({c for c in text if c not in self.ids})
        if unknown:
            raise ValueError(f"symbols {unknown} are not in the vocabulary {self!r}")
        return [self.ids[c] for c in text] + ([self.EOS] if eos else [])

    def decode(self, ids) -> str:
        """The symbols of ``ids`` up to the first eos; pad and bos are skipped."""
        out = []
        for i in (int(i) for i in ids):
            if i == self.EOS:
                break
            if i not in (self.PAD, self.BOS):
                out.append(self.tokens[i])
        return "".join(out)

    def encode_batch(self, texts, eos: bool = False) -> np.ndarray:
        """``(N, L)`` int64, right-padded with 0 to the longest row."""
        rows = [self.encode(t, eos) for t in texts]
        out = np.full((len(rows), max(map(len, rows))), self.PAD, dtype=np.int64)   # (N, L)
        for n, row in enumerate(rows):
            out[n, :len(row)] = row
        return out

    def decode_batch(self, ids) -> list[str]:
        return [self.decode(row) for row in ids]


def sequence_reversal(seed: int, n: int = 100, min_len: int = 1, max_len: int = 6, vocab: int = 8):
    """Reverse a random string: ``src = "abca"``, ``tgt = "acba" + eos``. ``vocab`` is the vocabulary
    size (3 reserved ids + ``vocab - 3`` letters). Returns ``(src (N, S), tgt (N, S + 1), v, v)``."""
    if not 4 <= vocab <= 29:
        raise ValueError(f"vocab must be in [4, 29] (3 reserved ids + 1..26 letters), got {vocab}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    v = Vocab("abcdefghijklmnopqrstuvwxyz"[:vocab - 3])
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)                       # (N,)
    texts = ["".join(rng.choice(list(v.ids), size=k)) for k in lengths]
    return v.encode_batch(texts), v.encode_batch([t[::-1] for t in texts], eos=True), v, v


def digit_addition(seed: int, n: int = 100, max_digits: int = 3):
    """Add two decimal numbers: ``src = "57+648"``, ``tgt = "705" + eos``. Each number has a
    uniform number of digits in [1, max_digits], then uniform among the numbers of that many
    digits (no leading zeros; 0 is a 1-digit number). Returns ``(src (N, S), tgt (N, T),
    src_vocab (14 ids: 0-9 and +), tgt_vocab (13 ids: 0-9))``."""
    if not 1 <= max_digits <= 17:
        raise ValueError(f"max_digits must be in [1, 17] (int64 sums), got {max_digits}")
    rng = np.random.default_rng(seed)

    def number():
        k = int(rng.integers(1, max_digits + 1))
        return int(rng.integers(0 if k == 1 else 10 ** (k - 1), 10 ** k))

    pairs = [(number(), number()) for _ in range(n)]
    src_vocab, tgt_vocab = Vocab("0123456789+"), Vocab("0123456789")
    src = src_vocab.encode_batch([f"{a}+{b}" for a, b in pairs])                # (N, S)
    tgt = tgt_vocab.encode_batch([str(a + b) for a, b in pairs], eos=True)      # (N, T)
    return src, tgt, src_vocab, tgt_vocab


# -- mini-batches ----------------------------------------------------------------

def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, epochs: int = 1,
            drop_last: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Mini-batches ``[(x_b, y_b), ...]`` for ``epochs`` passes over ``(x, y)``, each pass in a fresh
    seeded random order (``default_rng(seed).permutation`` once per epoch), the last batch of a pass
    smaller unless ``drop_last``. The one source every framework's training loop takes its batches
    from, so NumPy, torch and Keras see the same batches in the same order. ``x`` and ``y`` are
    indexed along their first axis (N); the batches are copies."""
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y must have the same number of rows (N), got {n} and {len(y)}")
    for name, value in (("batch_size", batch_size), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if drop_last and batch_size > n:
        raise ValueError(f"batch_size {batch_size} > N = {n} with drop_last: no batch at all")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(epochs):
        order = rng.permutation(n)                                             # (N,)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]                              # (B,)
            out.append((x[idx], y[idx]))
    return out
