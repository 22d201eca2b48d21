"""Numerical verification of random subset-sum approximation bounds, with and without re-sampling."""
