"""Embedding layer: token ids -> vectors, forward a row lookup, backward a scatter-add.

Shape legend: N batch, L sequence length, V vocabulary size, E embedding size.

The notes (day 3, "Encoder RNN") embed a one-hot word ``w`` (V,) with the matrix
``E (embed_size, vocab_size)`` as ``e = E . w``. With the suite's row-vector layout ``E (V, E)``
and one-hot rows ``W = onehot(ids) (N, L, V)``, that product is ``W @ E``; since each row of ``W``
has a single 1 at ``ids[n, l]``, it selects one row of ``E``::

    e[n, l] = sum_v W[n, l, v] E[v] = E[ids[n, l]]           forward:  e = E[ids]      (N, L, E)

The gradient of the product ``e = W @ E`` with respect to ``E`` is ``W^T @ de`` (summed over the
batch and time), and ``W^T`` again only picks rows: row ``v`` of ``dE`` collects every ``de[n, l]``
whose token is ``v``::

    dE[v] = sum_{n,l} W[n, l, v] de[n, l] = sum_{(n,l): ids[n,l] = v} de[n, l]
                                                             backward: np.add.at(dE, ids, de)   (V, E)

``np.add.at`` is unbuffered, so a token that occurs several times adds all its contributions
(``dE[ids] += de`` would keep only one). Rows of tokens that do not occur get exactly 0. There is
no special padding row: the pad id's row gets whatever the scatter-add gives (torch's
``padding_idx`` would zero it; Keras's ``mask_zero`` does not). Token ids carry no gradient.
"""

from __future__ import annotations

import numpy as np


class Embedding:
    """``forward(E, ids) -> (e, cache)`` and ``backward(de, cache) -> dE``."""

    def forward(self, E, ids):
        e = E[ids]                                                   # (N, L, E) = onehot(ids) @ E
        return e, (ids, E.shape)

    def backward(self, de, cache):
        ids, shape = cache
        dE = np.zeros(shape, dtype=de.dtype)                         # (V, E)
        np.add.at(dE, ids, de)                                       # (V, E) = onehot(ids)^T @ de
        return dE
