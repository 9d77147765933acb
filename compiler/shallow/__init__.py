"""The shallow (three-hidden-layer) network built from the cells."""
