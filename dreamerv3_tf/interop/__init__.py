"""Interoperation with other DreamerV3 implementations (the official JAX code)."""
