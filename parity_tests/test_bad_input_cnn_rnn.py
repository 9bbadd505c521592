"""Bad input to the CNN and the recurrent models is rejected with a clear error, the same
in NumPy, torch and Keras (the checks run in ``reference_numpy/validation.py`` before any
framework sees the data), and bad specs are refused when they are made.

CNN: input that is not 4-D, a channel (or height / width) mismatch -- including an NHWC
image handed to the NCHW model --, a kernel larger than the padded input, a stride or a
padding that does not fit. Recurrent: wrong rank, a feature-size mismatch, ``seq_len`` 0,
an initial state of the wrong shape, batch or keys, an initial state given to a
feed-forward model, and cell options that do not exist.
"""

from __future__ import annotations

import numpy as np
import pytest

from reference_numpy.initializers import init_params
from reference_numpy.specs import CNNSpec, Conv2D, Pool2D, RNNSpec
from reports.harness import FRAMEWORKS, make_adapter

N = 2
CNN = CNNSpec(2, 6, 5, (Conv2D(3, 3, padding="same"), Pool2D("max", (2, 1))), (4,), 3)
RNN = RNNSpec("lstm", 3, 4, 2, bidirectional=True, return_sequences=True)
SPECS = {"cnn": CNN, "rnn": RNN}


def adapter(framework, key):
    spec = SPECS[key]
    return make_adapter(framework, spec, init_params(spec, 1, "he", bias="normal", bias_std=0.5))


def state(shape=(N, 4), drop=(), **override):
    rng = np.random.default_rng(0)
    s = {name: rng.standard_normal(shape) for name in RNN.state_shapes() if name not in drop}
    s.update(override)
    return s


rng = np.random.default_rng(3)
BAD = [
    # (id, spec key, method, args, error, message regex)
    ("cnn_x_rank_3", "cnn", "forward", (rng.standard_normal((N, 6, 5)),), ValueError,
     r"x must have rank 4 with shape \(N, 2, 6, 5\), got rank 3"),
    ("cnn_x_nhwc", "cnn", "forward", (rng.standard_normal((N, 6, 5, 2)),), ValueError,
     r"x must have shape \(N, 2, 6, 5\), got \(2, 6, 5, 2\) \(axis 1 = channels: expected 2, got 6\)"),
    ("cnn_x_one_channel", "cnn", "forward", (rng.standard_normal((N, 1, 6, 5)),), ValueError,
     r"axis 1 = channels: expected 2, got 1"),
    ("cnn_x_wrong_height", "cnn", "vjp", (rng.standard_normal((N, 2, 7, 5)), rng.standard_normal((N, 3))),
     ValueError, r"axis 2 = height: expected 6, got 7"),
    ("cnn_x_wrong_width", "cnn", "loss_and_grads", (rng.standard_normal((N, 2, 6, 4)), np.array([0, 2])),
     ValueError, r"axis 3 = width: expected 5, got 4"),
    ("cnn_initial_state", "cnn", "forward", (rng.standard_normal((N, 2, 6, 5)), {"h": np.zeros((N, 4))}),
     ValueError, r"CNNSpec is feed-forward and takes no initial_state"),
    ("rnn_x_rank_2", "rnn", "forward", (rng.standard_normal((N, 3)),), ValueError,
     r"x must have rank 3 with shape \(N, T, 3\), got rank 2"),
    ("rnn_feature_mismatch", "rnn", "forward", (rng.standard_normal((N, 5, 2)),), ValueError,
     r"axis 2 = features: expected 3, got 2"),
    ("rnn_seq_len_0", "rnn", "forward", (np.zeros((N, 0, 3)),), ValueError,
     r"x must have at least one step along axis 1 \(time steps\), got shape \(2, 0, 3\)"),
    ("rnn_state_wrong_hidden", "rnn", "forward", (rng.standard_normal((N, 5, 3)), state(h=np.zeros((N, 5)))),
     ValueError, r"initial_state\['h'\] must have shape \(2, 4\), got \(2, 5\) \(axis 1 = hidden"),
    ("rnn_state_wrong_batch", "rnn", "final_state", (rng.standard_normal((N, 5, 3)), state(shape=(3, 4))),
     ValueError, r"initial_state\['h'\] must have shape \(2, 4\), got \(3, 4\) \(axis 0 = batch"),
    ("rnn_state_rank_3", "rnn", "vjp", (rng.standard_normal((N, 5, 3)), rng.standard_normal((N, 5, 2)),
                                        state(c=np.zeros((1, N, 4)))),
     ValueError, r"initial_state\['c'\] must have rank 2"),
    ("rnn_state_missing_keys", "rnn", "loss_and_grads",
     (rng.standard_normal((N, 5, 3)), rng.standard_normal((N, 5, 2)), state(drop=("c", "c_reverse"))),
     KeyError, r"initial_state must have exactly the keys \['h', 'c', 'h_reverse', 'c_reverse'\]: "
               r"missing \['c', 'c_reverse'\]"),
    ("rnn_state_extra_key", "rnn", "forward", (rng.standard_normal((N, 5, 3)), state(h_backward=np.zeros((N, 4)))),
     KeyError, r"unexpected \['h_backward'\]"),
    ("rnn_state_not_a_dict", "rnn", "forward", (rng.standard_normal((N, 5, 3)), np.zeros((N, 4))),
     TypeError, r"initial_state must be a dict with keys"),
    ("rnn_target_not_per_step", "rnn", "loss_and_grads", (rng.standard_normal((N, 5, 3)), rng.standard_normal((N, 2))),
     ValueError, r"target must have rank 3 with shape \(2, 5, 2\)"),
]
IDS = [b[0] for b in BAD]


@pytest.mark.parametrize("bad", BAD, ids=IDS)
def test_bad_call_is_rejected_the_same_way_everywhere(bad):
    _, key, method, args, error, match = bad
    messages = set()
    for framework in FRAMEWORKS:
        with pytest.raises(error, match=match) as info:
            getattr(adapter(framework, key), method)(*args)
        messages.add(str(info.value))
    assert len(messages) == 1, messages


BAD_SPECS = [
    ("kernel_larger_than_input", lambda: CNNSpec(1, 4, 4, (Conv2D(2, 5),), (), 2),
     r"kernel 5 is larger than the padded input height 4 \(= 4 \+ padding 0 \+ 0\)"),
    ("kernel_larger_than_padded_input", lambda: CNNSpec(1, 3, 8, (Conv2D(2, (6, 3), padding=1),), (), 2),
     r"kernel 6 is larger than the padded input height 5"),
    ("kernel_larger_after_pooling", lambda: CNNSpec(1, 8, 8, (Pool2D("max", 4), Conv2D(2, 3)), (), 2),
     r"layers\[1\] Conv2D on input \(C, H, W\) = \(1, 2, 2\): kernel 3 is larger"),
    ("stride_does_not_fit", lambda: CNNSpec(1, 8, 8, (Conv2D(2, 3, stride=2),), (), 2),
     r"stride 2 does not fit the padded input height 8 with kernel 3: .* would be silently dropped"),
    ("pool_does_not_tile", lambda: CNNSpec(1, 7, 7, (Pool2D("avg", 2),), (), 2),
     r"Pool2D .* stride 2 does not fit the padded input height 7"),
    ("pad_as_large_as_kernel", lambda: Conv2D(2, 3, padding=3),
     r"padding 3 does not fit kernel \(3, 3\): each height pad must lie in \[0, 2\]"),
    ("negative_pad", lambda: Conv2D(2, 3, padding=((0, -1), (0, 0))), r"each height pad must lie in \[0, 2\]"),
    ("unknown_padding", lambda: Conv2D(2, 3, padding="full"), r"unknown padding 'full'; expected one of valid, same"),
    ("zero_stride", lambda: Conv2D(2, 3, stride=0), r"stride must be a positive int"),
    ("kernel_triple", lambda: Conv2D(2, (3, 3, 3)), r"kernel must be an int or a pair of ints"),
    ("unknown_pooling", lambda: Pool2D("min"), r"unknown pooling 'min'; expected one of max, avg"),
    ("empty_layers", lambda: CNNSpec(1, 8, 8, (), (), 2), r"layers must be a non-empty tuple"),
    ("unknown_cell", lambda: RNNSpec("transformer", 2, 3, 1),
     r"unknown cell 'transformer'; expected one of rnn, lstm, gru"),
    ("lstm_relu", lambda: RNNSpec("lstm", 2, 3, 1, activation="relu"), r"activation='relu' is a SimpleRNN option"),
    ("lstm_reset_before", lambda: RNNSpec("lstm", 2, 3, 1, reset_after=False), r"reset_after=False is a GRU option"),
    ("zero_hidden", lambda: RNNSpec("gru", 2, 0, 1), r"hidden must be a positive int"),
    ("softmax_per_step", lambda: RNNSpec("rnn", 2, 3, 4, return_sequences=True, output="softmax",
                                         loss="softmax_cross_entropy"), r"softmax_cross_entropy is for many-to-one"),
]


@pytest.mark.parametrize("make, match", [b[1:] for b in BAD_SPECS], ids=[b[0] for b in BAD_SPECS])
def test_bad_spec_is_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()
