"""The conventions that differ between torch and Keras, as data: the one source of the README's
table ("Conventions that differ, and where they are handled") and of the report page's
per-family lists.

Each convention says what torch does, what Keras does, where the suite handles it, which
model families it applies to, and the pytest node ids of the tests that pin it (each fails if
the convention is handled wrongly, or if a new framework release changes it).
``parity_tests/test_report_conventions.py`` checks that README.md holds exactly
``markdown_table()`` and that every node id names an existing test.

    python -m reports conventions              # print the README table (paste it into README.md)
    python -m reports conventions --family cnn # the conventions that apply to one family
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("mlp", "regression", "cnn", "rnn", "lstm", "gru", "seq2seq")
ALL = FAMILIES
RECURRENT = ("rnn", "lstm", "gru")
README_HEADING = "## Conventions that differ, and where they are handled"
HEADER = ("convention", "torch", "Keras", "handled in", "pinned by")


@dataclass(frozen=True)
class Convention:
    name: str
    torch: str
    keras: str
    handled_in: str
    families: tuple[str, ...]
    tests: tuple[str, ...]          # pytest node ids, relative to the repository root

    def cells(self) -> tuple[str, ...]:
        return (self.name, self.torch, self.keras, self.handled_in, ", ".join(f"`{t}`" for t in self.tests))


T_CONV = "parity_tests/test_conventions.py::"
T_CNN = "parity_tests/test_cnn_conventions.py::"
T_RNN = "parity_tests/test_rnn_conventions.py::"
T_LOSS_INIT = "parity_tests/test_loss_and_init_conventions.py::"
T_S2S = "parity_tests/test_seq2seq_conventions.py::"
T_OPT = "parity_tests/test_optimizers.py::"
T_REG = "parity_tests/test_regularization.py::"
T_BACK = "parity_tests/test_backends.py::"
DENSE_NETS = ("mlp", "cnn")
S2S = ("seq2seq",)

CONVENTIONS: tuple[Convention, ...] = (
    Convention("Dense weight layout", "`Linear.weight` is `(out, in)`, computes `x @ W.T + b`",
               "`kernel` is `(in, out)`, the canonical layout",
               "`impl_torch/weights.py` (transpose), `impl_tf/weights.py` (none)", ALL,
               (T_CONV + "test_torch_linear_stores_weight_transposed",
                T_CONV + "test_keras_dense_stores_kernel_in_canonical_layout",
                "parity_tests/test_weights.py::test_broken_mapping_round_trips_but_fails_parity")),
    Convention("loss argument order", "`loss(input, target)`", "`loss(y_true, y_pred)`",
               "`impl_*/losses.py`, `impl_*/model.py`", ALL,
               (T_CONV + "test_loss_argument_order_differs",)),
    Convention("loss dtype", "follows the inputs", "every `Loss` casts to its `dtype`, default floatx = float32",
               "`impl_tf/losses.py` builds each loss with the model's dtype", ALL,
               (T_CONV + "test_keras_loss_casts_to_float32_unless_given_a_dtype",)),
    Convention("cross-entropy from logits", "`F.cross_entropy` takes logits; int or probability targets",
               "`from_logits=True`; `Sparse...` for int labels", "`impl_*/losses.py`; the models expose `logits(x)`",
               ("mlp", "cnn", "rnn", "lstm", "gru", "seq2seq"),
               (T_LOSS_INIT + "test_cross_entropy_from_logits_in_both_with_int_or_probability_targets",)),
    Convention('"mean squared error"', "mean over every element", "mean over every element",
               "the notes' `1/2 * sum` is its own loss, `half_sse`", ("mlp", "regression", "cnn", *RECURRENT),
               (T_CONV + "test_mean_squared_error_is_a_mean_in_both_and_half_sum_in_the_notes",)),
    Convention("optimizer hyperparameters", "Python floats",
               "stored as float32 variables even for float64 models (`0.1` -> `0.10000000149`)",
               "matched runs use float32-exact learning rates (0.125, 2^-k)", ALL,
               (T_CONV + "test_keras_keeps_learning_rate_in_float32_even_for_float64_models",)),
    Convention("Xavier / He init", "--", "`glorot_normal` is `sqrt(2/(in+out))`, truncated",
               "`reference_numpy/initializers.py` follows the notes (`1/sqrt(in)`, `sqrt(2/in)`)", ALL,
               (T_LOSS_INIT + "test_notes_xavier_and_he_are_not_keras_glorot_and_he_normal",)),
    Convention("image layout", "NCHW, `Conv2d.weight` OIHW = canonical",
               "NHWC, `Conv2D.kernel` HWIO = OIHW transposed (2, 3, 1, 0)",
               "`impl_tf/cnn.py` transposes the input once; `impl_tf/weights.py` the kernels", ("cnn",),
               (T_CNN + "test_keras_kernel_is_the_canonical_filter_transposed_2_3_1_0",
                T_CNN + "test_where_each_canonical_cnn_array_lives")),
    Convention("Flatten before Dense", "NCHW flattens in (C, H, W) order = canonical",
               "NHWC flattens in (H, W, C) order", "`impl_tf/weights.py` permutes the first Dense kernel's rows",
               ("cnn",), (T_CNN + "test_flatten_order_needs_the_first_dense_rows_permuted",
                          T_CNN + "test_flatten_row_permutation_is_chw_to_hwc")),
    Convention('`padding="same"`',
               "matches Keras at stride 1, raises at stride > 1; a symmetric `k//2` pad is wrong at stride 2",
               "odd extra pixel bottom / right", "`specs.same_padding`; torch pads explicitly (`nn.ZeroPad2d`)",
               ("cnn",), (T_CNN + "test_keras_same_at_stride_2_is_an_asymmetric_pad_not_k_div_2",
                          T_CNN + "test_torch_same_padding_refuses_stride_2",
                          T_CNN + "test_torch_same_matches_keras_same_at_stride_1_even_kernel")),
    Convention("max-pool ties", "whole gradient to the first maximum (row-major)", "the same",
               "`reference_numpy/conv.py` does the same (`np.argmax`)", ("cnn",),
               (T_CNN + "test_max_pool_ties_route_the_gradient_to_the_first_maximum",
                T_CNN + "test_max_pool_ties_inside_the_cnn_models_agree")),
    Convention("SimpleRNN / LSTM biases",
               "two (`bias_ih`, `bias_hh`), only the sum matters: SimpleRNN(16) on 2 inputs is 320 parameters",
               "one: 304 (the notes' summary)",
               "`impl_torch/weights.py` loads `(b, 0)`, reads the sum; the torch optimizer skips `bias_hh` "
               "(stepping it would move `b` twice)", ("rnn", "lstm", "seq2seq"),
               (T_RNN + "test_torch_two_biases_only_their_sum_is_the_canonical_b",
                T_RNN + "test_simple_rnn_16_on_2_inputs_counts_304_in_keras_and_320_in_torch",
                T_RNN + "test_torch_optimizer_stepping_both_biases_moves_b_twice_as_fast")),
    Convention("gate order", "LSTM (i, f, g, o); GRU (r, z, n)",
               "LSTM (i, f, c, o); GRU (z, r, h) -- canonical (i, f, g, o) and (z, r, n)",
               "one table of the three orders (`GATE_ORDERS`, `reference_numpy/specs.py`); each `weights.py` "
               "permutes blocks by name from it", ("lstm", "gru", "seq2seq"),
               (T_RNN + "test_swapping_two_gates_in_the_mapping_breaks_parity",
                T_RNN + "test_torch_gru_gate_order_is_r_z_n_and_canonical_is_z_r_n",
                T_RNN + "test_keras_gru_gate_order_is_z_r_h")),
    Convention("GRU `reset_after`", "`nn.GRU` is `reset_after=True` only; `reset_after=False` written by hand",
               "both; `True` keeps the biases in one `(2, 3H)` variable",
               "`impl_torch/gru.py` (`GRUResetBefore`), `impl_tf/weights.py`", ("gru", "seq2seq"),
               (T_RNN + "test_the_two_gru_formulations_differ",
                T_RNN + "test_keras_gru_reset_after_bias_is_2_by_3H_rows_input_then_recurrent")),
    Convention("sigmoid SimpleRNN", "`nn.RNN` has tanh / relu only; written by hand", "built in",
               "`impl_torch/rnn.py` (`SigmoidRNN`)", ("rnn",),
               (T_RNN + "test_torch_has_no_sigmoid_rnn_and_no_reset_before_gru",)),
    Convention("bidirectional many-to-one",
               "`output[:, -1]`'s backward half has seen x_T only; the last state is `h_n`",
               "`Bidirectional(return_sequences=False)` returns the final states",
               "both `recurrent.py` files read the final states", RECURRENT,
               (T_RNN + "test_bidirectional_last_state_is_h_n_not_output_at_the_last_step",)),
    Convention("subnormal results", "kept", "TensorFlow's CPU kernels flush them to zero (float32 and float64)",
               "`reports/harness.py`: an absolute difference below `finfo.tiny` is not a difference", ALL,
               (T_CONV + "test_tensorflow_flushes_subnormal_results_to_zero_numpy_and_torch_keep_them",
                "parity_tests/test_parity.py::test_only_differences_below_the_smallest_normal_number_pass_by_the_floor")),
    Convention("embedding padding row", "`padding_idx` zeroes that row's gradient (and initializes it to 0)",
               "`mask_zero=True` reserves id 0 and masks downstream; the row trains like any other",
               "`impl_*/seq2seq.py`: the source uses `padding_idx` / `mask_zero` (its canonical gradient is 0 "
               "anyway); the target uses neither: the decoder reads pad after eos, and `padding_idx` would "
               "zero E_tgt[pad]'s VJP (0.58 relative off)", S2S,
               (T_S2S + "test_pad_row_gradients_source_is_exactly_zero_everywhere",
                T_S2S + "test_torch_padding_idx_on_the_target_would_break_the_vjp_not_the_loss")),
    Convention("embedding gradient", "a dense `(V, E)` tensor",
               "`IndexedSlices` on TensorFlow (`np.asarray` silently gives a 0-d object array)",
               "`impl_tf/weights.py` `dense`", S2S,
               (T_S2S + "test_keras_embedding_gradients_are_indexed_slices_made_dense",)),
    Convention("encoder over a padded batch",
               "`pack_padded_sequence(enforce_sorted=False)`: the state at each row's last real token, zeros "
               "at padded outputs (the hand-written reset-before GRU gathers at `length - 1`)",
               "a masked LSTM / GRU carries the state over padded steps; padded outputs repeat the last real one",
               "`impl_*/seq2seq.py`; attention weight exactly 0 at padding hides the outputs' difference", S2S,
               (T_S2S + "test_padding_is_invisible_to_packing_and_masking",
                T_S2S + "test_encoder_outputs_at_padded_steps_differ_and_do_not_matter")),
    Convention("mask propagation", "explicit (nothing is implicit)",
               "implicit only for calls with a single tensor argument: an RNN called with `initial_state=` "
               "silently runs unmasked (Keras 3.15)",
               "`impl_tf/seq2seq.py` passes `mask=` explicitly", S2S,
               (T_S2S + "test_keras_mask_zero_on_the_target_is_silently_dropped_by_initial_state",
                T_S2S + "test_keras_explicitly_masked_decoder_would_change_padded_logits_not_the_loss")),
    Convention("attention layers",
               "no Luong / Bahdanau layer (written out); `F.scaled_dot_product_attention` scales by "
               "1/sqrt(d) unless `scale=1.0`",
               "`Attention(use_scale=False, score_mode=\"dot\")` is Luong's dot; `AdditiveAttention(use_scale=True)`'s "
               "`scale` vector is Bahdanau's v", "`impl_*/seq2seq.py`, `impl_tf/weights.py`", S2S,
               (T_S2S + "test_scaled_dot_product_attention_scales_by_one_over_sqrt_d",
                T_S2S + "test_keras_additive_attention_scale_is_v",
                T_S2S + "test_canary_scaled_or_transposed_scores_break_parity")),
    Convention("attention mask", "`masked_fill(-inf)`: exactly 0",
               "the score minus 1e9 (65504 in float16): 0 by underflow; a masked score 1e9 above the real "
               "ones takes all the weight", "NumPy uses an exact mask (`np.where`)", S2S,
               (T_S2S + "test_keras_attention_masks_by_subtracting_1e9",
                T_S2S + "test_canary_dropping_the_attention_mask_breaks_parity")),
    Convention("Luong general score", "`nn.Linear(bias=False)` on the query, `weight = W_a.T`",
               "`Dense(use_bias=False)` on the query, `kernel = W_a` (on the keys it would be `W_a.T`)",
               "`impl_*/weights.py`", S2S,
               (T_S2S + "test_keras_general_score_w_a_on_the_query_side",)),
    Convention("SGD momentum", "`buf = mu buf + (1 - dampening) g` (buf = g at step 1), `w -= lr buf`; "
               "Nesterov `w -= lr (g + mu buf)`",
               "`m = mu m - lr g`, `w += m` (the notes' form, m = -lr buf); no dampening",
               "`OptimizerSpec.momentum_form`; `impl_tf/optimizers.py` reports m as the canonical buf", ALL,
               (T_OPT + "test_keras_momentum_variable_is_lr_times_torch_buffer",
                T_OPT + "test_torch_dampening_starts_the_buffer_at_the_first_gradient")),
    Convention("RMSprop / Adagrad eps and accumulator",
               "eps outside the sqrt (`g / (sqrt(h) + eps)`); RMSprop alpha 0.99, eps 1e-8; Adagrad h0 = 0, "
               "eps 1e-10",
               "eps inside (`g / sqrt(h + eps)`); RMSprop rho 0.9, eps 1e-7; Adagrad h0 = 0.1, eps 1e-7",
               "`OptimizerSpec.eps_placement`, `initial_accumulator`, `rho`", ALL,
               (T_OPT + "test_eps_inside_the_square_root_is_keras_outside_is_torch",
                T_OPT + "test_framework_defaults_differ_and_numpy_with_their_conventions_reproduces_each")),
    Convention("Adam bias correction", "`lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps)`, eps 1e-8",
               "folded into the step size: torch with eps / sqrt(1 - b2^t); eps 1e-7",
               "`OptimizerSpec.bias_correction`", ALL,
               (T_OPT + "test_adam_bias_correction_form_is_torch_with_eps_over_sqrt_of_one_minus_beta2_power",)),
    Convention("weight decay", "coupled L2 (`g += wd w`) except AdamW / `Adam(decoupled_weight_decay=True)`",
               "always decoupled (`w -= lr wd w`)", "`OptimizerSpec.weight_decay_mode`", ALL,
               (T_OPT + "test_coupled_and_decoupled_weight_decay",
                T_OPT + "test_plain_sgd_weight_decay_is_the_same_coupled_or_decoupled")),
    Convention("float32 hyperparameters beyond lr", "Python floats",
               "SGD momentum, Adam's betas in the bias corrections, weight_decay, Adagrad's h0 go through "
               "float32 (0.9 -> 0.8999999761581421); eps, rho, 1 - beta stay doubles",
               "`OptimizerSpec.float32_hyperparameters`; `OptimizerSpec.matched` uses float32-exact values", ALL,
               (T_OPT + "test_keras_rounds_hyperparameters_to_float32",
                T_OPT + "test_keras_epsilon_is_not_rounded_to_float32")),
    Convention("BatchNorm momentum", "`momentum=0.1` = weight of the new batch: `r = (1-m) r + m batch`",
               "`momentum=0.99` = weight of the old average: `r = k r + (1-k) batch`",
               "`BatchNorm.momentum` (torch's meaning); `impl_tf/regularization.py` passes `1 - momentum`",
               DENSE_NETS, (T_REG + "test_momentum_is_the_weight_of_the_new_batch_torch_as_is_keras_one_minus",)),
    Convention("BatchNorm eps", "1e-5", "1e-3", "`BatchNorm.eps`, given to both", DENSE_NETS,
               (T_REG + "test_eps_reaches_both_frameworks_and_the_defaults_differ_measurably",)),
    Convention("BatchNorm running variance", "batch variance x n/(n-1) (unbiased), no option",
               "batch variance as is (biased), no option",
               "`BatchNorm.running_var`; NumPy runs both; a framework refuses `train()` under the other; the "
               "harness compares `buffer:running_var*` only between frameworks of the case's convention",
               DENSE_NETS,
               (T_REG + "test_running_variance_torch_unbiased_keras_biased_factor_n_over_n_minus_1",
                T_REG + "test_running_variance_is_compared_only_between_frameworks_of_the_cases_convention")),
    Convention("L2 penalty", "none built in: `l2/2 sum W^2` by hand",
               "`L1L2(l2)` = `l2 sum W^2` (no 1/2), factors rounded to float32",
               "canonical `l1 sum abs(W) + l2/2 sum W^2` over every `W_k`; Keras gets `l2/2`", DENSE_NETS,
               (T_REG + "test_keras_l2_has_no_half_the_canonical_l2_maps_to_half",
                T_REG + "test_keras_rounds_l1_and_l2_to_float32_in_a_float64_model")),
    Convention("dropout", "`nn.Dropout(p)`: x 1/(1-p) in training, identity in `eval()`",
               "`Dropout(rate)`: the same; inference unless `training=True`",
               "inverted dropout (the notes scale by 1-p at test time instead); masks injected by "
               "`MaskedDropout` in both `regularization.py`", DENSE_NETS,
               (T_REG + "test_frameworks_own_dropout_has_rate_p_and_scale_1_over_1_minus_p",
                T_REG + "test_dropout_is_the_identity_in_inference_and_random_in_training_without_masks")),
    Convention("float64 on Keras's JAX and torch backends", "--",
               "`result_type` maps float64 to float32 off TensorFlow (Keras 3.15.1): JAX `tanh` / `mean`, torch "
               "`matmul` / `mean` / every `Loss` compute in float32 (about 1e-7 relative); a float64 tanh "
               "SimpleRNN on JAX raises a TypeError",
               "`impl_tf.keep_float64` (one workaround, JAX and torch only); the shipped behaviour is pinned",
               ALL, (T_BACK + "test_float64_promotion_as_shipped", T_BACK + "test_keep_float64_workaround",
                     T_BACK + "test_float64_as_shipped_is_float32_accurate")),
    Convention("subnormal results on the Keras backends", "kept (also by Keras on torch)",
               "TensorFlow and XLA (JAX) flush them to zero", "`reports/harness.py`'s subnormal floor", ALL,
               (T_BACK + "test_subnormals_per_backend",)),
    Convention("Conv2D kernel gradient, 1 filter, kernel > 1x1, >= 2 input channels", "--",
               "on the torch backend, torch 2.13's `slow_conv2d` backward refuses Keras's channels-last views "
               "(`grad_weight must be contiguous`)", "`reports/backends.py` `KNOWN_DEFECTS` (no parity case "
               "has such a layer)", ("cnn",),
               (T_BACK + "test_torch_conv2d_with_one_filter_has_no_kernel_gradient",
                T_BACK + "test_known_defects_are_narrow_and_real")),
    Convention("optimizer step on an embedding gradient", "a dense gradient: Adam's `v` sees (sum g_i)^2",
               "`IndexedSlices` on TensorFlow, one slice per occurrence of an id: Adam / RMSprop / Adagrad add "
               "the squares of the slices, sum(g_i^2), for a repeated id (0.77 relative in `v` after 100 steps)",
               "`impl_tf/engine_tf.py` `dense_gradients` before every Keras step (not inside `model.fit`)", S2S,
               (T_OPT + "test_keras_adam_squares_each_slice_of_a_repeated_embedding_id",
                "parity_tests/test_trajectories.py::test_long_trajectories_agree")),
    Convention("loss over padded targets", "`F.cross_entropy(ignore_index=pad)`: sum / number of real tokens",
               "`ignore_class=pad`: sum / number of real tokens; `sample_weight=mask` with the default "
               "reduction divides by N*T", "`impl_*/seq2seq.py`", S2S,
               (T_S2S + "test_loss_reductions_ignore_padding_and_take_the_mean_over_real_tokens",)),
)


def markdown_table(conventions=CONVENTIONS) -> str:
    """The README's table, rendered from ``CONVENTIONS`` (header, separator, one line per row)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.cells()) + " |" for c in conventions]
    return "\n".join(lines)


def readme_table(readme: Path = ROOT / "README.md") -> str:
    """The table under ``README_HEADING`` in README.md: its lines from the first ``|`` line up to
    the first line that is not part of the table."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    if README_HEADING not in lines:
        raise ValueError(f"{readme} has no heading {README_HEADING!r}")
    rest = lines[lines.index(README_HEADING) + 1:]
    start = next((i for i, line in enumerate(rest) if line.startswith("|")), None)
    if start is None:
        raise ValueError(f"{readme}: no table under {README_HEADING!r}")
    end = start
    while end < len(rest) and rest[end].startswith("|"):
        end += 1
    return "\n".join(rest[start:end])


def for_family(family: str, conventions=CONVENTIONS) -> list[Convention]:
    """The conventions that apply to one model family."""
    return [c for c in conventions if family in c.families]


def node_exists(node_id: str, root: Path = ROOT) -> bool:
    """Whether a pytest node id (``path.py::test_name`` or ``path.py::Class::test_name``, without
    parameters) names a test function defined in that file."""
    path, _, names = node_id.partition("::")
    file = root / path
    if not names or not file.is_file():
        return False
    body = ast.parse(file.read_text(encoding="utf-8")).body
    *classes, func = names.split("::")
    for cls in classes:
        found = [n for n in body if isinstance(n, ast.ClassDef) and n.name == cls]
        if not found:
            return False
        body = found[0].body
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == func for n in body)

