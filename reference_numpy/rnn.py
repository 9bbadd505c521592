"""SimpleRNN layer with backpropagation through time written out, and the time loop that the
LSTM and GRU layers share (``Recurrent``).

Shape legend: N batch, T time, D input features, H hidden units, G gate blocks (1 SimpleRNN,
4 LSTM, 3 GRU), dirs = 2 if bidirectional else 1.

Parameters of one direction (canonical layout, ``RNNSpec.cell_param_shapes``; the backward
direction's carry the suffix ``_reverse``)::

    Wx (D, G*H)    Wh (H, G*H)    b (G*H,)        gate blocks side by side on the last axis

SimpleRNN (the notes' ``u[:, t+1] = X @ W_in + z[:, t] @ W``, ``z[:, t+1] = f(u[:, t+1])``, plus a
bias)::

    h_0 = initial state h (zeros if none)                                  (N, H)
    a_t = x_t @ Wx + b + h_{t-1} @ Wh                t = 1..T              (N, H)
    h_t = f(a_t)                                     f = tanh, relu or sigmoid
    output = [h_1, ..., h_T]                                               (N, T, H)

Backward through time (the notes' ``delta[:, t] = (delta[:, t+1] @ W.T + delta_out[:, t] @ W_out.T)
* f'(u[:, t+1])``), given ``dout_t = dL/dh_t`` from the layer above and ``dh_T`` from the final state::

    dh_t     = dout_t + dh_t(from step t+1)          (the two paths into h_t add)   (N, H)
    da_t     = f'(a_t) * dh_t                                                       (N, H)
    dh_{t-1} = da_t @ Wh.T                                                          (N, H)

and, for every step at once (one product each, outside the time loop; ``h_prev`` stacks the state
each step read, ``h_0 .. h_{T-1}``)::

    dWh = sum_t h_{t-1}.T @ da_t         = h_prev.reshape(T*N, H).T @ da.reshape(T*N, G*H)   (H, G*H)
    dx  = da @ Wx.T                                                                           (N, T, D)
    dWx = sum_{n,t} x_{n,t}.T da_{n,t}   = x.reshape(T*N, D).T @ da.reshape(T*N, G*H)       (D, G*H)
    db  = sum_{n,t} da_{n,t}                                                                  (G*H,)

``dh_0`` is the gradient of the initial state.

The shared loop (``Recurrent``): the input projection ``ax = x @ Wx + b`` of every step is one
product ``(T*N, D) @ (D, G*H)``; each cell (``SimpleRNN`` here, ``LSTM`` in ``lstm.py``, ``GRU`` in
``gru.py``) implements one ``step``, its ``step_backward`` -- which returns ``dax_t``, the gradient
of the step's input projection, and ``dah_t``, that of its recurrent term ``ah_t`` (``h_{t-1} @ Wh``,
the same array as ``dax_t`` except in the GRU) -- and ``recurrent_grads``, the gradients of the
parameters of ``ah`` (``Wh``, the GRU's ``bh``) from every step's ``dah_t`` at once. Inside the loop
the arrays of all steps are time-major, ``(T, N, ...)``, so that each step reads and writes one
contiguous ``(N, ...)`` block.

Gate-major layout (speed, not math): inside the loop the gate blocks sit on the FIRST axis,
``(G, N, H)``, not side by side on the last, ``(N, G*H)``. The loop reads the weights through the
views ``P["Wx_g"] (G, D, H)``, ``P["Wh_g"] (G, H, H)``, ``P["b_g"] (G, 1, H)`` of the canonical
``Wx``, ``Wh``, ``b`` (``gate_major``: block k is ``W[..., kH:(k+1)H]``), so ``h_{t-1} @ Wh_g`` is
still one product per step (one per block, ``(G, N, H)``, as fast as the ``(N, G*H)`` one) and each
gate ``a[k]`` is a contiguous ``(N, H)`` array: elementwise gate math on a column block ``a[:, kH:(k+1)H]``
of an ``(N, G*H)`` array runs row by row and costs about 3x as much. The gradients go back to the
canonical layout once, after the loop (``canonical``)::

    ax      = x @ Wx_g + b_g                      (G, T*N, H)     = x @ Wx + b, block k on axis 0
    dWx     = x.T @ dax                           (G, D, H)   ->  (D, G*H)
    dx      = sum_k dax[k] @ Wx_g[k].T            (T*N, D)        = dax @ Wx.T
    db      = sum_{n,t} dax                       (G, H)      ->  (G*H,)

Bidirectional (the notes' ``np.concatenate([h_f, h_b[:, ::-1]], axis=-1)``): the ``_reverse``
parameters run the same recurrence on the time-reversed input ``x_T, ..., x_1`` starting from the
state ``h_reverse`` (``c_reverse``); its per-step outputs are reversed back, so step t is stored at
step t, and the layer's output is ``[forward, backward]`` on the last axis ``(N, T, 2H)``. The
final states are each direction's state after its last step (the backward direction's after it
has read x_1).

Per-row lengths (one direction only; the seq2seq encoder over a right-padded batch): with
``lengths`` (N,) given, the final state of row n is its state after step ``lengths[n]`` (its last
real step), not after step T; the steps after it still run (their outputs exist, and the
caller ignores them). In the backward pass ``dfinal`` enters row n at that step::

    final_n       = state_{lengths[n]} of row n          gathered: np.where(lengths - 1 == t, ...)
    dstate_t     += dfinal  where t = lengths[n]          (rows that end at step t; 0 elsewhere)

so a gradient reaches a padded step only through ``doutput`` (zero there in seq2seq).
"""

from __future__ import annotations

import numpy as np

from reference_numpy import activations


def gate_major(W, H):
    """The view ``(G, D, H)`` of a canonical parameter ``W (D, G*H)`` (``(G, H)`` of ``b (G*H,)``):
    ``[k]`` is gate block k, ``W[..., kH:(k+1)H]``. No copy."""
    return W.reshape(*W.shape[:-1], -1, H).swapaxes(0, -2)              # (D, G, H) -> (G, D, H)


def canonical(Wg):
    """The inverse of ``gate_major``: ``(G, D, H) -> (D, G*H)``, ``(G, H) -> (G*H,)`` (a copy)."""
    return Wg.swapaxes(0, -2).reshape(*Wg.shape[1:-1], -1)


class Recurrent:
    """The time loop shared by SimpleRNN, LSTM and GRU.

    ``forward(params, x, state, lengths=None) -> (output (N, T, dirs*H), final state, cache)`` and
    ``backward(doutput, dfinal, cache, input_grad=True) -> (dx, grads, dstate)`` (``doutput=None``: no
    gradient reaches the outputs, only the final state, as under a many-to-one head; ``input_grad=False``:
    dx is not computed, None); ``params`` and ``grads`` are
    canonical dicts (suffix ``_reverse`` for the backward direction; ``RecurrentNet`` puts the
    gradients in canonical order), ``state`` / ``dstate`` dicts keyed like
    ``RNNSpec.state_shapes()``. A subclass sets ``state_names`` (and ``recurrent_params``) and
    implements ``step`` / ``step_backward`` (and ``recurrent_grads`` unless ``ah = h_{t-1} @ Wh``).
    ``P``, the parameters a step reads, holds each canonical array and its gate-major view
    (``P["Wh"] (H, G*H)``, ``P["Wh_g"] (G, H, H)``, ...; see the module docstring). The output of a
    unidirectional layer is a view of the states kept for the backward pass (no copy): read it, do
    not write into it.
    """

    state_names: tuple[str, ...] = ("h",)
    #: G, the gate blocks of Wx, Wh and b.
    gates = 1
    #: The parameters a step reads (the input projection's Wx and b are applied outside the loop).
    recurrent_params: tuple[str, ...] = ("Wh",)

    def __init__(self, in_features: int, hidden: int, bidirectional: bool = False):
        self.in_features, self.hidden = in_features, hidden
        self.directions = ("", "_reverse") if bidirectional else ("",)

    # -- one step (the cells) -------------------------------------------------
    def step(self, ax_t, state, P, h_out):
        """``(state_t, cache)`` from ``ax_t = x_t @ Wx + b`` (G, N, H) and ``state_{t-1}``; the new ``h_t`` is
        written into ``h_out`` (N, H), the loop's row of every step's state, and is ``state_t["h"]``."""
        raise NotImplementedError

    def step_backward(self, dstate, cache, P, dax_out):
        """``(dax_t (G, N, H), dstate_{t-1}, dah_t)``: the gradients of the step's input projection (written
        into ``dax_out`` and returned), of the state it read and of its recurrent term ``ah_t`` (gate-major)."""
        raise NotImplementedError

    def recurrent_grads(self, h_prev, dax, dah, step_caches):
        """``{name: gate-major gradient}`` of ``recurrent_params`` for all steps at once, from
        ``h_prev (T*N, H)`` (the state every step read), ``dax``, ``dah`` (G, T*N, H) and the step
        caches: ``dWh = h_prev.T @ dah`` for ``ah_t = h_{t-1} @ Wh``."""
        return {"Wh": h_prev.T @ dah}                                     # (G, H, H)

    # -- the loop -------------------------------------------------------------
    def forward(self, params, x, state=None, lengths=None):
        N, T, D = x.shape
        H = self.hidden
        if lengths is not None and len(self.directions) > 1:
            raise ValueError("per-row lengths are for a unidirectional layer (the final state after each "
                             "row's last real step)")
        last = None if lengths is None else np.asarray(lengths) - 1               # (N,) last real step
        outputs, final, caches = [], {}, []
        for d in self.directions:
            P = {n: params[f"{n}{d}"] for n in ("Wx", "b", *self.recurrent_params)}   # canonical
            P |= {f"{n}_g": gate_major(P[n], H)[:, None] if P[n].ndim == 1 else gate_major(P[n], H)
                  for n in list(P)}                                       # (G, D, H), (G, H, H), (G, 1, H)
            P["WhT_g"] = P["Wh_g"].swapaxes(1, 2)                         # (G, H, H): [k] is Wh_g[k].T
            xt = x.transpose(1, 0, 2)                                     # (T, N, D) time-major view
            xt = (xt[::-1] if d else xt).reshape(T * N, D)                # (T*N, D) x_T..x_1 backward
            ax = xt @ P["Wx_g"]                                           # (G, T*N, H) all steps at once
            ax += P["b_g"]
            ax = ax.reshape(-1, T, N, H).swapaxes(0, 1)                   # (T, G, N, H) view: ax[t] is step t's
            s = {n: np.zeros((N, H), dtype=x.dtype) if state is None else state[f"{n}{d}"]
                 for n in self.state_names}                               # each (N, H)
            hs = np.empty((T + 1, N, H), dtype=x.dtype)                   # h_0 .. h_T; step t writes hs[t+1]
            hs[0] = s["h"]
            step_caches = []
            ends = None if last is None else {n: np.zeros((N, H), dtype=x.dtype) for n in self.state_names}
            for t in range(T):
                s, step_cache = self.step(ax[t], s, P, hs[t + 1])         # each (N, H); s["h"] is hs[t+1]
                step_caches.append(step_cache)
                if last is not None:
                    ends = {n: np.where((last == t)[:, None], s[n], ends[n]) for n in s}   # (N, H) each
            out = hs[1:].transpose(1, 0, 2)                               # (N, T, H) view
            outputs.append(out[:, ::-1] if d else out)                    # step t stored at t
            final.update({f"{n}{d}": v for n, v in (s if last is None else ends).items()})
            caches.append((xt, hs, P, step_caches, last))
        output = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=-1)   # (N, T, dirs*H)
        return output, final, caches                                      # (one direction: a view of hs)

    def backward(self, doutput, dfinal, cache, input_grad=True):
        H = self.hidden
        dx, grads, dstate = None, {}, {}
        for k, d in enumerate(self.directions):
            xt, hs, P, step_caches, last = cache[k]
            T, N = hs.shape[0] - 1, hs.shape[1]
            if doutput is not None:
                dhs = doutput[:, :, k * H:(k + 1) * H]                    # (N, T, H)
                dhs = (dhs[:, ::-1] if d else dhs).transpose(1, 0, 2)     # (T, N, H) view, this direction's time
            ds = {n: dfinal[f"{n}{d}"].copy() if last is None else np.zeros_like(dfinal[f"{n}{d}"])
                  for n in self.state_names}                              # each (N, H), ours to overwrite
            G = self.gates
            dax = np.empty((G, T, N, H), dtype=hs.dtype)                  # step t writes dax[:, t] (G, N, H)
            dah = [None] * T                                              # each step's (G', N, H)
            for t in range(T - 1, -1, -1):
                if last is not None:                                      # dfinal enters at each row's end
                    ds = {n: ds[n] + np.where((last == t)[:, None], dfinal[f"{n}{d}"], 0.0) for n in ds}
                if doutput is not None:
                    ds["h"] += dhs[t]                                     # (N, H) both paths into h_t
                dax_t, ds, dah[t] = self.step_backward(ds, step_caches[t], P, dax[:, t])
            same = dah[0] is dax_t                                        # SimpleRNN, LSTM: dah_t is dax_t
            dax = dax.reshape(G, T * N, H)                                # (G, T*N, H), a view
            dah = dax if same else np.stack(dah, axis=1).reshape(len(dah[0]), T * N, H)   # (G', T*N, H)
            dP = self.recurrent_grads(hs[:-1].reshape(T * N, H), dax, dah, step_caches)   # gate-major
            if input_grad:
                WxT = P["Wx_g"].swapaxes(1, 2)                            # (G, H, D): [k] is Wx_g[k].T
                dxt = dax[0] @ WxT[0]                                     # (T*N, D)
                for j in range(1, G):
                    dxt += dax[j] @ WxT[j]                                # sum_k dax[k] @ Wx_g[k].T
                dxt = dxt.reshape(T, N, -1)                               # (T, N, D)
                dx_dir = (dxt[::-1] if d else dxt).transpose(1, 0, 2)     # (N, T, D) in the input's time
                dx = dx_dir if dx is None else dx + dx_dir
            dWx = xt.T @ dax                                              # (G, D, H)
            db = dax.sum(axis=1)                                          # (G, H)
            grads.update({f"{n}{d}": canonical(g) for n, g in ({"Wx": dWx, "b": db} | dP).items()})
            dstate.update({f"{n}{d}": g for n, g in ds.items()})
        return dx, grads, dstate


class SimpleRNN(Recurrent):
    def __init__(self, in_features, hidden, activation="tanh", bidirectional=False):
        super().__init__(in_features, hidden, bidirectional)
        self.act_forward, self.act_backward = activations.get(activation)

    def step(self, ax_t, state, P, h_out):
        h_prev = state["h"]                                               # (N, H)
        a = h_prev @ P["Wh"]                                              # (N, H)
        a += ax_t[0]                                                      # x_t @ Wx + b + h_{t-1} @ Wh
        h = self.act_forward(a, out=h_out)                                # (N, H)
        return {"h": h}, (h_prev, a, h)

    def step_backward(self, dstate, cache, P, dax_out):
        h_prev, a, h = cache
        da = self.act_backward(dstate["h"], a, h, out=dax_out[0])         # (N, H)
        dh_prev = da @ P["Wh"].T                                          # (N, H)
        return dax_out, {"h": dh_prev}, dax_out                           # (1, N, H): one gate block
