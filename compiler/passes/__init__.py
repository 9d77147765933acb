"""Passes over the graph IR (IR in, IR out), ending in the canonical ReluNet."""
