"""Reading a compiled network: explain one input, the 1-D two-layer form, and the cell facts every
readable output shares (cells.py: bounding box, volume shares, rule normal form, number formatting)."""
