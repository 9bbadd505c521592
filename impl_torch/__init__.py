"""The suite's models as ``torch.nn`` modules, plus the mapping to and from the
canonical parameter layout (``weights.py``, the only place that knows torch's
parameter names and layouts)."""
