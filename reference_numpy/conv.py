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
puts the odd extra pixel at the bottom / right). Every window is a strided VIEW of the padded
input (``np.lib.stride_tricks.sliding_window_view``: no copy)::

    x_p = zero-pad(x)                                            (N, C, H + pt + pb, W + pl + pr)
    win[n, c, p, q, i, j] = x_p[n, c, i*SH + p, j*SW + q]        (N, C, KH, KW, OH, OW)  a view

The notes' matrix has one row per output pixel ``(n, i, j)`` and one column per channel and
kernel offset ``(c, p, q)``; the convolution uses the same numbers grouped per image, with the
output pixels on the last axis, so that its product comes out in NCHW order (no transpose of
``u`` or ``du``). Each is one copy of the view::

    im2col(x)[(n, i, j), (c, p, q)] = win[n, c, p, q, i, j]      (N*OH*OW, C*KH*KW)   the notes' layout
    col[n, (c, p, q), (i, j)]       = win[n, c, p, q, i, j]      (N, C*KH*KW, OH*OW)  Conv2D's layout

col2im is im2col's adjoint (its transpose, not its inverse): every entry goes back to the pixel it
was read from, entries that land on the same pixel are ADDED (overlapping windows, stride <
kernel), and the pads are cut off -- one strided add per kernel offset (p, q), over all images,
channels and output pixels at once::

    dx_p[n, c, i*SH + p, j*SW + q] += dwin[n, c, p, q, i, j]     (N, C, H + pt + pb, W + pl + pr)
    dx = dx_p[:, :, pt:pt + H, pl:pl + W]                         (N, C, H, W)

Conv2D, ``u[n, f, i, j] = sum_{c, p, q} x_p[n, c, i*SH + p, j*SW + q] * W[f, c, p, q] + b[f]``
computed as one matrix product per image (one stacked ``matmul`` for the batch)::

    forward   col    = im2col(x) per image                        (N, C*KH*KW, OH*OW)
              W_col  = W.reshape(F, C*KH*KW)                      (F, C*KH*KW)
              u      = W_col @ col + b                            (N, F, OH*OW) -> (N, F, OH, OW)
    backward  du     = du.reshape(N, F, OH*OW)                    (N, F, OH*OW)
              db     = sum_{n, (i, j)} du                         (F,)
              dW_col = sum_n du[n] @ col[n].T                     (F, C*KH*KW)
              dW     = dW_col.reshape(F, C, KH, KW)               (F, C, KH, KW)
              dcol   = W_col.T @ du                               (N, C*KH*KW, OH*OW)
              dx     = col2im(dcol)                               (N, C, H, W)

computed one kernel offset (p, q) -- one block of dcol's rows, ``W[:, :, p, q].T @ du`` -- at a
time and added straight into its window, so the (N, C*KH*KW, OH*OW) ``dcol`` never exists.

Pooling over KH x KW windows, no padding (``k = p*KW + q`` the offset inside the window, in
row-major order), computed on the window view one offset at a time (no im2col copy)::

    forward   max:  z[n, c, i, j]  = max_k win[n, c, k, i, j]     (N, C, OH, OW)
                    k*[n, c, i, j] = the FIRST k that attains it  (N, C, OH, OW)
              avg:  z[n, c, i, j]  = sum_k win[n, c, k, i, j] / (KH*KW)   (over a copy, k last)
    backward  max:  dwin[n, c, k, i, j] = dz[n, c, i, j] if k == k*[n, c, i, j] else 0
              avg:  dwin[n, c, k, i, j] = dz[n, c, i, j] / (KH*KW)
              dx     = col2im(dwin)                               (N, C, H, W)  offset by offset,
                                                                  no dwin array

The first maximum is found with a strict ``>`` while scanning k in order (a tie keeps the
earlier offset, as ``np.argmax`` does); the cache holds it as ``first_max`` ``(N*OH*OW, C)``,
one row per output pixel of the notes' im2col layout (``first_max[(n, i, j), c] = k*``). On a tie
the max-pool gradient goes whole to the first maximum of the window in row-major order, as torch
and Keras do; it is not shared out.

Flatten, in (C, H, W) order -- NCHW's own memory order, so a plain reshape::

    forward   z_flat = z.reshape(N, C*H*W)                        (N, C*H*W)
    backward  dz     = dz_flat.reshape(N, C, H, W)                (N, C, H, W)
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

NO_PADS = ((0, 0), (0, 0))


def output_size(height, width, kh, kw, stride, pads):
    """``(OH, OW)`` of a KH x KW window sliding with ``stride`` over the padded input."""
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    oh, ow = (height + pt + pb - kh) // sh + 1, (width + pl + pr - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"window {kh}x{kw} does not fit the padded input "
                         f"{height + pt + pb}x{width + pl + pr}")
    return oh, ow


def zero_pad(x, pads):
    """``x`` with ``pads`` zeros around its last two axes (``x`` itself when there are none)."""
    if pads == NO_PADS:
        return x
    n, c, h, w = x.shape
    ((pt, pb), (pl, pr)) = pads
    x_p = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=x.dtype)          # (N, C, H+pt+pb, W+pl+pr)
    x_p[:, :, pt:pt + h, pl:pl + w] = x
    return x_p


def windows(x, kh, kw, stride, pads):
    """``win (N, C, KH, KW, OH, OW)``, ``win[n, c, p, q, i, j] = x_p[n, c, i*SH + p, j*SW + q]``: a
    read-only strided view of the padded input, no copy."""
    output_size(x.shape[2], x.shape[3], kh, kw, stride, pads)                 # raises if it does not fit
    sh, sw = stride
    win = sliding_window_view(zero_pad(x, pads), (kh, kw), axis=(2, 3))      # (N, C, OH', OW', KH, KW), stride 1
    return win[:, :, ::sh, ::sw].transpose(0, 1, 4, 5, 2, 3)                 # (N, C, KH, KW, OH, OW)


def im2col(x, kh, kw, stride, pads):
    """The notes' im2col: ``(N*OH*OW, C*KH*KW)``, one row per output pixel (one copy of the view)."""
    n, c = x.shape[:2]
    win = windows(x, kh, kw, stride, pads)                                    # (N, C, KH, KW, OH, OW)
    return win.transpose(0, 4, 5, 1, 2, 3).reshape(n * win.shape[4] * win.shape[5], c * kh * kw)


def add_windows(dwin, x_shape, stride, pads):
    """col2im's core: ``dx (N, C, H, W)`` from ``dwin (N, C, KH, KW, OH, OW)``, every entry added to the
    pixel its window read it from (module docstring)."""
    n, c, h, w = x_shape
    _, _, kh, kw, oh, ow = dwin.shape
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    dx_p = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=dwin.dtype)      # (N, C, H+pt+pb, W+pl+pr)
    for p in range(kh):
        for q in range(kw):
            dx_p[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw] += dwin[:, :, p, q]  # add: windows may overlap
    return dx_p[:, :, pt:pt + h, pl:pl + w]                                   # (N, C, H, W)


def col2im(col, x_shape, kh, kw, stride, pads):
    """The adjoint of the notes' im2col: ``col (N*OH*OW, C*KH*KW)`` -> ``dx (N, C, H, W)``."""
    n, c, h, w = x_shape
    oh, ow = output_size(h, w, kh, kw, stride, pads)
    dwin = col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)      # (N, C, KH, KW, OH, OW)
    return add_windows(dwin, x_shape, stride, pads)


def conv2d_forward(x, W, b, stride, pads):
    n = x.shape[0]
    f, _, kh, kw = W.shape
    win = windows(x, kh, kw, stride, pads)                    # (N, C, KH, KW, OH, OW) view
    oh, ow = win.shape[4:]
    col = win.reshape(n, -1, oh * ow)                         # (N, C*KH*KW, OH*OW) the one copy
    u = W.reshape(f, -1) @ col                                # (N, F, OH*OW) a product per image
    u += b[:, None]
    return u.reshape(n, f, oh, ow), (x.shape, col, W, stride, pads)    # (N, F, OH, OW)


def conv2d_backward(du, cache, input_grad=True):
    x_shape, col, W, (sh, sw), pads = cache
    n, c, h, w = x_shape
    f, _, kh, kw = W.shape
    _, _, oh, ow = du.shape
    ((pt, pb), (pl, pr)) = pads
    du = du.reshape(n, f, oh * ow)                            # (N, F, OH*OW)
    db = du.sum(axis=(0, 2))                                  # (F,)
    dW = (du @ col.transpose(0, 2, 1)).sum(axis=0)            # (F, C*KH*KW) summed over the images
    if not input_grad:                                        # no dx asked for (a training step's first layer)
        return None, dW.reshape(W.shape), db
    # dx = col2im(W_col.T @ du), one kernel offset (p, q) -- one block of dcol's rows -- at a time, added
    # straight into its window: no (N, C*KH*KW, OH*OW) dcol array
    dx_p = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=du.dtype)        # (N, C, H+pt+pb, W+pl+pr)
    for p in range(kh):
        for q in range(kw):
            dcol_pq = W[:, :, p, q].T @ du                                    # (N, C, OH*OW)
            dx_p[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw] += dcol_pq.reshape(n, c, oh, ow)
    return dx_p[:, :, pt:pt + h, pl:pl + w], dW.reshape(W.shape), db          # (N, C, H, W)


def pool2d_forward(x, kind, size, stride):
    n, c = x.shape[:2]
    kh, kw = size
    if kind not in ("max", "avg"):
        raise ValueError(f"unknown pooling {kind!r}; expected 'max' or 'avg'")
    win = windows(x, kh, kw, stride, NO_PADS)                                 # (N, C, KH, KW, OH, OW) view
    oh, ow = win.shape[4:]
    if kind == "avg":
        col = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c, oh, ow, kh * kw)  # (N, C, OH, OW, KH*KW) a copy
        return col.sum(axis=-1) / (kh * kw), (x.shape, kind, size, stride, None)   # (N, C, OH, OW)
    z = win[:, :, 0, 0].copy()                                                # (N, C, OH, OW) offset k = 0
    k_type = np.min_scalar_type(kh * kw - 1)                                  # uint8 up to 16 x 16 windows
    k_star = np.zeros(z.shape, dtype=k_type)                                  # (N, C, OH, OW)
    for k in range(1, kh * kw):
        p, q = divmod(k, kw)
        v = win[:, :, p, q]                                                   # (N, C, OH, OW) offset k = (p, q)
        np.maximum(k_star, (v > z) * k_type.type(k), out=k_star)   # k* = k where v beats every earlier k
        np.maximum(z, v, out=z)
    first_max = k_star.transpose(0, 2, 3, 1).reshape(-1, c)                  # (N*OH*OW, C) the cache's layout
    return z, (x.shape, kind, size, stride, first_max)


def pool2d_backward(dz, cache):
    x_shape, kind, (kh, kw), (sh, sw), first_max = cache
    n, c, oh, ow = dz.shape
    if kind == "max":
        k_star = np.ascontiguousarray(first_max.reshape(n, oh, ow, c).transpose(0, 3, 1, 2))  # (N, C, OH, OW)
    else:
        dz_k = dz / (kh * kw)                                                 # (N, C, OH, OW) every offset's
    # col2im of dwin, one offset k = (p, q) at a time, added straight into its window (no dwin array)
    dx = np.zeros(x_shape, dtype=dz.dtype)                                    # (N, C, H, W)
    for k in range(kh * kw):
        p, q = divmod(k, kw)
        window_k = dx[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw]               # (N, C, OH, OW) view
        window_k += dz * (k_star == k) if kind == "max" else dz_k            # dz where k is the first max
    return dx


def flatten_forward(z):
    return z.reshape(z.shape[0], -1), z.shape                 # (N, C*H*W), (C, H, W) order


def flatten_backward(dz, cache):
    return dz.reshape(cache)                                  # (N, C, H, W)
