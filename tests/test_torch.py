"""PyTorch frontend: modules, TorchScript files and .pt2 archives compile to shallow nets that equal
torch; files that hold no network (state_dicts, pickles) and missing shapes get one-line errors.

Tolerances (relative to 1 + |y|): the shallow net's float64 evaluator equals the exported network's
float64 forward pass to 1e-9 (the compiler is exact); against torch in float64 it is held to 1e-5,
because the exporters fold batch norm (and the ONNX epsilon attribute) in float32; the shallow
ONNX run by onnxruntime in float32 against torch in float32 is held to 1e-4 (float32 rounding of
two different summation orders).  Measured maxima are in docs/torch.md.
"""
from __future__ import annotations

import copy
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from relucompile.cli.main import main
from relucompile.ir.domain import Domain
from relucompile.errors import ModelError, UserError
from relucompile.passes.lowering import exact_net
from exact_tools import random_rational_points
from relucompile.api.compile import compile_network, load_network, shallow_onnx

try:
    import onnxscript  # noqa: F401
    import torch
    from torch import nn
except ImportError:  # the whole file needs the optional extra, except the not-installed test
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch/onnxscript not installed: pip install 'relucompile[torch]'")
N_POINTS = 10_000
F64_TOL = 1e-5  # shallow (float64) vs torch float64: the exporter folds batch norm etc. in float32
F32_TOL = 1e-4  # shallow ONNX in onnxruntime vs torch, both float32: two summation orders


def _session(model) -> ort.InferenceSession:
    return ort.InferenceSession(model if isinstance(model, str) else model.SerializeToString(),
                                providers=["CPUExecutionProvider"])


def _run_batched(model, X: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Run a shallow ONNX model whose signature fixes batch 1 (as its source did) on every row of X,
    in one batched call: the first dimension is made symbolic (the graph itself reshapes to (-1, d))."""
    model = onnx.load(model) if isinstance(model, str) else copy.deepcopy(model)
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    for init in model.graph.initializer:
        if init.name == "relucompile/out_shape":
            init.CopyFrom(numpy_helper.from_array(np.array([-1, *numpy_helper.to_array(init)[1:]]), init.name))
    sess = _session(model)
    y = sess.run(None, {sess.get_inputs()[0].name: X.reshape((-1,) + shape[1:]).astype(np.float32)})[0]
    return y.reshape(len(X), -1)


def _torch(module, X: np.ndarray, shape: tuple[int, ...], dtype) -> np.ndarray:
    m = copy.deepcopy(module).to(dtype).eval()
    with torch.no_grad():
        return m(torch.tensor(X, dtype=dtype).reshape((-1,) + shape[1:])).numpy().reshape(len(X), -1)


def _assert_matches_torch(shallow, module, lo: np.ndarray, hi: np.ndarray, shape: tuple[int, ...]) -> None:
    """At 10,000 points of the box: the shallow net equals the exported net (float64 evaluators), is
    torch's function up to the exporter's float32 rounding, and its ONNX runs like torch in float32."""
    X = np.random.default_rng(7).uniform(lo, hi, size=(N_POINTS, lo.size))
    exact = shallow.evaluate(X)
    assert not np.isnan(exact).any()
    np.testing.assert_allclose(exact, shallow.net.forward(X), rtol=0, atol=1e-9)
    y64 = _torch(module, X, shape, torch.float64)
    assert np.all(np.abs(exact - y64) <= F64_TOL * (1 + np.abs(y64)))
    y32 = _torch(module, X, shape, torch.float32)
    onnx_y = _run_batched(shallow_onnx(shallow), X, shape)
    assert np.all(np.abs(onnx_y - y32) <= F32_TOL * (1 + np.abs(y32)))


# ---------------------------------------------------------------------------------------------
# plain MLP: module, TorchScript, .pt2

@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)).eval()


BOX3 = (np.full(3, -1.0), np.full(3, 1.0))


@needs_torch
def test_mlp_from_module_equals_torch(mlp) -> None:
    net = load_network(mlp, torch.zeros(1, 3))
    assert (net.d, net.widths, net.m) == (3, [8, 8], 2)
    assert net.source_name == "Sequential"
    shallow = compile_network(net, Domain.box(*BOX3))
    _assert_matches_torch(shallow, mlp, *BOX3, (1, 3))
    deep = exact_net(net)  # exact in rationals with respect to the exported weights
    for x in random_rational_points(shallow.domain, 20, np.random.default_rng(0)):
        assert shallow.evaluate_exact(x) == list(deep.forward(np.array([x], dtype=object))[0])


@needs_torch
def test_mlp_from_torchscript_and_pt2_via_cli(mlp, tmp_path) -> None:
    ts, pt2 = str(tmp_path / "mlp.ts"), str(tmp_path / "mlp.pt2")
    torch.jit.save(torch.jit.script(mlp), ts)
    torch.export.save(torch.export.export(mlp, (torch.zeros(1, 3),)), pt2)
    X = np.random.default_rng(1).uniform(-1, 1, size=(N_POINTS, 3)).astype(np.float32)
    want = _torch(mlp, X, (1, 3), torch.float32)
    for src, extra in ((ts, ["--input-shape", "1,3", "--trust-model-code"]), (pt2, [])):
        out = str(tmp_path / (os.path.basename(src) + ".shallow.onnx"))
        assert main([src, *extra, "--box", "-1", "1", "-o", out, "-q"]) == 0
        got = _run_batched(out, X, (1, 3))
        assert np.all(np.abs(got - want) <= 1e-4 * (1 + np.abs(want)))


@needs_torch
def test_module_mode_is_restored_and_batchnorm_uses_running_stats() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))
    model[1].running_mean.uniform_(-1, 1)
    model[1].running_var.uniform_(0.5, 2)
    model.train()
    net = load_network(model, torch.zeros(1, 2))
    assert model.training and model[1].training  # the user's module is left as it was
    X = np.random.default_rng(2).uniform(-2, 2, size=(200, 2))
    y = _torch(model, X, (1, 2), torch.float64)
    assert np.all(np.abs(net.forward(X) - y) <= F64_TOL * (1 + np.abs(y)))


@needs_torch
def test_pt2_with_dynamic_batch_needs_and_takes_input_shape(mlp, tmp_path) -> None:
    pt2 = str(tmp_path / "dyn.pt2")
    torch.export.save(torch.export.export(mlp, (torch.zeros(4, 3),),
                                          dynamic_shapes=({0: torch.export.Dim("batch")},)), pt2)
    with pytest.raises(UserError, match=r"dyn\.pt2: .*free dimensions.*[^-]input_shape 1,3"):   # API terms
        load_network(pt2)
    assert load_network(pt2, input_shape=(1, 3)).d == 3
    fixed = str(tmp_path / "fixed.pt2")
    torch.export.save(torch.export.export(mlp, (torch.zeros(1, 3),)), fixed)
    with pytest.raises(UserError, match=r"fixed\.pt2: the archive fixes the input shape \(1, 3\)"):
        load_network(fixed, input_shape=(2, 3))


@needs_torch
def test_module_with_two_inputs_and_two_outputs_concatenates_them_in_order() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.head = nn.Linear(2, 4), nn.Linear(1, 4), nn.Linear(4, 2)

        def forward(self, a, b):
            z = torch.relu(self.a(a) + self.b(b))
            return self.head(z), -z[:, :1]

    torch.manual_seed(2)
    model = Two().eval()
    net = load_network(model, (torch.zeros(1, 2), torch.zeros(1, 1)))
    assert (net.d, net.m) == (3, 3)
    shallow = compile_network(net, Domain.box([-1] * 3, [1] * 3))
    X = np.random.default_rng(3).uniform(-1, 1, size=(N_POINTS, 3))
    model = model.double()
    with torch.no_grad():
        y1, y2 = model(torch.tensor(X[:, :2]), torch.tensor(X[:, 2:]))
    want = np.concatenate([y1.numpy(), y2.numpy()], axis=1)  # inputs a then b, outputs in return order
    assert np.all(np.abs(shallow.evaluate(X) - want) <= F64_TOL * (1 + np.abs(want)))


class OpZoo(nn.Module if torch is not None else object):
    """Many exported ops in one small net: dilated grouped Conv, BatchNorm, Hardtanh, Concat, Abs,
    Max/Min of two branches, grouped ConvTranspose, MaxPool and AvgPool (padded), Slice with a step,
    Mul/Div by constants, HardSigmoid, Transpose, Reshape, LeakyRelu, Dropout, Gemm, Clip."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(2, 2, 3, padding=1, dilation=2, groups=2), nn.BatchNorm2d(2)
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2, groups=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.drop, self.lin = nn.Dropout(0.5), nn.Linear(2, 3)

    def forward(self, x):
        h = self.bn(self.conv(x))
        h = torch.cat([nn.functional.hardtanh(h, -0.5, 0.7), torch.abs(h)], 1)
        h = torch.minimum(torch.maximum(h, 1 - h), 0.5 * h + 0.1)
        u = self.up(h)
        h = nn.functional.hardsigmoid((self.pool(u) + self.avg(u))[:, :, 1:3, ::2] * 3 / 2)
        h = nn.functional.leaky_relu(h.permute(0, 2, 3, 1).reshape(h.shape[0], -1), 0.2)
        return torch.clamp(self.lin(self.drop(h)), -1, 1)


@needs_torch
@pytest.mark.parametrize("how", ["module", "traced TorchScript"])
def test_op_zoo_lowers_to_torchs_function(how) -> None:
    torch.manual_seed(4)
    model, x = OpZoo().eval(), torch.rand(1, 2, 4, 4)
    net = load_network(model if how == "module" else torch.jit.trace(model, x), x)
    X = np.random.default_rng(5).uniform(-1, 2, size=(500, 32))
    y = _torch(model, X, (1, 2, 4, 4), torch.float64)
    assert np.all(np.abs(net.forward(X) - y) <= F64_TOL * (1 + np.abs(y)))


# ---------------------------------------------------------------------------------------------
# errors

def _cli_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


@needs_torch
def test_state_dict_and_pickled_module_are_refused_without_unpickling(mlp, tmp_path, capsys) -> None:
    sd, whole = str(tmp_path / "weights.pth"), str(tmp_path / "whole.pt")
    torch.save(mlp.state_dict(), sd)
    torch.save(mlp, whole)
    out = str(tmp_path / "out.onnx")
    err = _cli_error(capsys, [sd, "--box", "-1", "1", "-o", out])
    assert "weights.pth: holds only a state_dict (6 tensors)" in err and "torch.jit.save" in err and ".pt2" in err
    err = _cli_error(capsys, [whole, "--input-shape", "1,3", "-o", out])
    assert "whole.pt: a pickled Python object" in err and "does not unpickle" in err
    assert not os.path.exists(out)


class _Payload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@needs_torch
def test_pt2_with_a_pickled_payload_is_refused_without_running_it(mlp, tmp_path) -> None:
    """torch.export.load itself would unpickle a weight flagged use_pickle (weights_only=False)."""
    import json
    import pickle
    import zipfile
    good, evil, marker = str(tmp_path / "good.pt2"), str(tmp_path / "evil.pt2"), tmp_path / "ran"
    torch.export.save(torch.export.export(mlp, (torch.zeros(1, 3),)), good)
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(evil, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("model_weights_config.json"):
                config = json.loads(data)
                config["config"]["0.weight"]["use_pickle"] = True
                data = json.dumps(config).encode()
            elif item.filename.endswith("data/weights/weight_0"):
                data = pickle.dumps(_Payload(str(marker)))
            zout.writestr(item, data)
    real_load = torch.load
    with pytest.raises(UserError, match=r"^evil\.pt2: .*does not unpickle"):
        load_network(evil)
    assert not marker.exists()
    assert torch.load is real_load  # the guard is lifted after loading
    assert load_network(good).d == 3


@needs_torch
def test_torchscript_without_input_shape_and_bad_shapes(mlp, tmp_path, capsys) -> None:
    ts = str(tmp_path / "mlp.ts")
    torch.jit.save(torch.jit.script(mlp), ts)
    out = str(tmp_path / "out.onnx")
    trust = ["--trust-model-code"]
    assert "mlp.ts: a TorchScript file does not record its input shape" in _cli_error(capsys, [ts, *trust, "-o", out])
    assert "--input-shape '1,a'" in _cli_error(capsys, [ts, *trust, "--input-shape", "1,a", "-o", out])
    assert "positive" in _cli_error(capsys, [ts, *trust, "--input-shape", "0,3", "-o", out])
    err = _cli_error(capsys, [ts, *trust, "--input-shape", "1,4", "-o", out])  # wrong width for Linear(3, 8)
    assert err.startswith("relucompile: error: mlp.ts: torch.onnx could not export the TorchScript module at "
                          "input shape (1, 4)")
    onnx_model = os.path.join(os.path.dirname(__file__), "..", "compiler", "examples", "tiny_mlp.onnx")
    assert "an ONNX model fixes its input shape" in _cli_error(capsys, [onnx_model, "--input-shape", "1,2", "-o", out])
    assert not os.path.exists(out)


@needs_torch
def test_value_dependent_control_flow_is_refused_not_traced() -> None:
    """torch.export refuses a branch on the input's values; the tracer fallback must not bake one in."""
    class Branchy(nn.Module):
        def forward(self, x):
            return torch.relu(x) if x.sum() > 0 else -x

    with pytest.raises(UserError, match=r"^Branchy: cannot capture the module's graph: torch.export failed"):
        load_network(Branchy(), torch.ones(1, 2))


@needs_torch
def test_non_piecewise_linear_op_is_refused_naming_the_source(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())
    with pytest.raises(ModelError, match=r"^Sequential: node '.*' \(Sigmoid\): Sigmoid is not piecewise linear"):
        load_network(model, torch.zeros(1, 2))


@needs_torch
def test_example_input_only_with_a_module() -> None:
    path = os.path.join(os.path.dirname(__file__), "..", "compiler", "examples", "tiny_mlp.onnx")
    with pytest.raises(UserError, match="example_input goes with a torch.nn.Module"):
        load_network(path, torch.zeros(1, 2))


@needs_torch
def test_missing_onnxscript_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(UserError, match=r"^Sequential: exporting to ONNX with torch.onnx \(dynamo\) needs onnxscript, which is "
                                        r"not installed: pip install 'relucompile\[torch\]'"):
        load_network(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), torch.zeros(1, 2))


def test_missing_torch_says_how_to_install(monkeypatch, tmp_path) -> None:
    """Runs with or without torch: an absent torch (None in sys.modules) must give the install line."""
    pt2 = tmp_path / "model.pt2"
    pt2.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip archive
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UserError) as info:
        load_network(str(pt2))
    msg = str(info.value)
    assert msg.startswith("model.pt2: reading a PyTorch file needs torch") and "\n" not in msg
    assert "pip install 'relucompile[torch]'" in msg


# ---------------------------------------------------------------------------------------------
# acceptance: conv, batch norm, pooling, LeakyReLU, PReLU, ReLU6, residual block, Linear head

ACC_SHAPE = (1, 2, 6, 6)
ACC_RADIUS = 0.003  # half-width of the box around the input point (keeps enumeration to seconds)


def _acceptance_net():
    class Residual(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv, self.bn, self.act = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()

        def forward(self, x):
            return self.act(x + self.bn(self.conv(x)))

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(0.1), Residual(2),
                        nn.MaxPool2d(2), nn.PReLU(2), nn.AvgPool2d(3, stride=1), nn.ReLU6(), nn.Flatten(),
                        nn.Linear(2, 3))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):  # non-trivial running statistics and affine parameters
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, nn.PReLU):
                m.weight.copy_(torch.tensor([0.2, -0.3]))
    return net.eval()


@pytest.fixture(scope="module")
def acceptance(tmp_path_factory):
    net = _acceptance_net()
    x0 = torch.rand(ACC_SHAPE, generator=torch.Generator().manual_seed(3))
    folder = tmp_path_factory.mktemp("acc")
    ts, pt2 = str(folder / "acc.ts"), str(folder / "acc.pt2")
    torch.jit.save(torch.jit.script(net), ts)
    torch.export.save(torch.export.export(net, (x0,)), pt2)
    lo = x0.flatten().double().numpy() - ACC_RADIUS
    return net, x0, ts, pt2, lo, lo + 2 * ACC_RADIUS


def _load_or_skip(*args, **kw):
    try:
        return load_network(*args, **kw)
    except ModelError as exc:  # waits for the ops branch (Conv, MaxPool, PRelu, ... in compiler/ops/table.py)
        pytest.skip(f"op not supported yet: {exc}")


@needs_torch
@pytest.mark.parametrize("source", ["module", pytest.param("torchscript", marks=pytest.mark.slow),
                                    pytest.param("pt2", marks=pytest.mark.slow)])   # the same net again: slow tier
def test_acceptance_conv_net_equals_torch(acceptance, source) -> None:
    net, x0, ts, pt2, lo, hi = acceptance
    if source == "module":
        relu_net = _load_or_skip(net, x0)
    elif source == "torchscript":
        relu_net = _load_or_skip(ts, input_shape=ACC_SHAPE, trust_code=True)
    else:
        relu_net = _load_or_skip(pt2)
    assert relu_net.d == 72 and relu_net.m == 3
    shallow = compile_network(relu_net, Domain.box(lo, hi), time_limit=60)
    assert shallow.num_cells >= 2  # the box crosses at least one kink
    _assert_matches_torch(shallow, net, lo, hi, ACC_SHAPE)


@needs_torch
def test_torchscript_never_runs_code_without_the_trust_flag(mlp, tmp_path, capsys, monkeypatch) -> None:
    """torch.jit.load can run code the file names (a scripted __setstate__ that writes files was
    seen to overwrite an arbitrary file): without --trust-model-code it is never called, whatever
    the file's name; with the flag the model compiles."""
    ts = tmp_path / "mlp.ts"
    torch.jit.save(torch.jit.script(mlp), str(ts))
    calls = []
    real_load = torch.jit.load
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    out = tmp_path / "s.onnx"
    for name in ("mlp.ts", "mlp.pt", "mlp.pth"):
        os.replace(ts, tmp_path / name)
        ts = tmp_path / name
        err = _cli_error(capsys, [str(ts), "--input-shape", "1,3", "--box", "-1", "1", "-o", str(out)])
        assert "runs code from the file" in err and "--trust-model-code" in err, err
    assert calls == [] and not out.exists()
    with pytest.raises(UserError, match="trust_code=True"):
        load_network(str(ts), input_shape=(1, 3))
    assert main([str(ts), "--trust-model-code", "--input-shape", "1,3", "--box", "-1", "1", "-o", str(out), "-q"]) == 0
    assert len(calls) == 1 and out.exists()
