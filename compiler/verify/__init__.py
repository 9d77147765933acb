"""Property verification (VNN-LIB): falsification, sound bounds, exact decisions."""
