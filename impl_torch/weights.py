"""The one place that maps canonical parameters to torch modules and back.

Canonical layout (``reference_numpy/specs.py``): ``W (in, out)``, ``b (out,)``,
row-vector math ``x @ W + b``. torch's ``nn.Linear`` stores ``weight (out, in)``
and computes ``x @ weight.T + bias``, so every dense ``W`` is transposed on the
way in and on the way out; biases are copied as they are.

    canonical   torch parameter                      transform
    Wl, bl      dense_stack.layers.dense{l}.weight   W.T / b       (MLP layer l)
                / .bias
    W, b        dense.weight / .bias                 W.T / b       (regression)
    Wk, bk      conv_layers.{i}.weight / .bias       W / b         (CNN conv: nn.Conv2d is OIHW = canonical)
    Wk, bk      dense_stack.layers.dense{k}.weight   W.T / b       (CNN head: torch.flatten of NCHW is the
                / .bias                                            canonical (C, H, W) order, so the first
                                                                   dense W needs no row permutation)
    gammak      dense_stack.layers.bn{k}.weight      gamma / beta  (batch norm: see "batch norm" below;
    betak       / .bias, or conv_norms.{i}.*                       running statistics are buffers)
    (recurrent nets and seq2seq: see their sections below)

Each mapping is a ``Link`` between a group of canonical arrays and a group of
torch parameters (usually one to one; a recurrent bias that torch splits in two
is one canonical array to two parameters). A link says how values go to torch,
how parameters come back, and how *gradients* come back -- which differ when
torch holds redundant parameters (two biases whose sum is the canonical one:
the parameter is the sum, its gradient is either one's gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from reference_numpy.specs import CNNSpec, MLPSpec, RNNSpec, Seq2SeqSpec, from_gates, gate_order, to_gates


@dataclass(frozen=True)
class Link:
    canonical: tuple[str, ...]
    torch: tuple[str, ...]
    to_torch: Callable[..., tuple[np.ndarray, ...]]           # canonical arrays -> torch arrays
    from_torch: Callable[..., tuple[np.ndarray, ...]]         # torch parameters -> canonical
    grad_from_torch: Callable[..., tuple[np.ndarray, ...]] | None = None   # default: from_torch

    def grads(self, *arrays):
        return (self.grad_from_torch or self.from_torch)(*arrays)


def same(name: str, torch_name: str) -> Link:
    """Copied as it is."""
    return Link((name,), (torch_name,), lambda a: (a,), lambda a: (a,))


def transposed(name: str, torch_name: str) -> Link:
    """A dense ``W (in, out)`` <-> ``nn.Linear.weight (out, in)``."""
    return Link((name,), (torch_name,), lambda a: (a.T,), lambda a: (a.T,))


def dense_links(W: str, b: str, module: str) -> list[Link]:
    return [transposed(W, f"{module}.weight"), same(b, f"{module}.bias")]


def param_map(spec) -> list[Link]:
    """Every canonical parameter's link, in canonical order."""
    if isinstance(spec, CNNSpec):
        return cnn_links(spec)
    if isinstance(spec, RNNSpec):
        return recurrent_links(spec)
    if isinstance(spec, Seq2SeqSpec):
        return seq2seq_links(spec)
    if isinstance(spec, MLPSpec):
        return mlp_links(spec)
    return dense_links("W", "b", "dense")


def _check_module(model, spec) -> None:
    have = {name for name, _ in model.named_parameters()}
    want = {t for link in param_map(spec) for t in link.torch}
    if have != want:
        raise KeyError(f"torch module parameters {sorted(have)} do not match the mapping {sorted(want)}: "
                       f"unmapped {sorted(have - want)}, missing {sorted(want - have)}")


def load_canonical(model, spec, params: dict[str, np.ndarray]) -> None:
    """Copy canonical parameters into the module (shapes checked here)."""
    _check_module(model, spec)
    with torch.no_grad():
        for link in param_map(spec):
            values = link.to_torch(*(params[c] for c in link.canonical))
            for torch_name, value in zip(link.torch, values, strict=True):
                target = model.get_parameter(torch_name)
                if tuple(target.shape) != value.shape:
                    raise ValueError(f"{link.canonical} maps to {torch_name} of shape "
                                     f"{tuple(target.shape)}, got {value.shape} after transform")
                target.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def to_canonical(spec, tensors: dict[str, torch.Tensor], kind: str = "params") -> dict[str, np.ndarray]:
    """Parameters (``kind="params"``) or their gradients (``kind="grads"``), keyed by
    torch name -> canonical dict of NumPy arrays."""
    if kind not in ("params", "grads"):
        raise ValueError(f"kind must be 'params' or 'grads', got {kind!r}")
    out = {}
    for link in param_map(spec):
        arrays = [tensors[t].detach().cpu().numpy() for t in link.torch]
        values = link.from_torch(*arrays) if kind == "params" else link.grads(*arrays)
        for name, value in zip(link.canonical, values, strict=True):
            out[name] = np.ascontiguousarray(value).copy()
    return {name: out[name] for name in spec.param_shapes()}


def read_canonical(model, spec) -> dict[str, np.ndarray]:
    _check_module(model, spec)
    return to_canonical(spec, dict(model.named_parameters()))


# -- recurrent ---------------------------------------------------------------------
#
# The recurrent layer is ``recurrent.layer`` (nn.RNN / nn.LSTM / nn.GRU, or the hand-written
# sigmoid SimpleRNN / reset_after=False GRU with the same parameter names), the head ``head``.
# For each direction d = "" or "_reverse" (torch's suffix and the canonical one):
#
#   canonical                    torch parameter                    transform
#   Wx{d} (D, G*H)               weight_ih_l0{d} (G*H, D)           gate blocks permuted, transposed
#   Wh{d} (H, G*H)               weight_hh_l0{d} (G*H, H)           gate blocks permuted, transposed
#   b{d}  (G*H,)   rnn, lstm     bias_ih_l0{d}, bias_hh_l0{d}       b -> (b, 0); back: bias_ih + bias_hh
#   b{d}, bh{d}    gru, reset_after=True    bias_ih_l0{d}, bias_hh_l0{d}    permuted
#   b{d}           gru, reset_after=False   bias_ih_l0{d} (one bias)        permuted
#   W_out, b_out                 head.weight / head.bias            W_out.T / b_out
#
# torch's SimpleRNN and LSTM keep two biases that are only ever added: the canonical b is their
# sum. Loading puts b into bias_ih and zeros into bias_hh; reading gives back the sum; the
# gradient of the sum is the gradient of either one (both receive dL/db), so bias_ih's is taken.
# Training steps every parameter except bias_hh (``redundant_parameters`` at the end says why).

# torch's gate blocks in storage order (torch.nn.RNN / LSTM / GRU docs) are the "torch" column of
# ``GATE_ORDERS`` in specs.py, beside the canonical and Keras's orders: LSTM (i, f, g, o) as the
# canonical one, GRU (r, z, n) where the canonical is (z, r, n). ``gate_order(cell, "torch")``
# gives, for each torch block, the canonical block it holds.


def recurrent_links(spec) -> list[Link]:
    order, m = gate_order(spec.cell, "torch"), "recurrent.layer"
    links = []
    for d in spec.directions:
        for c, t in (("Wx", "weight_ih"), ("Wh", "weight_hh")):       # (in, G*H) <-> (G*H, in)
            links.append(Link((f"{c}{d}",), (f"{m}.{t}_l0{d}",),
                              lambda a: (to_gates(a, order).T,), lambda a: (from_gates(a.T, order),)))
        bias_ih, bias_hh = f"{m}.bias_ih_l0{d}", f"{m}.bias_hh_l0{d}"
        if spec.cell != "gru":                                        # two torch biases, one canonical b
            links.append(Link((f"b{d}",), (bias_ih, bias_hh),
                              lambda b: (to_gates(b, order), np.zeros_like(b)),
                              lambda bi, bh: (from_gates(bi + bh, order),),
                              grad_from_torch=lambda gi, gh: (from_gates(gi, order),)))
        else:
            links.append(Link((f"b{d}",), (bias_ih,), lambda b: (to_gates(b, order),),
                              lambda b: (from_gates(b, order),)))
            if spec.reset_after:
                links.append(Link((f"bh{d}",), (bias_hh,), lambda b: (to_gates(b, order),),
                                  lambda b: (from_gates(b, order),)))
    return links + dense_links("W_out", "b_out", "head")


def redundant_parameters(spec) -> tuple[str, ...]:
    """torch parameters with no canonical array of their own: the second bias (``bias_hh``) of a
    SimpleRNN or LSTM, loaded as 0. Both biases receive the same gradient dL/db, so a torch
    optimizer stepping both moves the canonical b = bias_ih + bias_hh by TWICE the learning
    rate (and global-norm clipping counts dL/db twice); training that matches the canonical
    model steps every parameter except these, which stay at 0."""
    if isinstance(spec, Seq2SeqSpec) and spec.cell == "lstm":
        return ("encoder.bias_hh_l0", "decoder.bias_hh_l0")
    if not isinstance(spec, RNNSpec) or spec.cell == "gru":
        return ()
    return tuple(f"recurrent.layer.bias_hh_l0{d}" for d in spec.directions)


# -- CNN ---------------------------------------------------------------------------
#
# The conv / pooling modules are ``conv_layers.{i}`` (one per ``spec.layers[i]``), the head
# ``dense_stack.layers`` (``dense{k}``, ``bn{k}``, ...); ``spec.param_names()`` numbers the parameters
# over both (``("conv", k, i)`` -> ``W{k}``, ``b{k}`` of ``conv_layers.{i}``; ``("dense", k, j)`` ->
# ``dense_stack.layers.dense{k}``).
#
#   canonical                   torch parameter                  transform
#   conv Wk (F, C, KH, KW)      conv_layers.{i}.weight (OIHW)    none: nn.Conv2d is OIHW and NCHW
#   conv bk (F,)                conv_layers.{i}.bias             none
#   dense Wk (in, out)          dense_stack.layers.dense{k}.weight   W.T (as every nn.Linear)
#   dense bk (out,)             dense_stack.layers.dense{k}.bias     none
#
# No Flatten permutation: ``torch.flatten`` of an NCHW map is the canonical (C, H, W) order.
# (Keras's NHWC Flatten is not; see impl_tf/weights.py.)


def cnn_links(spec) -> list[Link]:
    links = []
    for kind, k, i in spec.param_names():
        if kind == "conv":
            links.append(same(f"W{k}", f"conv_layers.{i}.weight"))
            links += [same(f"b{k}", f"conv_layers.{i}.bias")] if spec.has_bias(k) else \
                norm_links(k, f"conv_norms.{i}")
        elif spec.has_bias(k):
            links += dense_links(f"W{k}", f"b{k}", f"dense_stack.layers.dense{k}")
        else:
            links += [transposed(f"W{k}", f"dense_stack.layers.dense{k}.weight"),
                      *norm_links(k, f"dense_stack.layers.bn{k}")]
    return links


# -- batch norm (MLP, CNN) -----------------------------------------------------------
#
# ``spec.batch_norm``: a hidden layer k has no bias (``nn.Linear(bias=False)`` /
# ``nn.Conv2d(bias=False)``) and is followed by ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``:
#
#   canonical                   torch                                 transform
#   gammak, betak (C,)          <norm>.weight, <norm>.bias            none (parameters)
#   running_meank (C,)          <norm>.running_mean                   none (buffer)
#   running_vark (C,)           <norm>.running_var                    none (buffer; torch updates it with
#                                                                     the unbiased batch variance)
#   --                          <norm>.num_batches_tracked            not mapped: counts training forwards,
#                                                                     read only when momentum=None
#
# <norm> is ``dense_stack.layers.bn{k}`` (a hidden dense layer k of the MLP or of the CNN's head) or
# ``conv_norms.{i}`` (CNN conv ``spec.layers[i]``). A batch norm's channel axis is the canonical one
# (features of (N, C), channels of NCHW), so nothing is permuted.


def norm_links(k: str, norm: str) -> list[Link]:
    return [same(f"gamma{k}", f"{norm}.weight"), same(f"beta{k}", f"{norm}.bias")]


def mlp_links(spec) -> list[Link]:
    links = []
    for l in range(1, spec.n_layers + 1):
        if spec.has_bias(str(l)):
            links += dense_links(f"W{l}", f"b{l}", f"dense_stack.layers.dense{l}")
        else:
            links += [transposed(f"W{l}", f"dense_stack.layers.dense{l}.weight"),
                      *norm_links(str(l), f"dense_stack.layers.bn{l}")]
    return links


def buffer_map(spec) -> dict[str, str]:
    """Canonical buffer name -> torch buffer name (empty without batch norm)."""
    if not getattr(spec, "batch_norm", None):
        return {}
    if isinstance(spec, MLPSpec):
        norms = {str(l): f"dense_stack.layers.bn{l}" for l in range(1, spec.n_layers)}
    else:
        last = len(spec.hidden)
        norms = {k: f"conv_norms.{i}" if kind == "conv" else f"dense_stack.layers.bn{k}"
                 for kind, k, i in spec.param_names() if kind == "conv" or i < last}
    return {f"{stat}{k}": f"{norm}.{stat}" for k, norm in norms.items() for stat in ("running_mean", "running_var")}


def load_buffers(model, spec, buffers: dict[str, np.ndarray]) -> None:
    """Copy canonical running statistics into the module's buffers."""
    with torch.no_grad():
        for name, torch_name in buffer_map(spec).items():
            model.get_buffer(torch_name).copy_(torch.from_numpy(np.ascontiguousarray(buffers[name])))


def read_buffers(model, spec) -> dict[str, np.ndarray]:
    return {name: model.get_buffer(torch_name).detach().cpu().numpy().copy()
            for name, torch_name in buffer_map(spec).items()}


# -- seq2seq -----------------------------------------------------------------------
#
# ``impl_torch/seq2seq.py``: embeddings ``src_embedding`` / ``tgt_embedding``, the recurrent layers
# ``encoder`` / ``decoder`` (nn.LSTM, nn.GRU or the hand-written GRUResetBefore, all with nn.LSTM's
# parameter names), the attention's ``W_a`` / ``W_q`` / ``W_k`` (nn.Linear, bias=False) and ``v``,
# and the output projection ``out``:
#
#   canonical                    torch parameter                    transform
#   E_src (V_src, E)             src_embedding.weight (V_src, E)    none (a row per token, both)
#   E_tgt (V_tgt, E)             tgt_embedding.weight (V_tgt, E)    none
#   enc_Wx, enc_Wh, enc_b        encoder.weight_ih_l0, ...          the recurrent cell's links above
#   [enc_bh]                     (gates permuted, transposed; LSTM   (``recurrent_links`` of a one-
#   dec_*                        decoder.*                           direction RNNSpec, renamed)
#                                b -> (bias_ih, bias_hh) = (b, 0), read back as the sum)
#   W_a, W_q, W_k (H, H)         W_a.weight, W_q.weight, W_k.weight W.T (nn.Linear: x @ weight.T)
#   v (H,)                       v                                  none
#   W_out (H or 2H, V_tgt)       out.weight (V_tgt, H or 2H)        W_out.T
#   b_out (V_tgt,)               out.bias                           none
#
# The source embedding's ``padding_idx`` row is loaded and read like any other row (torch only
# zeroes its gradient, which is exactly 0 canonically too: see impl_torch/seq2seq.py).


def cell_links(spec, part: str, module: str) -> list[Link]:
    """The encoder's (``part="enc"``) or decoder's (``"dec"``) cell: exactly the links of a
    one-direction ``RNNSpec`` layer of the same cell (``recurrent_links``: gate blocks, the GRU
    bias layouts, LSTM's redundant second bias), renamed ``Wx`` -> ``enc_Wx`` and
    ``recurrent.layer.*`` -> ``encoder.*``; the RNNSpec's head links are left out."""
    rnn = RNNSpec(spec.cell, spec.embed, spec.hidden, 1, reset_after=spec.reset_after)
    return [replace(link, canonical=tuple(f"{part}_{c}" for c in link.canonical),
                    torch=tuple(t.replace("recurrent.layer.", f"{module}.", 1) for t in link.torch))
            for link in recurrent_links(rnn) if link.canonical[0] not in ("W_out", "b_out")]


def seq2seq_links(spec) -> list[Link]:
    links = [same("E_src", "src_embedding.weight"), same("E_tgt", "tgt_embedding.weight")]
    links += cell_links(spec, "enc", "encoder") + cell_links(spec, "dec", "decoder")
    if spec.attention == "general":
        links.append(transposed("W_a", "W_a.weight"))
    elif spec.attention == "additive":
        links += [transposed("W_q", "W_q.weight"), transposed("W_k", "W_k.weight"), same("v", "v")]
    return links + dense_links("W_out", "b_out", "out")
