"""The ``relucompile`` command line."""
