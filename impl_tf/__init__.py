"""The suite's models as Keras 3 models on the TensorFlow backend, plus the
mapping to and from the canonical parameter layout (``weights.py``, the only
place that knows Keras's variable layouts)."""

import os

# Keras 3 picks its backend from this variable when it is first imported; this
# package is written for TensorFlow. An explicit choice by the user is kept.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # keep TensorFlow's C++ start-up chatter out of reports
