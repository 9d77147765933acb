"""``relucompile check SRC OTHER``: two models compared on a domain (issue 18)."""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import numpy_helper

from relucompile.cli.main import main
from relucompile.examples import tiny_mlp_path
from test_signatures_and_round_trip import _two_in_two_out


def _compile(tmp_path, capsys, *box) -> str:
    out = str(tmp_path / "shallow.onnx")
    assert main([tiny_mlp_path(), "--box", *box, "-o", out, "-q"]) == 0
    capsys.readouterr()
    return out


def test_a_compiled_model_checks_within_tolerance(tmp_path, capsys) -> None:
    shallow = _compile(tmp_path, capsys, "-1", "1")
    assert main(["check", tiny_mlp_path(), shallow, "--samples", "500", "--json"]) == 0   # domain from metadata
    result = json.loads(capsys.readouterr().out)
    assert result["within"] and result["points"] == 504 and result["corners"] == 4
    assert result["max_abs_error"] <= 1e-5 and result["domain"]["lower"] == [-1.0, -1.0]


def test_a_changed_weight_is_found_with_the_worst_point(tmp_path, capsys) -> None:
    model = onnx.load(tiny_mlp_path())
    tensor = model.graph.initializer[-1]
    value = numpy_helper.to_array(tensor).copy()
    value.flat[0] += 0.01
    tensor.CopyFrom(numpy_helper.from_array(value, tensor.name))
    changed = str(tmp_path / "changed.onnx")
    onnx.save(model, changed)
    assert main(["check", tiny_mlp_path(), changed, "--box", "-1", "1", "--samples", "50"]) == 1
    out = capsys.readouterr().out
    assert "largest difference at x = [" in out and "NOT within the tolerance" in out
    assert main(["check", tiny_mlp_path(), changed, "--box", "-1", "1", "--tolerance", "0.1"]) == 0


def test_outside_the_compiled_domain_the_shallow_model_fails_the_check(tmp_path, capsys) -> None:
    shallow = _compile(tmp_path, capsys, "-1", "1")
    assert main(["check", tiny_mlp_path(), shallow, "--box", "-2", "2", "--samples", "0"]) == 1   # corners only
    assert "nan instead of" in capsys.readouterr().out


def test_check_needs_a_domain_for_two_foreign_models(capsys) -> None:
    assert main(["check", tiny_mlp_path(), tiny_mlp_path()]) == 2
    assert "--box" in capsys.readouterr().err


def test_check_several_inputs_and_outputs(tmp_path, capsys) -> None:
    from relucompile import Domain, compile_model, save_onnx
    source, shallow = str(tmp_path / "two.onnx"), str(tmp_path / "two_shallow.onnx")
    onnx.save(_two_in_two_out(), source)
    save_onnx(compile_model(source, Domain.box([-1] * 5, [1] * 5)), shallow)
    assert main(["check", source, shallow, "--samples", "200", "--seed", "3"]) == 0
    assert "32 corners" in capsys.readouterr().out


def test_check_a_fixed_batch_model_row_by_row(tmp_path, capsys) -> None:
    from test_signatures_and_round_trip import _batched_mlp
    source, shallow = str(tmp_path / "batch.onnx"), str(tmp_path / "batch_shallow.onnx")
    onnx.save(_batched_mlp(4), source)
    assert main([source, "--box", "-1", "1", "-o", shallow, "-q"]) == 0
    assert main(["check", source, shallow, "--samples", "101"]) == 0          # 105 points: 27 batches of 4
    assert "max abs error" in capsys.readouterr().out
    assert main(["check", source, shallow, "--box", "-2", "2", "--samples", "0"]) == 1   # corners outside
