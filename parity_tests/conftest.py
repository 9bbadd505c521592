"""Shared pytest set-up: the Keras backend is chosen before anything imports keras."""

import impl_tf  # noqa: F401  (sets KERAS_BACKEND=tensorflow)
