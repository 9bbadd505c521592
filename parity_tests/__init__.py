"""Parity suite: NumPy reference vs PyTorch vs Keras 3 (run: ``python3 -m parity_tests``)."""
