#!/bin/bash
# VNN-COMP: prepare_instance.sh v1 CATEGORY ONNX VNNLIB -- nothing to precompute; check the files exist
# and that no verifier of an earlier instance is still running (the competition asks tools to clean up).
VERSION_STRING=v1
if [ "$1" != "$VERSION_STRING" ]; then echo "expected first argument '$VERSION_STRING', got '$1'"; exit 1; fi
CATEGORY=$2; ONNX=$3; VNNLIB=$4
echo "preparing relucompile for category '$CATEGORY', $ONNX, $VNNLIB"
[ -f "$ONNX" ] || { echo "no such file: $ONNX"; exit 1; }
[ -f "$VNNLIB" ] || { echo "no such file: $VNNLIB"; exit 1; }
if [ -f /tmp/relucompile_vnncomp.pid ]; then
    OLD=$(cat /tmp/relucompile_vnncomp.pid)
    kill "$OLD" 2> /dev/null || true        # only the verifier this interface started (its pid)
    rm -f /tmp/relucompile_vnncomp.pid
fi
exit 0
