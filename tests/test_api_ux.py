"""Issue 18 case 9: the Python API a new user reaches for: predict/__call__, a short repr, a cells
table, exceptions exported from ``relucompile``, a progress callback, errors in API terms."""
from __future__ import annotations

import numpy as np
import pytest

import relucompile
from relucompile import Domain, compile_model, compile_network
from relucompile.examples import tiny_mlp_path
from relucompile.examples.random_nets import random_mlp


@pytest.fixture(scope="module")
def shallow():
    return compile_model(tiny_mlp_path(), Domain.box([-1, -1], [1, 1]))


def test_predict_and_call_take_batches_and_give_numpy(shallow) -> None:
    X = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    want = shallow.net.forward(X)
    assert isinstance(shallow.predict(X), np.ndarray) and shallow.predict(X).shape == (50, 2)
    assert np.abs(shallow(X) - want).max() <= 1e-12 * (1 + np.abs(want).max())
    assert np.array_equal(shallow(X[3]), shallow.predict(X[3:4])[0])
    assert np.isnan(shallow([[5.0, 0.0]])).all()
    with pytest.raises(relucompile.UserError, match=r"shape \(N, 2\)"):
        shallow.predict(np.zeros((3, 5)))


def test_repr_is_short(shallow) -> None:
    text = repr(shallow)
    assert len(text) < 200 and "cells=98" in text and "array" not in text and "\n" not in text


def test_cells_table(shallow) -> None:
    rows = shallow.cells(as_frame=False)
    assert len(rows) == shallow.num_cells
    for row in rows[:20]:   # each row's rule is the network at its interior point
        x = row["interior"]
        assert np.allclose(row["A"] @ x + row["c"], shallow.net.forward(x[None])[0], atol=1e-9)
    pandas = pytest.importorskip("pandas")
    frame = shallow.cells()
    assert isinstance(frame, pandas.DataFrame) and len(frame) == 98
    assert frame["bounded"].all() and (frame["facets"] >= 3).all()


def test_exceptions_are_exported_and_share_a_base() -> None:
    from relucompile import (CertificationFailed, DomainError, ModelError, RegionLimitError, RelucompileError,
                             UserError)
    for error in (CertificationFailed, DomainError, ModelError, RegionLimitError, UserError):
        assert issubclass(error, RelucompileError)
        assert error.__name__ in relucompile.__all__


def test_progress_callback_sees_the_cells() -> None:
    seen = []
    shallow = compile_network(random_mlp(2, [8, 8], 1, seed=1), Domain.box([-1, -1], [1, 1]),
                              progress=lambda cells, info: seen.append((cells, info["elapsed"])))
    assert seen and seen[-1][0] <= shallow.num_cells and all(e >= 0 for _, e in seen)
    assert [c for c, _ in seen] == sorted(c for c, _ in seen)


@pytest.mark.parametrize("options,needle", [
    ({"max_regions": 5}, "max_regions 5"), ({"time_limit": -1}, "time_limit must be a positive"),
    ({"engine": "fast"}, "engine must be one of"), ({"jobs": 0}, "jobs must be")])
def test_api_errors_name_parameters_not_flags(options, needle) -> None:
    with pytest.raises(relucompile.RelucompileError) as info:
        compile_model(tiny_mlp_path(), Domain.box([-1, -1], [1, 1]), **options)
    assert needle in str(info.value) and "--" not in str(info.value)


def test_domain_errors_say_what_to_pass() -> None:
    with pytest.raises(relucompile.DomainError, match=r"Domain.box\(\[-1\] \* 2"):
        compile_model(tiny_mlp_path(), Domain.box([-1] * 3, [1] * 3))
    with pytest.raises(relucompile.UserError) as info:
        compile_model(tiny_mlp_path(), input_shape=(1, 2))
    assert "input_shape" in str(info.value) and "--" not in str(info.value)


def test_command_line_errors_keep_naming_options(tmp_path, capsys) -> None:
    from relucompile.cli.main import main
    assert main([tiny_mlp_path(), "--box", "-1", "1", "--max-regions", "5", "-o", str(tmp_path / "s.onnx")]) == 2
    assert "--max-regions 5" in capsys.readouterr().err


def test_explain_point_with_the_wrong_number_of_values_is_a_user_error() -> None:
    from relucompile import explain_point
    with pytest.raises(relucompile.UserError, match="x has 3 values but the model has 2 inputs"):
        explain_point(tiny_mlp_path(), [1.0, 2.0, 3.0])
