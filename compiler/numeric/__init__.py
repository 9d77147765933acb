"""Numerical foundations: the one LP module, exact rationals."""
