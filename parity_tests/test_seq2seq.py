"""Seq2seq through the adapter protocol, the same in every framework.

The parity of logits, loss, attention and every gradient is in ``test_parity.py`` (the seq2seq
cases are ordinary cases there); the NumPy gradients against central differences in
``test_seq2seq_numpy.py``; the framework conventions in ``test_seq2seq_conventions.py``. Here:

* greedy decoding gives the same tokens in every framework, from random weights (every cell x
  attention case) and on the task batches (reversal, addition);
* the protocol's seq2seq rules: no input gradient for token ids, attention only with attention,
  ``target=`` required for teacher forcing and refused elsewhere, ``generate``'s ``max_len``;
* bad token input is refused before any framework sees it, with the same error in every
  framework (ids outside the vocabulary, negative or float ids, a target longer than the spec
  allows, ragged rows, padding in the middle, a target without its eos);

Training on token batches is compared by the generic helpers: 100-step SGD / Momentum / Adam
trajectories (``test_trajectories.py``, task ``seq2seq_reversal``) and SGD steps on every Keras
backend (``test_backends.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from reference_numpy.cases import SEQ2SEQ_CASES
from reference_numpy.initializers import init_params
from reference_numpy.specs import MLPSpec, OptimizerSpec, Seq2SeqSpec
from reports.harness import FRAMEWORKS, make_adapter

FW = tuple(FRAMEWORKS)
IDS = [c.name for c in SEQ2SEQ_CASES]


def adapters(case, dtype="float64"):
    return {fw: make_adapter(fw, case.spec, case.params(dtype), dtype) for fw in FW}


@pytest.mark.parametrize("case", SEQ2SEQ_CASES, ids=IDS)
def test_greedy_decodes_are_identical_in_every_framework(case):
    src, _, _ = case.batch_data()
    decoded = {fw: a.generate(src, max_len=8) for fw, a in adapters(case).items()}
    ref = decoded["numpy"]
    assert ref.dtype == np.int64 and ref.shape[0] == src.shape[0] and 1 <= ref.shape[1] <= 8
    for fw, ids in decoded.items():
        np.testing.assert_array_equal(ids, ref, err_msg=f"{case.name}: {fw} decodes differently from numpy")


def test_greedy_decoding_is_not_trivial_on_the_cases():
    """Decodes that stop at once or are all one token would make the test above vacuous."""
    lengths, distinct = [], set()
    for case in SEQ2SEQ_CASES:
        ids = make_adapter("numpy", case.spec, case.params()).generate(case.batch_data()[0], max_len=8)
        lengths.append(ids.shape[1])
        distinct |= set(np.unique(ids).tolist())
    assert max(lengths) == 8 and len(distinct) >= 6


SPEC = Seq2SeqSpec("gru", src_vocab=7, tgt_vocab=8, embed=3, hidden=4, attention="dot", max_len=5)
SRC = np.array([[3, 4, 5], [6, 3, 0]], dtype=np.int64)
TGT = np.array([[4, 5, 2], [3, 2, 0]], dtype=np.int64)


@pytest.fixture(scope="module")
def models():
    params = init_params(SPEC, seed=3, bias="normal")
    return {fw: make_adapter(fw, SPEC, params) for fw in FW}


@pytest.mark.parametrize("framework", FW)
def test_protocol_rules(models, framework):
    m = models[framework]
    res = m.loss_and_grads(SRC, TGT)
    assert res.grad_input is None and res.grad_state == {}
    assert set(res.grads) == set(SPEC.param_shapes())
    assert m.forward(SRC, target=TGT).shape == (2, 3, 8)
    assert m.final_state(SRC, target=TGT) == {}
    att = m.attention(SRC, TGT)
    assert att.shape == (2, 3, 3) and np.all(att[1, :, 2] == 0)          # padded source position
    np.testing.assert_allclose(att.sum(axis=-1), 1.0, rtol=0, atol=1e-15)
    assert m.generate(SRC).shape[1] <= SPEC.max_len                      # the spec's max_len by default
    with pytest.raises(TypeError, match="needs the target ids for teacher forcing"):
        m.forward(SRC)
    with pytest.raises(ValueError, match="takes no initial_state"):
        m.forward(SRC, {"h": np.zeros((2, 4))}, target=TGT)
    plain = make_adapter(framework, MLPSpec(3, (4,), 2), init_params(MLPSpec(3, (4,), 2), seed=0))
    with pytest.raises(TypeError, match="target= is for Seq2Seq models"):
        plain.forward(np.ones((2, 3)), target=TGT)
    with pytest.raises(TypeError, match="generate is for Seq2Seq models"):
        plain.generate(np.ones((2, 3)), 3)
    with pytest.raises(ValueError, match="attention weights exist for a Seq2SeqSpec with attention"):
        plain.attention(np.ones((2, 3)), TGT)


def test_attention_is_refused_without_attention():
    spec = Seq2SeqSpec("lstm", 7, 8, 3, 4)
    for fw in FW:
        m = make_adapter(fw, spec, init_params(spec, seed=0))
        with pytest.raises(ValueError, match="with attention=None"):
            m.attention(SRC, TGT)


BAD = {
    "id outside the vocabulary": (np.array([[3, 7, 0]]), TGT[:1], ValueError,
                                  r"src\[0\] has id 7 at position 1, outside the vocabulary \[0, 7\)"),
    "negative id": (np.array([[3, -1, 0]]), TGT[:1], ValueError, r"src\[0\] has a negative id -1"),
    "float ids": (SRC.astype(np.float64), TGT, TypeError, "src must hold token ids of dtype int64, got float"),
    "int32 ids": (SRC, TGT.astype(np.int32), TypeError, "tgt must hold token ids of dtype int64"),
    "target longer than allowed": (SRC, np.array([[3, 4, 5, 6, 7, 2], [3, 2, 0, 0, 0, 0]]), ValueError,
                                   "tgt has length 6, longer than the allowed 5"),
    "ragged rows": ([[3, 4, 5], [6]], TGT, ValueError, "src has rows of different lengths"),
    "padding in the middle": (np.array([[3, 0, 5], [6, 3, 0]]), TGT, ValueError,
                              r"src\[0\] has padding in the middle \(position 1\) followed by token 5"),
    "target without eos": (SRC, np.array([[4, 5, 6], [3, 2, 0]]), ValueError, r"tgt\[0\] does not end with eos_id 2"),
    "batch sizes differ": (SRC, TGT[:1], ValueError, "src and tgt must have the same batch size"),
    "all padding": (np.array([[0, 0, 0], [6, 3, 0]]), TGT, ValueError, r"src\[0\] is all padding"),
}


@pytest.mark.parametrize("what", BAD)
def test_bad_token_input_gives_the_same_error_everywhere(models, what):
    src, tgt, error, message = BAD[what]
    src, tgt = (np.asarray(a, dtype=np.int64) if isinstance(a, np.ndarray) and a.dtype == int else a
                for a in (src, tgt))
    for m in models.values():
        with pytest.raises(error, match=message):
            m.forward(src, target=tgt)
        with pytest.raises(error, match=message):
            m.loss_and_grads(src, tgt)
    before = models["numpy"].get_params()
    models["numpy"].set_optimizer(OptimizerSpec(lr=0.125))
    with pytest.raises(error, match=message):
        models["numpy"].train_step(src, tgt)
    after = models["numpy"].get_params()
    assert all(np.array_equal(before[n], after[n]) for n in before)


@pytest.mark.parametrize("max_len, error", [(0, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_max_len(models, max_len, error):
    for m in models.values():
        with pytest.raises(error, match="max_len must be a positive int"):
            m.generate(SRC, max_len)

