#!/bin/bash
# VNN-COMP: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTS_FILE TIMEOUT
# Writes RESULTS_FILE: 'unsat' (holds), 'sat' and the counterexample ((X_0 v) ... (Y_0 v) ...),
# 'timeout', 'unknown' or 'error'.  The timeout counts from the verifier's process start.
VERSION_STRING=v1
if [ "$1" != "$VERSION_STRING" ]; then echo "expected first argument '$VERSION_STRING', got '$1'"; exit 1; fi
CATEGORY=$2; ONNX=$3; VNNLIB=$4; RESULTS_FILE=$5; TIMEOUT=$6
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
rm -f "$RESULTS_FILE"
relucompile verify "$ONNX" "$VNNLIB" --timeout "$TIMEOUT" --result-file "$RESULTS_FILE" --jobs "$(nproc)" &
echo $! > /tmp/relucompile_vnncomp.pid
wait $!
CODE=$?
rm -f /tmp/relucompile_vnncomp.pid
# exit codes: 0 holds, 10 violated, 20 unknown/timeout (result file written); 1, 2: error
if [ $CODE -ne 0 ] && [ $CODE -ne 10 ] && [ $CODE -ne 20 ] || [ ! -s "$RESULTS_FILE" ]; then
    echo "error" > "$RESULTS_FILE"
fi
exit 0
