"""Convolution, pooling and flatten layers with hand-written backward passes (im2col).

Shape legend: N batch, C channels, H x W input height x width, F filters, KH x KW kernel
(or pooling window), SH x SW stride, pads ``((pt, pb), (pl, pr))`` zeros added at the
top / bottom and left / right, OH x OW output height x width::

    OH = (H + pt + pb - KH) // SH + 1          OW = (W + pl + pr - KW) // SW + 1

Images are NCHW ``(N, C, H, W)``, filters OIHW ``W (F, C, KH, KW)`` (torch's layouts; the
Keras HWIO kernel is converted in ``impl_tf/weights.py``). The functions are written like
``layers.py``: ``forward`` returns ``(out, cache)``, ``backward(dout, cache)`` returns new
arrays and writes into none of its inputs.

im2col (the notes' ``im2col``, with (SH, SW) strides and asymmetric pads -- Keras's "same"
puts the odd extra pixel at the bottom / right). One row per output pixel ``(n, i, j)``,
one column per channel and kernel offset ``(c, p, q)``::

    x_p = zero-pad(x)                                            (N, C, H + pt + pb, W + pl + pr)
    col[(n, i, j), (c, p, q)] = x_p[n, c, i*SH + p, j*SW + q]    (N*OH*OW, C*KH*KW)

built from KH*KW strided slices (one per kernel offset (p, q)): no loop over the batch or
over the output pixels. col2im is im2col's adjoint (its transpose, not its inverse): every
entry goes back to the pixel it was read from, entries that land on the same pixel are
ADDED (overlapping windows, stride < kernel), and the pads are cut off::

    dx_p[n, c, i*SH + p, j*SW + q] += dcol[(n, i, j), (c, p, q)]  (N, C, H + pt + pb, W + pl + pr)
    dx = dx_p[:, :, pt:pt + H, pl:pl + W]                         (N, C, H, W)

Conv2D, ``u[n, f, i, j] = sum_{c, p, q} x_p[n, c, i*SH + p, j*SW + q] * W[f, c, p, q] + b[f]``
computed as one matrix product::

    forward   col    = im2col(x)                                  (N*OH*OW, C*KH*KW)
              W_col  = W.reshape(F, C*KH*KW)                      (F, C*KH*KW)
              u_col  = col @ W_col.T + b                          (N*OH*OW, F)
              u      = u_col.reshape(N, OH, OW, F).transpose(0, 3, 1, 2)   (N, F, OH, OW)
    backward  du_col = du.transpose(0, 2, 3, 1).reshape(N*OH*OW, F)     (N*OH*OW, F)
              db     = sum_rows du_col                            (F,)
              dW_col = du_col.T @ col                             (F, C*KH*KW)
              dW     = dW_col.reshape(F, C, KH, KW)               (F, C, KH, KW)
              dcol   = du_col @ W_col                             (N*OH*OW, C*KH*KW)
              dx     = col2im(dcol)                               (N, C, H, W)

Pooling over KH x KW windows, no padding (``r`` a row = output pixel, ``k`` = p*KW + q the
offset inside the window, in row-major order)::

    forward   col    = im2col(x).reshape(N*OH*OW, C, KH*KW)       (N*OH*OW, C, KH*KW)
              max:  k*[r, c]    = argmax_k col[r, c, k]           (N*OH*OW, C)  the FIRST maximum
                    z_col[r, c] = col[r, c, k*[r, c]]             (N*OH*OW, C)
              avg:  z_col[r, c] = sum_k col[r, c, k] / (KH*KW)    (N*OH*OW, C)
              z      = z_col.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)   (N, C, OH, OW)
    backward  dz_col = dz.transpose(0, 2, 3, 1).reshape(N*OH*OW, C)     (N*OH*OW, C)
              max:  dcol[r, c, k] = dz_col[r, c] if k == k*[r, c] else 0
              avg:  dcol[r, c, k] = dz_col[r, c] / (KH*KW)        (N*OH*OW, C, KH*KW)
              dx     = col2im(dcol.reshape(N*OH*OW, C*KH*KW))     (N, C, H, W)

On a tie the max-pool gradient goes whole to the first maximum of the window in row-major
order (``np.argmax`` returns the first), as torch and Keras do; it is not shared out.

Flatten, in (C, H, W) order -- NCHW's own memory order, so a plain reshape::

    forward   z_flat = z.reshape(N, C*H*W)                        (N, C*H*W)
    backward  dz     = dz_flat.reshape(N, C, H, W)                (N, C, H, W)
"""

from __future__ import annotations

import numpy as np

NO_PADS = ((0, 0), (0, 0))


def output_size(height, width, kh, kw, stride, pads):
    """``(OH, OW)`` of a KH x KW window sliding with ``stride`` over the padded input."""
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    oh, ow = (height + pt + pb - kh) // sh + 1, (width + pl + pr - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"window {kh}x{kw} does not fit the padded input "
                         f"{height + pt + pb}x{width + pl + pr}")
    return oh, ow


def im2col(x, kh, kw, stride, pads):
    n, c, h, w = x.shape
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    oh, ow = output_size(h, w, kh, kw, stride, pads)
    x_p = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))                    # (N, C, H+pt+pb, W+pl+pr)
    col = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)                     # (N, C, KH, KW, OH, OW)
    for p in range(kh):
        for q in range(kw):
            col[:, :, p, q] = x_p[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw]   # (N, C, OH, OW)
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * kh * kw)  # (N*OH*OW, C*KH*KW)


def col2im(col, x_shape, kh, kw, stride, pads):
    n, c, h, w = x_shape
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    oh, ow = output_size(h, w, kh, kw, stride, pads)
    col = col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)       # (N, C, KH, KW, OH, OW)
    dx_p = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=col.dtype)        # (N, C, H+pt+pb, W+pl+pr)
    for p in range(kh):
        for q in range(kw):
            dx_p[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw] += col[:, :, p, q]  # add: windows may overlap
    return dx_p[:, :, pt:pt + h, pl:pl + w]                                   # (N, C, H, W)


def conv2d_forward(x, W, b, stride, pads):
    n, _, h, w = x.shape
    f, _, kh, kw = W.shape
    oh, ow = output_size(h, w, kh, kw, stride, pads)
    col = im2col(x, kh, kw, stride, pads)                     # (N*OH*OW, C*KH*KW)
    W_col = W.reshape(f, -1)                                  # (F, C*KH*KW)
    u_col = col @ W_col.T + b                                 # (N*OH*OW, F)
    u = u_col.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)     # (N, F, OH, OW)
    return u, (x.shape, col, W, stride, pads)


def conv2d_backward(du, cache):
    x_shape, col, W, stride, pads = cache
    f, _, kh, kw = W.shape
    du_col = du.transpose(0, 2, 3, 1).reshape(-1, f)          # (N*OH*OW, F)
    db = du_col.sum(axis=0)                                   # (F,)
    dW = (du_col.T @ col).reshape(W.shape)                    # (F, C, KH, KW)
    dcol = du_col @ W.reshape(f, -1)                          # (N*OH*OW, C*KH*KW)
    dx = col2im(dcol, x_shape, kh, kw, stride, pads)          # (N, C, H, W)
    return dx, dW, db


def pool2d_forward(x, kind, size, stride):
    n, c, h, w = x.shape
    kh, kw = size
    oh, ow = output_size(h, w, kh, kw, stride, NO_PADS)
    col = im2col(x, kh, kw, stride, NO_PADS).reshape(-1, c, kh * kw)          # (N*OH*OW, C, KH*KW)
    if kind == "max":
        first_max = np.argmax(col, axis=-1)                                   # (N*OH*OW, C)
        z_col = np.take_along_axis(col, first_max[..., None], axis=-1)[..., 0]  # (N*OH*OW, C)
    elif kind == "avg":
        first_max = None
        z_col = col.sum(axis=-1) / (kh * kw)                                  # (N*OH*OW, C)
    else:
        raise ValueError(f"unknown pooling {kind!r}; expected 'max' or 'avg'")
    z = z_col.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)                     # (N, C, OH, OW)
    return z, (x.shape, kind, size, stride, first_max)


def pool2d_backward(dz, cache):
    x_shape, kind, (kh, kw), stride, first_max = cache
    c = x_shape[1]
    dz_col = dz.transpose(0, 2, 3, 1).reshape(-1, c, 1)                       # (N*OH*OW, C, 1)
    if kind == "max":
        is_first_max = np.arange(kh * kw) == first_max[..., None]             # (N*OH*OW, C, KH*KW)
        dcol = np.where(is_first_max, dz_col, 0.0)                            # (N*OH*OW, C, KH*KW)
    else:
        dcol = np.broadcast_to(dz_col / (kh * kw), dz_col.shape[:2] + (kh * kw,))  # (N*OH*OW, C, KH*KW)
    return col2im(dcol.reshape(-1, c * kh * kw), x_shape, kh, kw, stride, NO_PADS)  # (N, C, H, W)


def flatten_forward(z):
    return z.reshape(z.shape[0], -1), z.shape                 # (N, C*H*W), (C, H, W) order


def flatten_backward(dz, cache):
    return dz.reshape(cache)                                  # (N, C, H, W)
