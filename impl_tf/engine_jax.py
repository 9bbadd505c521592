"""How Keras on JAX runs and differentiates the suite's Keras models: ``jax.vjp`` of a pure function.

The same functions as ``engine_tf.py`` (see its docstring for the contract). JAX differentiates
pure functions only, and a Keras variable on JAX is a stateful holder of a ``jax.Array``. So
``fn`` is made pure the way ``Layer.stateless_call`` does it, but for ANY function of the model
(``objective``, ``call``, ``run``, a seq2seq decoder step...), not only ``call``: inside a
``keras.StatelessScope`` mapping each variable to a traced value, every read of the variable
returns that value::

    pure(values, inputs) = fn(*inputs) with each variables[i] reading values[i]
    y, pullback = jax.vjp(pure, [v.value for v in variables], inputs)
    d_values, d_inputs = pullback(upstream)          (ones for a scalar loss)

A variable that ``fn`` assigns (batch norm's running statistics in training mode, a dropout
seed) is recorded by the scope, its new value leaves the program as an extra output and is
assigned afterwards: the same side effect as on the eager backends.

Each call is ONE ``jax.jit``-compiled program (forward and backward together). Eager JAX would
compile every op separately -- an XLA compilation per (primitive, shape, dtype), 20 .. 70 ms each
on this machine, hundreds per model -- which made a case cost seconds; one program per call costs
one compilation. The most recently used programs are kept with their functions (``_PROGRAMS``): the
adapter passes the same function objects at every call (``KerasAdapter.fns``) and everything else as
arguments -- the data, the targets (``constants``), the values of every variable the function reads
(``variables`` / ``context``) -- so the second call of ``forward`` or ``loss_and_grads`` runs the
compiled program instead of tracing and compiling again. And to compile nothing it does not need,
``build`` creates the variables under ``jax.eval_shape`` (shapes only: the random initializers are
traced, not compiled) before the canonical values are assigned.

The training step uses the optimizer's stateless API: ``optimizer.stateless_apply(optimizer_values,
grads, variable_values)`` returns the new values, compiled together with the gradient into one
program per (optimizer, loss function) and reused for every step; the new values are then
assigned to the variables.

float64 needs ``JAX_ENABLE_X64=true`` before jax is first imported (``impl_tf/__init__.py`` and
``reports/backends.py`` set it); without it JAX silently computes float64 models in float32, so
``check_dtype`` refuses them. And float64 stays float64 only with ``impl_tf.keep_float64()``
(called on import: Keras's type promotion maps float64 to float32 on JAX, see there).
"""

from __future__ import annotations

import collections
import weakref

import jax
import jax.numpy as jnp
import keras
import numpy as np

import impl_tf
from impl_tf import weights

BACKEND = "jax"
impl_tf.keep_float64()                  # float64 computed in float64 (the workaround, impl_tf/__init__.py)


def check_dtype(dtype: str) -> None:
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise RuntimeError("a float64 model on the JAX backend needs JAX_ENABLE_X64=true set before jax is "
                           "imported (without it JAX computes float64 in float32); jax was imported without it")


def build(model, spec, params) -> None:
    """Create the variables with shapes only (``jax.eval_shape``: the random initializers are traced,
    not compiled), then assign the canonical parameters. A variable created during that symbolic
    build holds a tracer; each gets zeros of its shape first, then its value: the canonical
    parameters here (``weights`` maps every trainable variable, or refuses the model), batch norm's
    running statistics right after (``weights.load_buffers`` in the adapter)."""
    jax.eval_shape(lambda: weights.build(model, spec))
    for variable in model.variables:
        if isinstance(variable.value, jax.core.Tracer):
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
    weights.load_canonical(model, spec, params)


def tensor(array: np.ndarray):
    out = jnp.asarray(array)
    if out.dtype != array.dtype:               # x64 off: float64 -> float32 (check_dtype refuses it first)
        raise TypeError(f"JAX turned a {array.dtype} array into {out.dtype} (JAX_ENABLE_X64 is not set)")
    return out


def to_numpy(value):
    return keras.tree.map_structure(lambda t: np.asarray(t), value)


class _Scope(keras.StatelessScope):
    """A ``StatelessScope`` that also keeps the variables assigned inside it (batch norm's running
    statistics in training mode, a dropout seed), so their new values can leave the compiled program."""

    def __init__(self, state_mapping):
        super().__init__(state_mapping=state_mapping)
        self.assigned = {}

    def add_update(self, update):
        super().add_update(update)
        self.assigned[id(update[0])] = update[0]


def _stateless(fn, variables):
    """``(pure, assigned)``: ``pure(values, inputs) -> (fn(*inputs), new values of the variables fn assigned)``
    with ``variables[i]`` reading ``values[i]``; ``assigned`` lists those variables once ``pure`` has
    been traced. ``_apply`` then assigns the values, as the eager backends' side effects do."""
    assigned = []

    def pure(values, inputs):
        with _Scope(list(zip(variables, values))) as scope:
            out = fn(*inputs)
        assigned[:] = list(scope.assigned.values())
        return out, [scope.get_current_value(v) for v in assigned]

    return pure, assigned


def _apply(assigned, values) -> None:
    for variable, value in zip(assigned, values, strict=True):
        variable.assign(value)


#: The programs kept for reuse, most recently used last: ``(id(fn), kind, variables) -> (weakref to fn, program)``,
#: at most ``KEEP_PROGRAMS`` of them. A compiled XLA CPU program holds its machine code in memory maps of its
#: own: keeping one per function for every adapter a long-lived process has made (the parity worker keeps an
#: adapter per case) ran out of them -- "LLVM compilation error: Cannot allocate memory", then a segfault.
_PROGRAMS: collections.OrderedDict = collections.OrderedDict()
KEEP_PROGRAMS = 32


def _program(fn, kind: str, variables, make):
    """The compiled program of ``fn`` (``make()`` the first time, and again once it has been dropped). Every
    variable ``fn`` reads is an input of the program, not a constant baked into it, so a kept program runs
    on the variables' current values; what ``fn`` reads from Python attributes (a model's mode) is fixed
    when it is traced -- a caller that changes one makes new functions."""
    key = (id(fn), kind, *map(id, variables))
    entry = _PROGRAMS.get(key)
    if entry is None or entry[0]() is not fn:           # new, or a dead function's id reused
        entry = _PROGRAMS[key] = (weakref.ref(fn), make())
    _PROGRAMS.move_to_end(key)
    while len(_PROGRAMS) > KEEP_PROGRAMS:
        _PROGRAMS.popitem(last=False)
    return entry[1]


def _others(context, variables) -> list:
    """The variables of ``context`` that are not among ``variables`` (the differentiated ones), in order."""
    return [v for v in context if all(v is not w for w in variables)]


def evaluate(fn, *args, variables=()):
    """``fn(*args)`` as one compiled program, reused for the same ``fn`` (assignments inside it applied after
    it; ``variables``: every variable ``fn`` reads); eagerly when ``fn`` branches on values, which a compiled
    program cannot (greedy decoding stops once every row has emitted ``eos``: ``if bool(ops.all(finished))``)."""
    variables = list(variables)

    def make():
        pure, assigned = _stateless(fn, variables)
        return jax.jit(pure), (pure, assigned)

    program, (pure, assigned) = _program(fn, "evaluate", variables, make)
    values = [v.value for v in variables]
    try:
        out, updates = program(values, list(args))
    except jax.errors.ConcretizationTypeError:
        out, updates = pure(values, list(args))
    _apply(assigned, updates)
    return to_numpy(out)


def gradients(fn, inputs, variables, upstream=None, constants=(), context=()):
    """``(y, input_grads, variable_grads)`` as NumPy (``engine_tf.py``), as ONE compiled program, reused for
    the same ``fn``; ``context``: the other variables ``fn`` reads (not differentiated)."""
    variables = list(variables)
    context = _others(context, variables)

    def make():
        pure, assigned = _stateless(fn, [*variables, *context])

        @jax.jit
        def value_and_pullback(values, context_values, inputs, constants, upstream):
            def of(values, inputs):
                return pure([*values, *context_values], [*inputs, *constants])

            y, pullback, updates = jax.vjp(of, values, inputs, has_aux=True)
            d_values, d_inputs = pullback(jnp.ones_like(y) if upstream is None else upstream.astype(y.dtype))
            return y, d_inputs, d_values, updates

        return value_and_pullback, assigned

    program, assigned = _program(fn, "gradients", [*variables, *context], make)
    y, d_inputs, d_values, updates = program([v.value for v in variables], [v.value for v in context],
                                             list(inputs), list(constants),
                                             None if upstream is None else jnp.asarray(upstream))
    _apply(assigned, updates)
    return np.asarray(y), [np.asarray(g) for g in d_inputs], [np.asarray(g) for g in d_values]


#: optimizer -> {loss function: its compiled step}; an entry goes with its optimizer.
_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def train_step(loss_fn, inputs, variables, optimizer, context=()) -> float:
    """One step of ``optimizer`` on the gradient of ``loss_fn(*inputs)``; the loss before it. ``context``: the
    other variables ``loss_fn`` reads (batch norm's running statistics, which a training-mode step also
    updates), inputs of the compiled step like the parameters, not constants baked into it. ``loss_fn``
    should be the same object at every step (the adapter's ``fns.loss``, made again when the mode changes)
    so that the compiled step is reused."""
    context = _others(context, variables)
    steps = _STEPS.setdefault(optimizer, weakref.WeakKeyDictionary())
    if loss_fn not in steps:
        pure, assigned = _stateless(loss_fn, [*variables, *context])

        @jax.jit
        def step(values, context_values, optimizer_values, inputs):
            def loss_of(values):
                return pure([*values, *context_values], inputs)

            (loss, updates), grads = jax.value_and_grad(loss_of, has_aux=True)(values)
            new_values, new_optimizer_values = optimizer.stateless_apply(optimizer_values, grads, values)
            return loss, new_values, new_optimizer_values, updates

        steps[loss_fn] = step, assigned
    step, assigned = steps[loss_fn]
    loss, values, optimizer_values, updates = step([v.value for v in variables], [v.value for v in context],
                                                   [v.value for v in optimizer.variables], list(inputs))
    _apply(assigned, updates)
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    for variable, value in zip(optimizer.variables, optimizer_values, strict=True):
        variable.assign(value)
    return float(loss)
