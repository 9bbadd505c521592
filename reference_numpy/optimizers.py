"""Optimizers on canonical parameter dicts (the notes' ``params[key] -= lr * grad[key]``).

Every update is written here the way the code computes it, for one parameter ``w`` with
gradient ``g`` (after clipping and weight decay, below); ``t`` is the step number (1, 2, ...),
``mu`` the momentum, ``f32(.)`` rounding to float32 (only with ``float32_hyperparameters``)::

    sgd         w <- w - lr g
    momentum    "buffer" (torch):    buf <- g at t = 1, else mu buf + (1 - dampening) g;   w <- w - lr buf
                "velocity" (Keras, the notes):  v <- mu v - lr g;   w <- w + v
    nesterov    "buffer":   buf as above;                           w <- w - lr (g + mu buf)
                "velocity": v <- mu v - lr g;                       w <- w + mu v - lr g
    adagrad     h <- h + g^2  (h_0 = initial_accumulator: torch 0, Keras 0.1)
                "outside" (torch): w <- w - lr g / (sqrt(h) + eps)
                "inside"  (Keras): w <- w - lr g / sqrt(h + eps)
    rmsprop     v <- rho v + (1 - rho) g^2
                centered: a <- a + (1 - rho) (g - a);  s = v - a^2,   else s = v
                d = sqrt(s) + eps ("outside", torch)  or  sqrt(s + eps) ("inside", Keras)
                mu = 0:   w <- w - lr g / d
                "buffer":   buf <- mu buf + g / d;           w <- w - lr buf
                "velocity": mom <- mu mom + lr g / d;        w <- w - mom    (Keras; mom = lr buf)
    adam        m <- m + (1 - beta1) (g - m);   v <- v + (1 - beta2) (g^2 - v)
    amsgrad     ... and vmax <- max(vmax, v), used in place of v below
                c1 = 1 - f32(beta1)^t,  c2 = 1 - f32(beta2)^t
                "moments" (torch):    w <- w - (lr / c1) m / (sqrt(v) / sqrt(c2) + eps)
                "step_size" (Keras):  w <- w - m (lr sqrt(c2) / c1) / (sqrt(v) + eps)
                ("step_size" with eps is "moments" with eps / sqrt(c2): the same update at eps = 0)
    adamw       adam with decoupled weight decay

Before the update, in this order (the order of both frameworks)::

    clipping by global norm (the notes' ``gradient_clipping(grad, threshold)``: ``rate =
    threshold / norm; if rate < 1: grad * rate``, taken over all parameters at once):
        norm = sqrt(sum_p ||g_p||^2);   g_p <- min(1, clip_norm / (norm + clip_eps)) g_p
    weight decay ``wd``:
        "coupled" (L2, torch's weight_decay):    g <- g + wd w
        "decoupled" (torch AdamW, Keras):        w <- w - lr wd w       (then the update)

``clip_eps`` is where the frameworks differ: Keras's ``global_clipnorm`` uses
``clip_norm * min(1 / norm, 1 / clip_norm)`` (eps 0), torch's ``nn.utils.clip_grad_norm_`` uses
``clip_norm / (norm + 1e-6)`` clamped at 1.

With ``float32_hyperparameters=True`` the values Keras passes through float32 are rounded first
(``float32_fields``): ``lr`` (a float32 variable), ``momentum`` of the SGD family and ``weight_decay``
(``ops.cast(python_float, float64)`` goes through a float32 tensor), AdaGrad's
``initial_accumulator`` (a ``Constant`` initializer) and Adam's ``beta1``/``beta2`` in the bias
corrections only (its moving averages multiply by the Python double ``1 - beta``, RMSprop's
``rho``, ``momentum`` and every ``eps`` are Python doubles too: not rounded).

Optimizer state in the canonical convention (``Optimizer.state()``, and every adapter's
``optimizer_state()``): ``{slot: {param name: array in the parameter's canonical layout}}``::

    momentum, nesterov   momentum     torch's buf, in gradient units (Keras's v = -lr buf)
    adagrad              accumulator  h (initial value included), step
    rmsprop              square_avg   v;  grad_avg  a (centered);  momentum  buf (mu > 0; Keras's
                                      mom = lr buf), step
    adam, adamw          m, v, step;   amsgrad also vmax

The ``step`` slot (a 0-d int64 array per parameter) is kept by every optimizer that counts steps in
both frameworks. ``Optimizer.step`` updates the model's own parameter arrays in place, like the
notes' optimizer classes; it never writes into the gradient arrays.
"""

from __future__ import annotations

import math

import numpy as np

from reference_numpy.specs import OptimizerSpec

#: The eps each framework adds to the global norm when clipping (see the module docstring).
CLIP_EPS = {"keras": 0.0, "torch": 1e-6}

#: The canonical optimizer-state slots of each optimizer (module docstring).
SLOTS = {"sgd": (), "momentum": ("momentum",), "nesterov": ("momentum",),
         "adagrad": ("accumulator", "step"), "rmsprop": ("square_avg", "step"),
         "adam": ("m", "v", "step"), "adamw": ("m", "v", "step"), "amsgrad": ("m", "v", "vmax", "step")}


def slot_names(spec: OptimizerSpec) -> tuple[str, ...]:
    """The canonical slots of ``spec``'s optimizer (RMSprop's depend on centered and momentum)."""
    if spec.name != "rmsprop":
        return SLOTS[spec.name]
    return (("square_avg",) + (("grad_avg",) if spec.centered else ())
            + (("momentum",) if spec.momentum > 0 else ()) + ("step",))


def float32_fields(spec: OptimizerSpec) -> tuple[str, ...]:
    """The hyperparameters Keras rounds to float32 even for a float64 model (module docstring)."""
    names = ["lr"]
    if spec.name in ("momentum", "nesterov"):
        names.append("momentum")
    if spec.name in ("adam", "adamw", "amsgrad"):
        names += ["beta1", "beta2"]
    if spec.name == "adagrad":
        names.append("initial_accumulator")
    if spec.weight_decay:
        names.append("weight_decay")
    return tuple(names)


def is_float32(value: float) -> bool:
    return float(np.float32(value)) == value


def convention_matters(spec: OptimizerSpec, field: str, dtype="float64") -> bool:
    """False when ``field``'s value cannot change ``spec``'s update in a ``dtype`` model, so a
    framework that has only the other convention runs it all the same:

    * eps placement and the Adam bias-correction form, when ``eps <= finfo(dtype).tiny`` (the
      matched preset): the forms differ only in how much eps the denominator gets (eps or
      sqrt(eps) -- inside the root --, eps or eps / sqrt(1 - beta2^t)), and so little is lost in
      rounding unless sqrt(v) is itself within a factor 2^53 (float64; 2^24 float32) of it --
      gradients around 1e-146 (float64) -- while a gradient that is exactly 0 gives 0 / eps = 0
      in both; at eps = 0 the forms are identical;
    * the weight-decay mode, when ``weight_decay = 0``, and for plain SGD
      (``w - lr (g + wd w) = w - lr wd w - lr g``);
    * float32 rounding, when every value Keras rounds (``float32_fields``) is float32-exact;
    * dampening, when it is 0;
    * the momentum form, always: the same update at a constant lr.
    """
    if field in ("eps_placement", "bias_correction"):
        return spec.eps > float(np.finfo(dtype).tiny)
    if field == "weight_decay_mode":
        return bool(spec.weight_decay) and spec.name != "sgd"
    if field == "float32_hyperparameters":
        return not all(is_float32(getattr(spec, f)) for f in float32_fields(spec))
    if field == "dampening":
        return bool(spec.dampening)
    if field == "momentum_form":
        return False
    raise ValueError(f"unknown convention field {field!r}")


def global_norm(grads: dict) -> float:
    return float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))


def clip_by_global_norm(grads: dict, clip_norm: float, eps: float = 0.0) -> dict:
    """``grads`` scaled by ``min(1, clip_norm / (norm + eps))`` (new arrays)."""
    scale = min(1.0, clip_norm / (global_norm(grads) + eps))
    return {name: g * scale for name, g in grads.items()}


class Optimizer:
    """Clipping, weight decay and the step count; subclasses write ``_update`` for one parameter."""

    def __init__(self, spec: OptimizerSpec):
        self.spec = spec
        rounded = bool(spec.float32_hyperparameters)
        self.f32 = (lambda v: float(np.float32(v))) if rounded else (lambda v: float(v))
        self.lr = self.f32(spec.lr)
        self.wd = self.f32(spec.weight_decay) if spec.weight_decay else 0.0
        self.t = 0
        self.slots: dict[str, dict[str, np.ndarray]] = {}

    def _slot(self, slot: str, name: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """The slot array of parameter ``name``, created at ``fill`` on first use."""
        arrays = self.slots.setdefault(slot, {})
        if name not in arrays:
            arrays[name] = np.full_like(like, fill)
        return arrays[name]

    def step(self, params: dict, grads: dict) -> None:
        spec = self.spec
        if spec.clip_norm is not None:
            grads = clip_by_global_norm(grads, spec.clip_norm, spec.clip_eps)
        self.t += 1
        for name, w in params.items():
            g = grads[name]
            if self.wd and spec.weight_decay_mode == "coupled":
                g = g + self.wd * w
            elif self.wd:
                w -= self.lr * self.wd * w
            self._update(name, w, g)

    def _update(self, name: str, w: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def state(self, params: dict) -> dict[str, dict[str, np.ndarray]]:
        """Every slot in the canonical convention (module docstring), copies; before the first
        step the initial values."""
        out = {}
        for slot in slot_names(self.spec):
            if slot == "step":
                out[slot] = {n: np.array(self.t, dtype=np.int64) for n in params}
            else:
                out[slot] = {n: self._canonical(slot, n, w) for n, w in params.items()}
        return out

    def _canonical(self, slot: str, name: str, w: np.ndarray) -> np.ndarray:
        return self.slots.get(slot, {}).get(name, np.zeros_like(w)).copy()


class SGD(Optimizer):
    def _update(self, name, w, g):
        w -= self.lr * g


class Momentum(Optimizer):
    """Heavy-ball momentum and Nesterov, in torch's buffer form or Keras's velocity form."""

    def __init__(self, spec):
        super().__init__(spec)
        self.mu = self.f32(spec.momentum)
        self.nesterov = spec.name == "nesterov"
        self.dampening = spec.dampening or 0.0
        self.velocity = spec.momentum_form == "velocity"

    def _update(self, name, w, g):
        if self.velocity:
            v = self._slot("velocity", name, w)
            v *= self.mu
            v -= self.lr * g                                    # v = mu v - lr g
            w += (self.mu * v - self.lr * g) if self.nesterov else v
            return
        if name not in self.slots.get("momentum", {}):
            buf = self._slot("momentum", name, w)
            buf[...] = g                                        # torch: buf = g at the first step
        else:
            buf = self._slot("momentum", name, w)
            buf *= self.mu
            buf += (1 - self.dampening) * g
        w -= self.lr * ((g + self.mu * buf) if self.nesterov else buf)

    def _canonical(self, slot, name, w):
        if self.velocity:                                       # buf = -v / lr
            return -self.slots.get("velocity", {}).get(name, np.zeros_like(w)) / self.lr
        return super()._canonical(slot, name, w)


class AdaGrad(Optimizer):
    def __init__(self, spec):
        super().__init__(spec)
        self.h0 = self.f32(spec.initial_accumulator)
        self.inside = spec.eps_placement == "inside"

    def _update(self, name, w, g):
        h = self._slot("accumulator", name, w, self.h0)
        h += g * g
        d = np.sqrt(h + self.spec.eps) if self.inside else np.sqrt(h) + self.spec.eps
        w -= self.lr * g / d

    def _canonical(self, slot, name, w):
        return self.slots.get(slot, {}).get(name, np.full_like(w, self.h0)).copy()


class RMSprop(Optimizer):
    def __init__(self, spec):
        super().__init__(spec)
        self.rho, self.mu = spec.rho, spec.momentum
        self.inside = spec.eps_placement == "inside"
        self.velocity = spec.momentum_form == "velocity"

    def _update(self, name, w, g):
        v = self._slot("square_avg", name, w)
        v *= self.rho
        v += (1 - self.rho) * g * g
        s = v
        if self.spec.centered:
            a = self._slot("grad_avg", name, w)
            a += (1 - self.rho) * (g - a)
            s = v - a * a
        d = np.sqrt(s + self.spec.eps) if self.inside else np.sqrt(s) + self.spec.eps
        if self.mu == 0:
            w -= self.lr * g / d
        elif self.velocity:
            mom = self._slot("velocity", name, w)
            mom *= self.mu
            mom += self.lr * g / d
            w -= mom
        else:
            buf = self._slot("momentum", name, w)
            buf *= self.mu
            buf += g / d
            w -= self.lr * buf

    def _canonical(self, slot, name, w):
        if slot == "momentum" and self.velocity:                # buf = mom / lr
            return self.slots.get("velocity", {}).get(name, np.zeros_like(w)) / self.lr
        return super()._canonical(slot, name, w)


class Adam(Optimizer):
    """Adam, AdamW and AMSGrad."""

    def __init__(self, spec):
        super().__init__(spec)
        self.b1, self.b2 = spec.beta1, spec.beta2
        self.amsgrad = spec.name == "amsgrad"

    def _update(self, name, w, g):
        m, v = self._slot("m", name, w), self._slot("v", name, w)
        m += (1 - self.b1) * (g - m)
        v += (1 - self.b2) * (g * g - v)
        if self.amsgrad:
            vmax = self._slot("vmax", name, w)
            np.maximum(vmax, v, out=vmax)
            v = vmax
        c1 = 1 - self.f32(self.b1) ** self.t
        c2 = 1 - self.f32(self.b2) ** self.t
        eps = self.spec.eps
        if self.spec.bias_correction == "moments":
            w -= (self.lr / c1) * m / (np.sqrt(v) / math.sqrt(c2) + eps)
        else:
            w -= m * (self.lr * math.sqrt(c2) / c1) / (np.sqrt(v) + eps)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Momentum, "adagrad": AdaGrad,
              "rmsprop": RMSprop, "adam": Adam, "adamw": Adam, "amsgrad": Adam}


def make_optimizer(spec: OptimizerSpec) -> Optimizer:
    if not isinstance(spec, OptimizerSpec):
        raise TypeError(f"optimizer must be an OptimizerSpec, got {type(spec).__name__}")
    return OPTIMIZERS[spec.name](spec)
