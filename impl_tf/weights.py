"""The one place that maps canonical parameters to Keras variables and back.

Canonical layout (``reference_numpy/specs.py``): ``W (in, out)``, ``b (out,)``,
row-vector math ``x @ W + b``. Keras's ``Dense`` stores ``kernel (in, out)`` and
computes ``x @ kernel + bias`` -- the canonical layout itself, so no transform.
(Contrast torch's ``nn.Linear``, whose ``weight`` is ``(out, in)``.)

    canonical   Keras variable                 transform
    W_l, b_l    dense_stack.layers["dense{l}"] none      (MLP: .kernel / .bias)
    W, b        dense.kernel / dense.bias      none      (regression)
    CNN conv Wk conv_layers[i].kernel          W.transpose(2, 3, 1, 0): OIHW (F, C, KH, KW) -> HWIO
                                               (KH, KW, C, F); back: .transpose(3, 2, 0, 1)
    CNN first   dense_stack.layers["dense{k}"] rows permuted (C, H, W) -> (H, W, C) order:
    dense Wk                                   W.reshape(C, H, W, out).transpose(1, 2, 0, 3)
                                               .reshape(-1, out); back: the inverse permutation
    other CNN   .kernel / .bias                none
    gammak      BatchNormalization .gamma      none      (batch norm: see "batch norm" below;
    betak       BatchNormalization .beta                  running statistics are buffers)

The CNN's first Dense row permutation is the porting pitfall: the canonical (and torch)
model flattens the NCHW feature map in (C, H, W) order, Keras flattens its NHWC map in
(H, W, C) order, so the SAME canonical matrix must have its rows reordered -- with the
shape (C, H, W) of the map Flatten reads -- or Keras computes a different function.
Nothing fails loudly without it: the shapes still fit and parameters still round-trip
exactly; only the outputs differ (``parity_tests/test_cnn_conventions.py`` pins this).

Each mapping is a ``Link`` between a group of canonical arrays and a group of
Keras variables (usually one to one; Keras's GRU keeps two canonical biases in
one ``(2, 3H)`` variable). A link says how values go to Keras, how variables come
back, and how gradients come back (the same way unless a link says otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from types import SimpleNamespace

import keras
import numpy as np

from reference_numpy.specs import CNNSpec, MLPSpec, RNNSpec, Seq2SeqSpec, from_gates, gate_order, to_gates


@dataclass(frozen=True)
class Link:
    canonical: tuple[str, ...]
    variables: tuple                                           # keras.Variable objects
    to_keras: Callable[..., tuple[np.ndarray, ...]]            # canonical arrays -> Keras arrays
    from_keras: Callable[..., tuple[np.ndarray, ...]]          # Keras values -> canonical
    grad_from_keras: Callable[..., tuple[np.ndarray, ...]] | None = None   # default: from_keras

    def grads(self, *arrays):
        return (self.grad_from_keras or self.from_keras)(*arrays)


def same(name: str, variable) -> Link:
    """Copied as it is."""
    return Link((name,), (variable,), lambda a: (a,), lambda a: (a,))


def dense_links(W: str, b: str, layer) -> list[Link]:
    return [same(W, layer.kernel), same(b, layer.bias)]


def param_map(model, spec) -> list[Link]:
    """Every canonical parameter's link, in canonical order."""
    if isinstance(spec, CNNSpec):
        return cnn_links(model, spec)
    if isinstance(spec, RNNSpec):
        return recurrent_links(model, spec)
    if isinstance(spec, Seq2SeqSpec):
        return seq2seq_links(model, spec)
    if isinstance(spec, MLPSpec):
        return mlp_links(model, spec)
    return dense_links("W", "b", model.dense)


def _check_covered(model, spec) -> None:
    mapped = [v for link in param_map(model, spec) for v in link.variables]
    ids = {id(v) for v in mapped}
    unmapped = [v.path for v in model.trainable_variables if id(v) not in ids]
    if unmapped or len(ids) != len(mapped) or len(ids) != len(model.trainable_variables):
        raise KeyError(f"Keras variables not covered by the mapping (or mapped twice): {unmapped}")


def build(model, spec) -> None:
    """Create the variables (Keras builds layers lazily, on the first call) with a
    one-example input (a length-1 sequence for recurrent models; for seq2seq a source and a
    target of two ``bos_id`` tokens -- two, as Keras warns about a softmax over one position)."""
    if not model.built and isinstance(spec, Seq2SeqSpec):
        ids = np.full((1, 2), spec.bos_id, dtype=np.int64)
        model(ids, ids)
    elif not model.built:
        shape = (1, *(1 if s is None else s for s in spec.input_shape))
        model(np.zeros(shape, dtype=model.dtype_policy.variable_dtype))
    _check_covered(model, spec)


def load_canonical(model, spec, params: dict[str, np.ndarray]) -> None:
    build(model, spec)
    for link in param_map(model, spec):
        values = link.to_keras(*(params[c] for c in link.canonical))
        for variable, value in zip(link.variables, values, strict=True):
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"{link.canonical} maps to {variable.path} of shape "
                                 f"{tuple(variable.shape)}, got {value.shape} after transform")
            variable.assign(value)


def variables(model, spec) -> list:
    """The Keras variables in mapping order (what gradients are taken against)."""
    return [v for link in param_map(model, spec) for v in link.variables]


def to_canonical(spec, model, values, kind: str = "params") -> dict[str, np.ndarray]:
    """Values aligned with ``variables(model, spec)`` -- parameters (``kind="params"``)
    or their gradients (``kind="grads"``) -> canonical dict."""
    if kind not in ("params", "grads"):
        raise ValueError(f"kind must be 'params' or 'grads', got {kind!r}")
    values, out = list(values), {}
    for link in param_map(model, spec):
        arrays = [dense(values.pop(0)) for _ in link.variables]
        converted = link.from_keras(*arrays) if kind == "params" else link.grads(*arrays)
        for name, value in zip(link.canonical, converted, strict=True):
            out[name] = np.array(value)
    return {name: out[name] for name in spec.param_shapes()}


def dense(value) -> np.ndarray:
    """A variable's value or gradient as a dense NumPy array. The gradient of an ``Embedding``
    comes back from ``tf.GradientTape`` as ``IndexedSlices`` (the looked-up rows and their ids),
    which ``np.asarray`` would silently wrap as a 0-d object array; ``keras.ops.convert_to_numpy``
    scatter-adds it into the full ``(V, E)`` matrix (rows not looked up are 0)."""
    if hasattr(value, "indices") and hasattr(value, "dense_shape"):          # IndexedSlices
        return np.asarray(keras.ops.convert_to_numpy(value))
    return np.asarray(value)


def read_canonical(model, spec) -> dict[str, np.ndarray]:
    _check_covered(model, spec)
    return to_canonical(spec, model, [v.numpy() for v in variables(model, spec)])


# -- recurrent ---------------------------------------------------------------------
#
# The recurrent layer is ``model.recurrent.layer`` (a Keras SimpleRNN / LSTM / GRU, or a
# ``Bidirectional`` holding ``forward_layer`` and ``backward_layer``); its variables live on the
# layer's ``cell``. For each direction d = "" (forward_layer) or "_reverse" (backward_layer):
#
#   canonical                    Keras variable                     transform
#   Wx{d} (D, G*H)               cell.kernel (D, G*H)               gate blocks permuted (identity today)
#   Wh{d} (H, G*H)               cell.recurrent_kernel (H, G*H)     gate blocks permuted
#   b{d}  (G*H,)   rnn, lstm     cell.bias (G*H,)                   gate blocks permuted
#   b{d}, bh{d}    gru, reset_after=True    cell.bias (2, G*H)      stack(b, bh): row 0 input bias,
#                                                                   row 1 recurrent bias
#   b{d}           gru, reset_after=False   cell.bias (G*H,)        gate blocks permuted
#   W_out, b_out                 head.kernel / head.bias            none

# Keras's gate blocks in storage order (keras.layers.LSTM / GRU source) are the "keras" column of
# ``GATE_ORDERS`` in specs.py, beside the canonical and torch's orders, written with the canonical
# letters: Keras's LSTM (i, f, c, o) is (i, f, g, o) and its GRU (z, r, h) is (z, r, n)
# (``KERAS_GATE_NAMES``), both the canonical order today. ``gate_order(cell, "keras")`` gives, for
# each Keras block, the canonical block it holds.


def recurrent_cells(model, spec) -> dict:
    """Direction suffix -> the Keras cell holding that direction's variables."""
    layer = model.recurrent.layer
    if spec.bidirectional:
        return {"": layer.forward_layer.cell, "_reverse": layer.backward_layer.cell}
    return {"": layer.cell}


def recurrent_links(model, spec) -> list[Link]:
    order = gate_order(spec.cell, "keras")

    def permuted(name, variable):
        return Link((name,), (variable,), lambda a: (to_gates(a, order),), lambda a: (from_gates(a, order),))

    links = []
    for d, cell in recurrent_cells(model, spec).items():
        links += [permuted(f"Wx{d}", cell.kernel), permuted(f"Wh{d}", cell.recurrent_kernel)]
        if spec.cell == "gru" and spec.reset_after:                   # two canonical biases, one variable
            links.append(Link((f"b{d}", f"bh{d}"), (cell.bias,),
                              lambda b, bh: (np.stack([to_gates(b, order), to_gates(bh, order)]),),
                              lambda B: (from_gates(B[0], order), from_gates(B[1], order))))
        else:
            links.append(permuted(f"b{d}", cell.bias))
    return links + dense_links("W_out", "b_out", model.head)


# -- CNN ---------------------------------------------------------------------------
#
# ``model.conv_layers[i]`` is the Keras layer of ``spec.layers[i]``, ``model.dense_stack.layers``
# the head (``dense{k}``, ``bn{k}``, ...); ``spec.param_names()`` numbers the parameters over both
# (``("conv", k, i)`` -> ``W{k}``, ``b{k}`` of ``conv_layers[i]``; ``("dense", k, j)`` -> ``dense{k}``).
# The model converts its NCHW input to NHWC once (impl_tf/cnn.py), so every Keras kernel is laid out
# for channels_last:
#
#   canonical                   Keras variable                     transform
#   conv Wk (F, C, KH, KW)      conv_layers[i].kernel (KH, KW, C, F)   transpose (2, 3, 1, 0);
#                                                                      back (3, 2, 0, 1)
#   conv bk (F,)                conv_layers[i].bias                 none
#   first dense Wk (C*H*W, out) dense{k}.kernel (H*W*C, out)       rows (C, H, W) -> (H, W, C)
#   other dense Wk, every bk    dense{k}.kernel / .bias             none
#
# Both transforms are permutations of the entries, so gradients come back exactly like
# parameters. (C, H, W) is ``spec.feature_shapes()[-1]``, the map that Flatten reads.

OIHW_TO_HWIO = (2, 3, 1, 0)           #: canonical filter axes -> Keras kernel axes
HWIO_TO_OIHW = (3, 2, 0, 1)           #: the inverse permutation


def flatten_rows_to_keras(W: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """Canonical first-dense ``W`` (rows in (C, H, W) order) -> Keras kernel (rows in (H, W, C) order)."""
    c, h, w = chw
    return W.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)    # (H*W*C, out)


def flatten_rows_from_keras(W: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """Keras first-dense kernel (rows in (H, W, C) order) -> canonical ``W`` (rows in (C, H, W) order)."""
    c, h, w = chw
    return W.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)    # (C*H*W, out)


def cnn_links(model, spec) -> list[Link]:
    chw = spec.feature_shapes()[-1]
    norms = norm_layers(model, spec)
    links = []
    for kind, k, i in spec.param_names():
        if kind == "conv":
            layer = model.conv_layers[i]
            links.append(Link((f"W{k}",), (layer.kernel,), lambda a: (a.transpose(OIHW_TO_HWIO),),
                              lambda a: (a.transpose(HWIO_TO_OIHW),)))
        elif i == 0:                                                  # the dense layer after Flatten
            layer = model.dense_stack.layers[f"dense{k}"]
            links.append(Link((f"W{k}",), (layer.kernel,), lambda a: (flatten_rows_to_keras(a, chw),),
                              lambda a: (flatten_rows_from_keras(a, chw),)))
        else:
            layer = model.dense_stack.layers[f"dense{k}"]
            links.append(same(f"W{k}", layer.kernel))
        links += [same(f"b{k}", layer.bias)] if spec.has_bias(k) else norm_links(k, norms[k])
    return links


# -- batch norm (MLP, CNN) -----------------------------------------------------------
#
# ``spec.batch_norm``: a hidden layer k has no bias (``Dense(use_bias=False)`` /
# ``Conv2D(use_bias=False)``) and is followed by a ``BatchNormalization`` (named ``bn{k}``):
#
#   canonical                   Keras variable                     transform
#   gammak, betak (C,)          bn.gamma, bn.beta                  none (trainable)
#   running_meank (C,)          bn.moving_mean                     none (non-trainable; a buffer)
#   running_vark (C,)           bn.moving_variance                 none (non-trainable; Keras updates it
#                                                                  with the biased batch variance)
#
# The batch norm is ``model.dense_stack.layers["bn{k}"]`` (a hidden dense layer of the MLP or of the
# CNN's head) or ``model.conv_norms[i]`` (CNN conv ``spec.layers[i]``; channels last, so its axis -1
# is the canonical channel axis 1 of NCHW). Nothing is permuted.


def norm_layers(model, spec) -> dict:
    """Layer number k -> the BatchNormalization after layer k (empty without batch norm)."""
    if getattr(spec, "batch_norm", None) is None:
        return {}
    if isinstance(spec, MLPSpec):
        return {str(l): model.dense_stack.layers[f"bn{l}"] for l in range(1, spec.n_layers)}
    last = len(spec.hidden)
    return {k: model.conv_norms[i] if kind == "conv" else model.dense_stack.layers[f"bn{k}"]
            for kind, k, i in spec.param_names() if kind == "conv" or i < last}


def norm_links(k: str, norm) -> list[Link]:
    return [same(f"gamma{k}", norm.gamma), same(f"beta{k}", norm.beta)]


def mlp_links(model, spec) -> list[Link]:
    norms = norm_layers(model, spec)
    links = []
    for l in range(1, spec.n_layers + 1):
        layer = model.dense_stack.layers[f"dense{l}"]
        if spec.has_bias(str(l)):
            links += dense_links(f"W{l}", f"b{l}", layer)
        else:
            links += [same(f"W{l}", layer.kernel), *norm_links(str(l), norms[str(l)])]
    return links


def buffer_variables(model, spec) -> dict:
    """Canonical buffer name -> the Keras (non-trainable) variable holding it."""
    return {f"{stat}{k}": getattr(norm, attr) for k, norm in norm_layers(model, spec).items()
            for stat, attr in (("running_mean", "moving_mean"), ("running_var", "moving_variance"))}


def load_buffers(model, spec, buffers: dict[str, np.ndarray]) -> None:
    build(model, spec)
    for name, variable in buffer_variables(model, spec).items():
        variable.assign(buffers[name])


def read_buffers(model, spec) -> dict[str, np.ndarray]:
    return {name: np.array(variable.numpy()) for name, variable in buffer_variables(model, spec).items()}


# -- seq2seq -----------------------------------------------------------------------
#
# ``impl_tf/seq2seq.py``: ``Embedding`` layers ``src_embedding`` / ``tgt_embedding``, the recurrent
# layers ``encoder`` / ``decoder`` (Keras LSTM / GRU; variables on their ``cell``), the attention's
# ``Dense(use_bias=False)`` layers ``W_a`` / ``W_q`` / ``W_k``, ``AdditiveAttention``'s ``scale``
# and the output ``Dense`` ``out``:
#
#   canonical                    Keras variable                     transform
#   E_src (V_src, E)             src_embedding.embeddings           none
#   E_tgt (V_tgt, E)             tgt_embedding.embeddings           none
#   enc_Wx, enc_Wh, enc_b        encoder.cell.kernel, ...           the recurrent cell's links above
#   [enc_bh]                     (GRU reset_after=True: one (2, 3H)  (``recurrent_links`` of a one-
#   dec_*                        bias = stack(b, bh))                direction RNNSpec, renamed)
#   W_a (H, H)                   W_a.kernel                         none: applied to the query,
#                                                                   (dec @ W_a) . enc
#   W_q, W_k (H, H)              W_q.kernel, W_k.kernel             none
#   v (H,)                       attention.scale (H,)               none (AdditiveAttention(use_scale=True))
#   W_out, b_out                 out.kernel / out.bias              none
#
# Gradients: an Embedding's gradient is IndexedSlices (``dense`` above makes it a matrix).


def cell_links(layer, spec, part: str) -> list[Link]:
    """The encoder's (``part="enc"``) or decoder's (``"dec"``) Keras LSTM / GRU: exactly the links
    of a one-direction ``RNNSpec`` layer of the same cell (``recurrent_links``: gate blocks, the GRU
    bias layouts), renamed ``Wx`` -> ``enc_Wx``. ``recurrent_links`` reads ``model.recurrent.layer``
    and ``model.head``; the view below hands it this layer and no head (its head links are left out)."""
    rnn = RNNSpec(spec.cell, spec.embed, spec.hidden, 1, reset_after=spec.reset_after)
    view = SimpleNamespace(recurrent=SimpleNamespace(layer=layer), head=SimpleNamespace(kernel=None, bias=None))
    return [replace(link, canonical=tuple(f"{part}_{c}" for c in link.canonical))
            for link in recurrent_links(view, rnn) if link.canonical[0] not in ("W_out", "b_out")]


def seq2seq_links(model, spec) -> list[Link]:
    links = [same("E_src", model.src_embedding.embeddings), same("E_tgt", model.tgt_embedding.embeddings)]
    links += cell_links(model.encoder, spec, "enc") + cell_links(model.decoder, spec, "dec")
    if spec.attention == "general":
        links.append(same("W_a", model.W_a.kernel))
    elif spec.attention == "additive":
        links += [same("W_q", model.W_q.kernel), same("W_k", model.W_k.kernel), same("v", model.attention.scale)]
    return links + dense_links("W_out", "b_out", model.out)
