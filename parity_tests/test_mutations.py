"""Mutation check that stays: convention bugs, planted one at a time, are caught by the suite's
own checks.

Each ``Mutation`` names a bug, plants it by targeted monkeypatching (pytest's ``monkeypatch``,
undone after the test), and runs the very helper a real test of the suite runs -- the parity
comparison ``reports.harness.compare_case``, the gradient check of ``test_gradcheck.py``, the
independent loss check of ``test_own_loss.py``, the task checks of ``test_tasks.py``, the
gate-direction and initializer checks of ``test_conventions.py``, the trajectory comparison of
``test_training.py``, the subnormal-floor rule of ``test_parity.py`` -- on the smallest case that
exposes the bug. The test passes only if that check raises an ``AssertionError`` with the
expected message under the patch, so each test id proves one bug is caught; ``suite_test``
names the test of the suite that would fail. ``test_check_passes_unmutated`` is the positive
control: every check used here passes on the real code, so "caught" never means "the check
always fails". ``reports.harness`` caches results and adapters per (case, framework, dtype): the
caches are cleared before and after each patched run, and no result is shared with the other pytest
processes in between (``harness.isolated``), so a patched result or adapter never leaks into another test.

The list holds the bugs planted by hand when the suite was first tested (issue 9: a Keras
LSTM gate swap, a dropped forget gate in the NumPy LSTM backward, an untransposed torch
SimpleRNN ``Wh``, torch ``half_sse`` without its 1/2, a broken reset-before GRU backward, torch's
GRU gates read in canonical order; and the ones that were not caught then: the harness dropping
the recurrent state quantities, binary addition without the carry, ``to_gates`` / ``from_gates``
swapped, ``takes_logits`` false for BCE, a zero gradient accepted by the gradient check), task
generators that stop computing their definition, and at least one bug per row of the README's
table "Conventions that differ, and where they are handled".

Why monkeypatching and not a mutation tool (mutmut, cosmic-ray): those mutate source text at
random and rerun the test suite per mutant; on this code a suite run that imports TensorFlow and
torch takes minutes on the project's 2 cores, so even a few hundred mutants take hours, and
most random mutants (an operator flipped in a docstring-level helper) say nothing about the
conventions this suite exists for. A targeted patch plants exactly the bug a port between
frameworks makes, and the whole module runs in well under a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import impl_tf  # noqa: F401  (selects the TensorFlow backend before keras is imported)

# isort: split
import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import impl_tf.cnn
import impl_tf.losses
import impl_tf.model
import impl_tf.weights
import impl_torch.gru
import impl_torch.losses
import impl_torch.model
import impl_torch.recurrent
import impl_torch.rnn
import impl_torch.weights
import reference_numpy.cnn
import reference_numpy.gru
import reference_numpy.lstm
from parity_tests import test_conventions as conventions_tests
from parity_tests import test_gradcheck as gradcheck_tests
from parity_tests import test_own_loss as own_loss_tests
from parity_tests import test_parity as parity_checks
from parity_tests import test_tasks as task_tests
from parity_tests import test_weights as weight_tests
from reference_numpy import conv, data, initializers, losses, specs
from reference_numpy.cases import CASES_BY_NAME
from reports import harness, training

# -- the checks (each one is what a test of the suite runs) ---------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], None]
    suite_test: str          # the test of the suite that runs this check


def parity(case: str, pair: tuple[str, str], dtype: str = "float64") -> Check:
    return Check(f"parity:{case}:{'-'.join(pair)}:{dtype}",
                 lambda: harness.assert_rows_pass(harness.compare_case(case, pair, dtype)),
                 f"test_parity.py::test_parity[{case}-{'-'.join(pair)}-{dtype}]")


def gradcheck(case: str, wrt: str, kind: str = "loss") -> Check:
    test = "test_model_loss_gradient" if kind == "loss" else "test_model_vjp"
    return Check(f"gradcheck:{case}:{wrt}:{kind}",
                 lambda: gradcheck_tests.check_model_gradient(CASES_BY_NAME[case], wrt, kind),
                 f"test_gradcheck.py::{test}[{case}-{wrt}]")


def own_loss(case: str) -> Check:
    return Check(f"own_loss:{case}", lambda: own_loss_tests.assert_own_loss_everywhere(CASES_BY_NAME[case]),
                 f"test_own_loss.py::test_model_loss_is_the_frameworks_own_loss_on_its_logits[{case}-*]")


def trajectory(case: str, frameworks: tuple[str, ...], steps: int = 2) -> Check:
    def run():
        rows = training.trajectory_rows(CASES_BY_NAME[case], steps=steps, lr=0.125, frameworks=frameworks)
        harness.assert_rows_pass(rows)
    return Check(f"trajectory:{case}:{'-'.join(frameworks)}", run,
                 f"test_training.py::test_sgd_trajectories_agree[float64-{case}]")


TASK_BINARY_ADDITION = Check("task:binary_addition", task_tests.check_binary_addition_task,
                             "test_tasks.py::test_binary_addition_bits_add_up[0-8]")
TASK_NOISY_SINE = Check("task:noisy_sine", task_tests.check_noisy_sine_task,
                        "test_tasks.py::test_noisy_sine_is_a_sine_window_and_its_next_value[0]")
GATE_DIRECTION = Check("gate_direction", conventions_tests.check_gate_permutation_direction,
                       "test_conventions.py::test_gate_permutation_direction")
INITIALIZERS = Check("initializers", conventions_tests.check_initializers_follow_the_notes,
                     "test_conventions.py::test_initializers_follow_the_notes_not_keras")
SUBNORMAL_FLOOR_RULE = Check("subnormal_floor_rule", lambda: parity_checks.check_subnormal_floor("float32"),
                             "test_parity.py::test_only_differences_below_the_smallest_normal_number_pass_by_the_floor")

# -- the patches ----------------------------------------------------------------------------


def wrap(monkeypatch, owner, name: str, wrapper) -> None:
    """Replace ``owner.name`` by ``wrapper(original)``."""
    monkeypatch.setattr(owner, name, wrapper(getattr(owner, name)))


def relink(monkeypatch, module, change) -> None:
    """A framework's ``weights.param_map`` whose links pass through ``change(link, spec)``."""
    def wrapper(original):
        def param_map(*args):
            spec = args[-1]
            return [change(link, spec) for link in original(*args)]
        return param_map
    wrap(monkeypatch, module, "param_map", wrapper)


def keras_lstm_gates_swapped(mp):
    """Keras's LSTM blocks read as (i, c, f, o): the forget gate and the candidate swapped."""
    mp.setitem(specs.GATE_ORDERS["lstm"], "keras", ("i", "g", "f", "o"))


def numpy_lstm_backward_without_forget_gate(mp):
    """``dc_{t-1} = dc`` instead of ``dc * f``."""
    def wrapper(original):
        def step_backward(self, dstate, cache, P, dax_out):
            da, ds, grads = original(self, dstate, cache, P, dax_out)
            f = cache[3]                                       # (h_prev, c_prev, i, f, g, o, tanh_c)
            return da, ds | {"c": ds["c"] / f}, grads
        return step_backward
    wrap(mp, reference_numpy.lstm.LSTM, "step_backward", wrapper)


def torch_rnn_wh_untransposed(mp):
    """torch's ``weight_hh`` loaded with ``Wh`` as it is (a square 4x4: the shapes still fit)."""
    relink(mp, impl_torch.weights, lambda link, spec: (
        weight_tests.transposed_once_more(link, "to_torch", "from_torch", "grad_from_torch")
        if link.canonical == ("Wh",) else link))


def torch_half_sse_without_half(mp):
    mp.setitem(impl_torch.losses.LOSSES, "half_sse", lambda y, d: F.mse_loss(y, d, reduction="sum") / y.shape[0])


def numpy_reset_before_gru_backward_broken(mp):
    """reset_after=False: the ``d(r h) * r`` term dropped from ``dh_{t-1}``."""
    def wrapper(original):
        def step_backward(self, dstate, cache, P, dax_out):
            dax, ds, grads = original(self, dstate, cache, P, dax_out)
            if self.reset_after:
                return dax, ds, grads
            H, (_, _, z, r, n) = self.hidden, cache                # (h_prev, ah, z, r, n)
            dan = dstate["h"] * (1.0 - z) * (1.0 - n * n)
            drh = dan @ P["Wh"][:, 2 * H:].T
            return dax, {"h": ds["h"] - drh * r}, grads
        return step_backward
    wrap(mp, reference_numpy.gru.GRU, "step_backward", wrapper)


def torch_gru_gates_in_canonical_order(mp):
    """torch's GRU blocks read as (z, r, n), the canonical order, instead of (r, z, n)."""
    mp.setitem(specs.GATE_ORDERS["gru"], "torch", ("z", "r", "n"))


def harness_drops_state_quantities(mp):
    def wrapper(original):
        def quantities(*args, **kwargs):
            return {q: v for q, v in original(*args, **kwargs).items()
                    if not q.startswith(("final:", "grad_state:", "vjp_state:"))}
        return quantities
    wrap(mp, harness, "quantities", wrapper)


def binary_addition_without_carry(mp):
    def wrapper(original):
        def binary_addition(seed, n=100, bits=8):
            x, _, (a, b) = original(seed, n, bits)
            d = ((a ^ b)[:, None] // 2 ** np.arange(bits) % 2)[:, :, None].astype(np.float64)
            return x, d, (a, b)
        return binary_addition
    wrap(mp, data, "binary_addition", wrapper)


def noisy_sine_target_is_the_last_input(mp):
    def wrapper(original):
        def noisy_sine(*args, **kwargs):
            x, _ = original(*args, **kwargs)
            return x, x[:, -1].copy()
        return noisy_sine
    wrap(mp, data, "noisy_sine", wrapper)


def gate_functions_swapped(mp):
    to_gates, from_gates = specs.to_gates, specs.from_gates
    mp.setattr(specs, "to_gates", from_gates)
    mp.setattr(specs, "from_gates", to_gates)


def takes_logits_false_for_bce(mp):
    """The one shared definition, wrong in all three frameworks: BCE read from sigmoid(u)."""
    def wrong(name):
        return name == "softmax_cross_entropy"
    for module in (losses, impl_torch.model, impl_tf.model):
        mp.setattr(module, "takes_logits", wrong)


def numpy_initial_state_gradient_zeroed(mp):
    gradcheck_tests.zeroed_state_gradient(mp, "state:h")


# README table, one row (or more) each


def torch_linear_weight_reshaped(mp):
    """Dense layout: ``W (in, out)`` reshaped to ``(out, in)`` instead of transposed (shapes fit)."""
    def change(link, spec):
        if len(link.canonical) == 1 and link.canonical[0].startswith("W") and link.torch[0].endswith(".weight"):
            return replace(link, to_torch=lambda a: (a.reshape(a.shape[::-1]),),
                           from_torch=lambda t: (t.reshape(t.shape[::-1]),))
        return link
    relink(mp, impl_torch.weights, change)


def keras_loss_arguments_in_torch_order(mp):
    """Keras's cross-entropy called as loss(u, d), torch's (input, target) order."""
    original = impl_tf.losses.LOSSES["softmax_cross_entropy"]

    def swapped(dtype):
        loss = original(dtype)
        return lambda d, u: loss(u, d)
    mp.setitem(impl_tf.losses.LOSSES, "softmax_cross_entropy", swapped)


def keras_loss_in_default_dtype(mp):
    """``MeanSquaredError()`` without the model's dtype: float32 for a float64 model."""
    mp.setitem(impl_tf.losses.LOSSES, "mse", lambda dtype: keras.losses.MeanSquaredError())


def keras_bce_from_probabilities(mp):
    """``BinaryCrossentropy(from_logits=False)`` handed the logits."""
    mp.setitem(impl_tf.losses.LOSSES, "sigmoid_binary_cross_entropy",
               lambda dtype: keras.losses.BinaryCrossentropy(from_logits=False, dtype=dtype))


def numpy_mse_as_half_sum(mp):
    """The reference's "mse" computed as the notes' 1/2 sum of squares (both directions)."""
    mp.setitem(losses.FORWARD, "mse", losses.half_sse)
    mp.setitem(losses.BACKWARD, "mse", losses.half_sse_backward)


def matched_lr_not_float32_exact(mp):
    """The matched SGD run at lr = 0.1, which Keras stores as float32 0.10000000149."""
    sgd = specs.OptimizerSpec
    mp.setattr(training, "OptimizerSpec", lambda name, lr, **kw: sgd(name, 0.1, **kw))


def xavier_as_keras_glorot(mp):
    """Xavier drawn like Keras's glorot_normal: std sqrt(2 / (fan_in + fan_out)), truncated at 2 std."""
    def wrapper(original):
        def init_params(spec, seed, method="xavier", **kwargs):
            params = original(spec, seed, method, **kwargs)
            if method != "xavier":
                return params
            for name, W in params.items():
                if W.ndim == 2:
                    fan_in, fan_out = W.shape
                    std = np.sqrt(2.0 / (fan_in + fan_out))
                    params[name] = np.clip(W * np.sqrt(fan_in) * std, -2 * std, 2 * std).astype(W.dtype)
            return params
        return init_params
    wrap(mp, initializers, "init_params", wrapper)


def keras_kernel_height_width_swapped(mp):
    """OIHW -> (KW, KH, I, O) instead of HWIO (a square kernel: the shapes fit)."""
    mp.setattr(impl_tf.weights, "OIHW_TO_HWIO", (3, 2, 1, 0))
    mp.setattr(impl_tf.weights, "HWIO_TO_OIHW", (3, 2, 1, 0))


def keras_input_height_width_swapped(mp):
    """NCHW -> NWHC instead of NHWC at the Keras model's entry (square images: the shapes fit)."""
    mp.setattr(impl_tf.cnn, "NCHW_TO_NHWC", (0, 3, 2, 1))


def keras_flatten_rows_not_permuted(mp):
    mp.setattr(impl_tf.weights, "flatten_rows_to_keras", lambda W, chw: W)
    mp.setattr(impl_tf.weights, "flatten_rows_from_keras", lambda W, chw: W)


def same_padding_extra_pixel_before(mp):
    """The canonical "same" rule puts the odd extra pixel top / left (Keras: bottom / right)."""
    wrap(mp, specs, "same_padding", lambda original: lambda size, kernel, stride: original(size, kernel, stride)[::-1])


def numpy_max_pool_ties_to_the_last_maximum(mp):
    def wrapper(original):
        def pool2d_forward(x, kind, size, stride):
            z, (shape, kind_, size_, stride_, first_max) = original(x, kind, size, stride)
            if kind == "max":
                kh, kw = size
                col = conv.im2col(x, kh, kw, stride, conv.NO_PADS).reshape(-1, x.shape[1], kh * kw)
                first_max = kh * kw - 1 - np.argmax(col[..., ::-1], axis=-1)          # the last maximum
            return z, (shape, kind_, size_, stride_, first_max)
        return pool2d_forward
    wrap(mp, reference_numpy.cnn, "pool2d_forward", wrapper)


def torch_second_bias_loaded_with_b(mp):
    """torch's ``bias_hh`` loaded with ``b`` as well as ``bias_ih``: the layer adds 2b."""
    def change(link, spec):
        if len(link.torch) == 2:
            return replace(link, to_torch=lambda b, to=link.to_torch: (to(b)[0], to(b)[0]))
        return link
    relink(mp, impl_torch.weights, change)


def torch_optimizer_steps_the_redundant_bias(mp):
    mp.setattr(impl_torch.weights, "redundant_parameters", lambda spec: ())


def torch_reset_before_gru_resets_after(mp):
    """The hand-written reset_after=False GRU multiplies r after the recurrent product."""
    def _direction(self, x, h, d):
        H = self.hidden
        W_ih, W_hh = getattr(self, f"weight_ih_l0{d}"), getattr(self, f"weight_hh_l0{d}")
        ax = x @ W_ih.T + getattr(self, f"bias_ih_l0{d}")
        hs = []
        for t in range(x.shape[1]):
            ah = h @ W_hh.T
            z, r = torch.sigmoid(ax[:, t, H:2 * H] + ah[:, H:2 * H]), torch.sigmoid(ax[:, t, :H] + ah[:, :H])
            n = torch.tanh(ax[:, t, 2 * H:] + r * ah[:, 2 * H:])               # the bug: r * (h @ W)
            h = z * h + (1 - z) * n
            hs.append(h)
        return torch.stack(hs, dim=1), h
    mp.setattr(impl_torch.gru.GRUResetBefore, "_direction", _direction)


def torch_sigmoid_rnn_runs_tanh(mp):
    """The hand-written sigmoid SimpleRNN falls back to tanh (what nn.RNN offers)."""
    def _direction(self, x, h, d):
        W_ih, W_hh = getattr(self, f"weight_ih_l0{d}"), getattr(self, f"weight_hh_l0{d}")
        ax = x @ W_ih.T + getattr(self, f"bias_ih_l0{d}")
        hs = []
        for t in range(x.shape[1]):
            h = torch.tanh(ax[:, t] + h @ W_hh.T + getattr(self, f"bias_hh_l0{d}"))
            hs.append(h)
        return torch.stack(hs, dim=1), h
    mp.setattr(impl_torch.rnn.SigmoidRNN, "_direction", _direction)


def torch_many_to_one_reads_the_last_output(mp):
    """Bidirectional many-to-one head on ``output[:, -1]`` (backward half: after x_T only), not h_n."""
    def run(self, x, initial_state=None):
        hs, state = self.recurrent(x, initial_state)
        return self.head(hs if self.spec.return_sequences else hs[:, -1]), state
    mp.setattr(impl_torch.recurrent.RecurrentNet, "run", run)


def subnormal_floor_dropped(mp):
    mp.setattr(harness, "subnormal_floor", lambda dtype: 0.0)


def subnormal_floor_widened_to_eps(mp):
    mp.setattr(harness, "subnormal_floor", lambda dtype: float(np.finfo(dtype).eps))


# -- the list -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mutation:
    name: str
    patch: Callable
    check: Check
    match: str                   # what the check's AssertionError must say (a regex)
    rows: tuple[str, ...] = ()   # the rows of the README's convention table this bug belongs to


def disagree(*quantities: str) -> str:
    """The parity check's message, naming (one of) the quantities that must disagree."""
    return r"(?s)quantities disagree:.*(" + "|".join(quantities) + ")"


MUTATIONS = [
    # issue 9: caught when first planted
    Mutation("keras_lstm_gates_swapped", keras_lstm_gates_swapped,
             parity("lstm_last_h0_T1_N3_H4", ("numpy", "keras")), disagree(r"final:c\("), ("gate order",)),
    Mutation("numpy_lstm_backward_without_forget_gate", numpy_lstm_backward_without_forget_gate,
             gradcheck("lstm_last_h0_T1_N3_H4", "state:c"), "dL/dstate:c disagrees with central differences"),
    Mutation("torch_rnn_wh_untransposed", torch_rnn_wh_untransposed,
             parity("rnn_tanh_last_h0_T1_N3_H4", ("numpy", "torch")), disagree(r"final:h\("), ("Dense weight layout",)),
    Mutation("torch_half_sse_without_half", torch_half_sse_without_half,
             parity("mlp_sigmoid_half_sse", ("numpy", "torch")), disagree(r"loss\(\): .*max rel err 5.000e-01"),
             ('"mean squared error"',)),
    Mutation("numpy_reset_before_gru_backward_broken", numpy_reset_before_gru_backward_broken,
             gradcheck("gru_reset_before_last_h0_T1_N3_H4", "state:h"), "dL/dstate:h disagrees with central"),
    Mutation("torch_gru_gates_in_canonical_order", torch_gru_gates_in_canonical_order,
             parity("gru_last_h0_T1_N3_H4", ("numpy", "torch")), disagree(r"final:h\("), ("gate order",)),
    # issue 9: not caught when first planted
    Mutation("harness_drops_state_quantities", harness_drops_state_quantities,
             parity("lstm_last_h0_T1_N3_H4", ("numpy", "torch")), disagree(r"final:c\(missing\) vs \(missing\)")),
    Mutation("binary_addition_without_carry", binary_addition_without_carry,
             TASK_BINARY_ADDITION, r"targets are not a \+ b"),
    Mutation("gate_functions_swapped", gate_functions_swapped, GATE_DIRECTION,
             "to_gates: block 0 of the book's order must be gate f", ("gate order",)),
    Mutation("takes_logits_false_for_bce", takes_logits_false_for_bce, own_loss("mlp_tanh_bce"),
             r"(?s)\[numpy, sigmoid_binary_cross_entropy\].*\[torch, sigmoid_binary_cross_entropy\]",
             ("cross-entropy from logits",)),
    Mutation("numpy_initial_state_gradient_zeroed", numpy_initial_state_gradient_zeroed,
             gradcheck("rnn_sigmoid_last_bi_h0_T50_N1_H4", "state:h"),
             r"\(first 5 steps\): dL/dstate:h disagrees .* rel err 1.000e\+00"),
    # the tasks
    Mutation("noisy_sine_target_is_the_last_input", noisy_sine_target_is_the_last_input, TASK_NOISY_SINE,
             "the target is not the value one step after the window"),
    # the README's table, row by row
    Mutation("torch_linear_weight_reshaped", torch_linear_weight_reshaped,
             parity("mlp_tanh_mse", ("numpy", "torch")), disagree(r"output\("), ("Dense weight layout",)),
    Mutation("keras_loss_arguments_in_torch_order", keras_loss_arguments_in_torch_order,
             parity("mlp_sigmoid_ce", ("numpy", "keras")), disagree(r"loss\(\)"), ("loss argument order",)),
    Mutation("keras_loss_in_default_dtype", keras_loss_in_default_dtype,
             parity("mlp_tanh_mse", ("numpy", "keras")), disagree(r"loss\(\): .*max rel err \d.\d+e-0[78]"),
             ("loss dtype",)),
    Mutation("keras_bce_from_probabilities", keras_bce_from_probabilities,
             parity("mlp_tanh_bce", ("numpy", "keras")), disagree(r"loss\(\)"), ("cross-entropy from logits",)),
    # K = 1 outputs: on the K = 2 MLP cases the mean and the 1/2 sum coincide (1 / (N K) = 1 / (2 N))
    Mutation("numpy_mse_as_half_sum", numpy_mse_as_half_sum,
             parity("linear_regression", ("numpy", "torch")), disagree(r"loss\(\): .*max rel err 5.000e-01"),
             ('"mean squared error"',)),
    Mutation("matched_lr_not_float32_exact", matched_lr_not_float32_exact,
             trajectory("mlp_tanh_mse", ("numpy", "keras"), steps=5), disagree("train_param:W1"),
             ("optimizer hyperparameters",)),
    Mutation("xavier_as_keras_glorot", xavier_as_keras_glorot, INITIALIZERS, "xavier: sample std",
             ("Xavier / He init",)),
    Mutation("keras_kernel_height_width_swapped", keras_kernel_height_width_swapped,
             parity("cnn_simple_digits", ("numpy", "keras")), disagree(r"output\("), ("image layout",)),
    Mutation("keras_input_height_width_swapped", keras_input_height_width_swapped,
             parity("cnn_simple_digits", ("numpy", "keras")), disagree(r"output\("), ("image layout",)),
    Mutation("keras_flatten_rows_not_permuted", keras_flatten_rows_not_permuted,
             parity("cnn_simple_digits", ("numpy", "keras")), disagree(r"output\("), ("Flatten before Dense",)),
    Mutation("same_padding_extra_pixel_before", same_padding_extra_pixel_before,
             parity("cnn_same_stride2_even_kernel", ("numpy", "keras")), disagree(r"output\("),
             ('padding="same"',)),
    Mutation("numpy_max_pool_ties_to_the_last_maximum", numpy_max_pool_ties_to_the_last_maximum,
             parity("cnn_simple_digits", ("numpy", "torch")), disagree(r"grad_input\("), ("max-pool ties",)),
    Mutation("torch_second_bias_loaded_with_b", torch_second_bias_loaded_with_b,
             parity("rnn_tanh_last_h0_T1_N3_H4", ("numpy", "torch")), disagree(r"final:h\("),
             ("SimpleRNN / LSTM biases",)),
    Mutation("torch_optimizer_steps_the_redundant_bias", torch_optimizer_steps_the_redundant_bias,
             trajectory("rnn_binary_addition", ("numpy", "torch")), disagree("train_param:b"),
             ("SimpleRNN / LSTM biases",)),
    Mutation("torch_reset_before_gru_resets_after", torch_reset_before_gru_resets_after,
             parity("gru_reset_before_last_h0_T1_N3_H4", ("numpy", "torch")), disagree(r"final:h\("),
             ("GRU reset_after",)),
    Mutation("torch_sigmoid_rnn_runs_tanh", torch_sigmoid_rnn_runs_tanh,
             parity("rnn_sigmoid_last_h0_T1_N3_H4", ("numpy", "torch")), disagree(r"final:h\("),
             ("sigmoid SimpleRNN",)),
    Mutation("torch_many_to_one_reads_the_last_output", torch_many_to_one_reads_the_last_output,
             parity("rnn_tanh_last_bi_T50_N3_H1", ("numpy", "torch")), disagree(r"output\("),
             ("bidirectional many-to-one",)),
    Mutation("subnormal_floor_dropped", subnormal_floor_dropped,
             parity("rnn_sigmoid_last_bi_h0_T50_N1_H4", ("numpy", "keras"), "float32"), disagree(r"grad_state:h\("),
             ("subnormal results",)),
    Mutation("subnormal_floor_widened_to_eps", subnormal_floor_widened_to_eps, SUBNORMAL_FLOOR_RULE,
             "a difference of 2 tiny passed by the floor", ("subnormal results",)),
]
CHECKS = list({m.check.name: m.check for m in MUTATIONS}.values())


@pytest.fixture
def clean_cache():
    """Results and adapters computed under a patch must never be reused (nor earlier ones under it), nor
    shared with the other pytest processes (``harness.isolated``)."""
    with harness.isolated():
        yield


# Keras notices BCE handed sigmoid outputs under takes_logits_false_for_bce (and unwraps them)
@pytest.mark.filterwarnings("ignore:.*received `from_logits=True`:UserWarning")
@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_mutation_is_caught(mutation, monkeypatch, clean_cache):
    mutation.patch(monkeypatch)
    with pytest.raises(AssertionError, match=mutation.match):
        mutation.check.run()
    monkeypatch.undo()
    harness.clear_caches()


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_check_passes_unmutated(check):
    """Positive control: every check above passes on the real code."""
    check.run()


#: The rows of the README's table "Conventions that differ, and where they are handled".
CONVENTION_ROWS = ("Dense weight layout", "loss argument order", "loss dtype", "cross-entropy from logits",
                   '"mean squared error"', "optimizer hyperparameters", "Xavier / He init", "image layout",
                   "Flatten before Dense", 'padding="same"', "max-pool ties", "SimpleRNN / LSTM biases",
                   "gate order", "GRU reset_after", "sigmoid SimpleRNN", "bidirectional many-to-one",
                   "subnormal results")


def test_every_convention_row_has_a_mutation():
    covered = {row for m in MUTATIONS for row in m.rows}
    assert covered <= set(CONVENTION_ROWS), f"unknown rows: {sorted(covered - set(CONVENTION_ROWS))}"
    assert covered == set(CONVENTION_ROWS), f"rows without a mutation: {sorted(set(CONVENTION_ROWS) - covered)}"
