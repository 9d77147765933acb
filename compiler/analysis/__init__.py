"""Reading a compiled network: explain one input, the 1-D two-layer form."""
