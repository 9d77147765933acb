"""One table of ONNX op handlers (table.py) and the interpreter that runs a graph with it."""
