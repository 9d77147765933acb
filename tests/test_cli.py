"""The command line: exit codes, one-line errors, atomic outputs, options, regions file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from relucompile.cli.main import main
from conftest import ROOT, data_path

EXAMPLE = os.path.join(ROOT, "compiler", "examples", "tiny_mlp.onnx")


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_compile_example_with_regions(tmp_path, capsys) -> None:
    out, regions = tmp_path / "s.onnx", tmp_path / "r.json"
    code, stdout, _ = _run([EXAMPLE, "--box", "-1", "1", "-o", str(out), "--regions", str(regions)], capsys)
    assert code == 0 and "cells" in stdout and "hyperplanes" in stdout
    doc = json.loads(regions.read_text())
    assert doc["schema"] == "relucompile.regions" and doc["version"] == 1
    cells = doc["cells"]
    assert len(cells) == int({p.key: p.value for p in onnx.load(str(out)).metadata_props}["num_cells"])
    # every cell's interior point satisfies its inequalities and its rule reproduces the model
    sess = ort.InferenceSession(EXAMPLE, providers=["CPUExecutionProvider"])
    H = doc["hyperplanes"]
    for cell in cells[:50]:
        x = np.array(cell["interior_point"])
        for h, closed in cell["facets"]:
            value = np.dot(H[h]["w"], x) + H[h]["b"]
            assert value > 0 if closed else value < 0
        y = sess.run(None, {"x": x[None].astype(np.float32)})[0][0]
        assert np.allclose(np.array(cell["A"]) @ x + np.array(cell["c"]), y, atol=1e-5)
        assert len(cell["pattern"]) == sum(doc["model"]["layer_widths"])


@pytest.mark.parametrize("layout", ["index", "layers", None])
def test_layout_option(tmp_path, capsys, layout) -> None:
    """``--layout``: the point-location index (default) or the literal layers; both run and agree."""
    out = tmp_path / "s.onnx"
    code, _, _ = _run([EXAMPLE, "--box", "-1", "1", "-o", str(out), "-q"] + (["--layout", layout] if layout else []),
                      capsys)
    model = onnx.load(str(out))
    assert code == 0 and {p.key: p.value for p in model.metadata_props}["layout"] == (layout or "index")
    X = np.random.default_rng(0).uniform(-1, 1, (200, 2)).astype(np.float32)
    want = ort.InferenceSession(EXAMPLE, providers=["CPUExecutionProvider"]).run(None, {"x": X})[0]
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"x": X})[0]
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


def test_help_explains_every_option(capsys) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--box", "--domain", "--regions", "--max-regions", "--time-limit", "-q", "-o", "--layout"):
        assert option in text
    assert "e.g." in text and "exit codes" in text


@pytest.mark.parametrize("argv,needle", [
    (["missing.onnx", "-o", "{out}"], "no such file"),
    ([EXAMPLE, "-o", "{out}", "--box", "1", "-1"], "box is empty"),
    ([EXAMPLE, "-o", "{out}", "--domain", "{dom3}"], "dimension 3"),
    ([EXAMPLE, "-o", "{out}", "--domain", "{badjson}"], "not valid JSON"),
    ([EXAMPLE, "-o", "{out}", "--domain", "{nonfinite}"], "non-finite"),
    ([EXAMPLE, "-o", "{out}", "--max-regions", "3"], "stopped after 3 regions"),
    ([EXAMPLE, "-o", "/nonexistent-folder/s.onnx"], "does not exist"),
    ([EXAMPLE], "required"),
    ([EXAMPLE, "-o", "{out}", "--box", "-1"], "expected 2 arguments"),
])
def test_user_errors_are_one_line_exit_2_and_write_nothing(argv, needle, tmp_path, capsys) -> None:
    out = tmp_path / "s.onnx"
    files = {"dom3": tmp_path / "d3.json", "badjson": tmp_path / "bad.json", "nonfinite": tmp_path / "nf.json"}
    files["dom3"].write_text(json.dumps({"lower": [0, 0, 0], "upper": [1, 1, 1]}))
    files["badjson"].write_text("{lower: ")
    files["nonfinite"].write_text('{"lower": [0, 0], "upper": [1, Infinity]}')
    argv = [a.format(out=out, **files) for a in argv]
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".s.onnx")]


@pytest.mark.parametrize("name", ["fc_2-2sigmoids-3.onnx", "tanh_test.onnx", "softmax-last-layer.onnx",
                                  "layer-zoo/sigmoid.onnx", "layer-zoo/tanh.onnx"])
def test_refused_models_via_console_script(name, tmp_path) -> None:
    """The real console entry point: one line naming file, node and op; exit 2; no output."""
    path = data_path("marabou", name)
    out = tmp_path / "s.onnx"
    proc = subprocess.run([sys.executable, "-m", "relucompile.cli.main", path, "-o", str(out)], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not piecewise linear" in proc.stderr
    assert os.path.basename(name) in proc.stderr and "node '" in proc.stderr
    assert not out.exists()


def test_quiet_and_domain_file(tmp_path, capsys) -> None:
    dom = tmp_path / "poly.json"
    dom.write_text(json.dumps({"G": [[1, 1], [-1, 0], [0, -1]], "g": [1, 0, 0]}))
    out = tmp_path / "s.onnx"
    code, stdout, err = _run([EXAMPLE, "-o", str(out), "--domain", str(dom), "-q"], capsys)
    assert code == 0 and stdout == "" and err == "" and out.exists()


# -- equations and the two-layer form from the main command (issue 3) ----------------------------

@pytest.mark.parametrize("suffix, marker", [(".txt", "cell"), (".tex", "\\begin{cases}"),
                                            (".py", "Piecewise"), (".smt2", "define-fun")])
def test_equations_chosen_by_extension(tmp_path, capsys, suffix, marker) -> None:
    out = tmp_path / f"rules{suffix}"
    code, _, err = _run([EXAMPLE, "--box", "-1", "1", "-o", str(out), "-q"], capsys)
    assert code == 0, err
    assert marker in out.read_text()


def test_format_option_and_refusals(tmp_path, capsys) -> None:
    out = tmp_path / "rules.out"
    assert _run([EXAMPLE, "--box", "-1", "1", "-o", str(out), "--format", "text", "-q"], capsys)[0] == 0
    assert "cell" in out.read_text()
    code, _, err = _run([EXAMPLE, "-o", str(tmp_path / "s.onnx"), "--format", "latex"], capsys)
    assert code == 2 and "writes equations" in err and not (tmp_path / "s.onnx").exists()
    code, _, err = _run([EXAMPLE, "-o", str(tmp_path / "s.bin")], capsys)
    assert code == 2 and "extension" in err
    code, _, err = _run([EXAMPLE, "--form", "two-layer", "-o", str(tmp_path / "t.onnx")], capsys)
    assert code == 2 and "one input" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run([EXAMPLE, "--basis", "two-sided", "-o", str(tmp_path / "t.onnx")], capsys)
    assert code == 2 and "--form two-layer" in err


def test_two_layer_form_from_the_command_line(tmp_path, capsys) -> None:
    from relucompile.examples.random_nets import random_mlp, to_onnx_model
    source = tmp_path / "net1d.onnx"
    onnx.save(to_onnx_model(random_mlp(1, [8, 8], 2, 3)), str(source))
    out = tmp_path / "two.onnx"
    code, _, err = _run([str(source), "--form", "two-layer", "--basis", "two-sided", "-o", str(out), "-q"], capsys)
    assert code == 0, err
    model = onnx.load(str(out))
    assert [n.op_type for n in model.graph.node].count("Relu") == 1
    xs = np.linspace(-20, 20, 4001).reshape(-1, 1)
    deep = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    two = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    name_d, name_t = deep.get_inputs()[0].name, two.get_inputs()[0].name
    want = deep.run(None, {name_d: xs.astype(np.float32)})[0]
    got = two.run(None, {name_t: xs.astype(two.get_inputs()[0].type == "tensor(double)" and np.float64 or np.float32)})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)  # float32 source evaluation
    text = tmp_path / "two.txt"
    assert _run([str(source), "--form", "two-layer", "-o", str(text), "-q"], capsys)[0] == 0
    assert "breakpoint" in text.read_text().lower()


def test_subcommands_are_registered() -> None:
    from relucompile.cli.main import COMMANDS
    assert set(COMMANDS) >= {"explain", "plot", "report", "verify", "bounds"}


# -- compile over a VNN-LIB property's input region (issue 6, item 5) ----------------------------

def _two_input_property(tmp_path, boxes) -> str:
    cases = " ".join(f"(and (>= X_0 {a}) (<= X_0 {b}) (>= X_1 {c}) (<= X_1 {d}))" for a, b, c, d in boxes)
    text = ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
            "(declare-const Y_1 Real)\n" + (f"(assert (or {cases}))\n" if len(boxes) > 1 else
            "".join(f"(assert ({op} X_{i} {v}))\n" for i, (op, v) in
                    enumerate([(">=", boxes[0][0]), (">=", boxes[0][2])])) +
            f"(assert (<= X_0 {boxes[0][1]}))\n(assert (<= X_1 {boxes[0][3]}))\n") + "(assert (>= Y_0 Y_1))\n")
    path = tmp_path / "prop.vnnlib"
    path.write_text(text)
    return str(path)


def test_compile_over_vnnlib_box(tmp_path, capsys) -> None:
    prop = _two_input_property(tmp_path, [(-0.5, 0.25, 0, 1)])
    out, regions = tmp_path / "s.onnx", tmp_path / "r.json"
    code, stdout, err = _run([EXAMPLE, "--vnnlib", prop, "-o", str(out), "--regions", str(regions)], capsys)
    assert code == 0, err
    assert "[-0.5, 0.25] x [0, 1]" in stdout or "box" in stdout
    doc = json.loads(regions.read_text())
    assert doc["domain"]["lower"] == [-0.5, 0.0] and doc["domain"]["upper"] == [0.25, 1.0]


def test_compile_over_vnnlib_union_of_boxes(tmp_path, capsys) -> None:
    # touching boxes merge into one; disjoint ones give one model per box
    prop = _two_input_property(tmp_path, [(-1, 0, 0, 1), (0, 1, 0, 1)])
    out = tmp_path / "s.onnx"
    assert _run([EXAMPLE, "--vnnlib", prop, "-o", str(out), "-q"], capsys)[0] == 0
    assert out.exists()
    prop = _two_input_property(tmp_path, [(-1, -0.5, 0, 1), (0.5, 1, -1, 0)])
    out = tmp_path / "t.onnx"
    code, _, err = _run([EXAMPLE, "--vnnlib", prop, "-o", str(out), "-q"], capsys)
    assert code == 0, err
    assert not out.exists() and (tmp_path / "t.box1.onnx").exists() and (tmp_path / "t.box2.onnx").exists()
    sess = ort.InferenceSession(str(tmp_path / "t.box2.onnx"), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    inside = sess.run(None, {name: np.array([[0.75, -0.5]], dtype=np.float32)})[0]
    outside = sess.run(None, {name: np.array([[-0.75, 0.5]], dtype=np.float32)})[0]
    assert np.isfinite(inside).all() and np.isnan(outside).all()


# -- one parser factory, one error guard, one exit-code table, lazy subcommands (issue 12) ---------

OUTSIDE_THE_REPOSITORY = ("DESIGN.md", "../", "shared/", "/work/")


@pytest.mark.parametrize("command", [None, "explain", "plot", "report", "verify", "bounds", "ops", "certify"])
def test_every_help_names_only_files_in_the_repository(command, capsys) -> None:
    from relucompile.cli.main import COMMANDS
    assert command is None or command in COMMANDS
    assert main(([command] if command else []) + ["--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: relucompile{' ' + command if command else ''} ") and "exit codes:" in text
    assert not [word for word in OUTSIDE_THE_REPOSITORY if word in text], text


def test_usage_errors_of_every_command_are_one_line_exit_2(capsys) -> None:
    from relucompile.cli.main import COMMANDS
    for command in [None, *COMMANDS]:
        code = main(([command] if command else []) + ["--no-such-option"])
        err = capsys.readouterr().err
        prog = f"relucompile {command}" if command else "relucompile"
        assert code == 2 and err.startswith(f"{prog}: error: ") and err.count("\n") == 1, (command, err)
        assert err.endswith(f"(see {prog} --help)\n")


def test_start_up_imports_no_subcommand_and_no_numerics() -> None:
    """``relucompile --help`` must stay cheap: the subcommands (and numpy, onnx) load when they run."""
    code = ("import sys, relucompile.cli.main as m\n"
            "heavy = sorted(n for n in sys.modules if n.split('.')[0] in ('numpy', 'onnx', 'scipy', 'torch', 'numba')"
            " or n in ('relucompile.cli.audit', 'relucompile.cli.verify', 'relucompile.cli.certify', 'relucompile.cli.ops'))\n"
            "print(heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_error_guard_maps_outcomes_to_the_exit_code_table(capsys, monkeypatch) -> None:
    from relucompile.cli import main as cli
    from relucompile.cli.base import ExitCode
    from relucompile.errors import UserError

    def raising(exc):
        def run(argv):
            raise exc
        return run
    cases = [(raising(UserError("m.onnx: bad")), ExitCode.USAGE_ERROR, "relucompile: error: m.onnx: bad\n"),
             (raising(ZeroDivisionError("oops")), ExitCode.INTERNAL_ERROR,
              "relucompile: internal error: ZeroDivisionError: oops"),
             (raising(KeyboardInterrupt()), ExitCode.INTERRUPTED, "relucompile: interrupted"),
             (raising(BrokenPipeError()), ExitCode.BROKEN_PIPE, ""),
             (lambda argv: ExitCode.VIOLATED, 10, "")]
    for run, code, err in cases:
        monkeypatch.setitem(cli.COMMANDS, "probe", run)
        assert cli.main(["probe"]) == code
        got = capsys.readouterr().err
        assert got.startswith(err) and got.count("\n") == (1 if err else 0), got
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 10, 20, 130, 141, 143]


def test_python_dash_m_relucompile_runs_the_command_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "relucompile", "ops"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and "MaxPool" in proc.stdout, proc.stderr


# -- issue 18, case 6: one set of shared options, one default domain, one naming scheme, one -q ------

MODEL_AND_DOMAIN_COMMANDS = [None, "explain", "plot", "report", "bounds", "lens", "prune"]
SHARED_MODEL_OPTIONS = ["--trust-model-code", "--input-shape", "--time-limit", "--max-regions", "--input-names",
                        "--output-names", "--quiet"]
DOMAIN_OPTIONS = ["--box", "--domain", "--vnnlib"]
TINY_BOX_PROPERTY = ("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)"
                     "(assert (>= X_0 -1))(assert (<= X_0 1))(assert (>= X_1 -1))(assert (<= X_1 1))(assert (>= Y_0 100))")


def _command(command, *argv):
    return ([command] if command else []) + list(argv)


@pytest.mark.parametrize("command", MODEL_AND_DOMAIN_COMMANDS + ["verify"])
def test_every_model_command_lists_the_shared_options_in_one_group(command, capsys) -> None:
    assert main(_command(command, "--help")) == 0
    text = capsys.readouterr().out
    wanted = SHARED_MODEL_OPTIONS + (DOMAIN_OPTIONS if command != "verify" else [])
    assert "model, domain and limits (the same options for every command)" in text
    assert [option for option in wanted if option not in text] == []
    assert "--timeout" not in text                      # the old name: a hidden alias only
    if command == "verify":
        assert "--box" not in text                      # its domain is the property's


@pytest.mark.parametrize("command", [None, "plot", "report"])
def test_one_cell_cap_for_every_enumerating_command(command, capsys) -> None:
    from relucompile.cli.base import DEFAULT_MAX_REGIONS
    assert main(_command(command, "--help")) == 0
    assert f"default {DEFAULT_MAX_REGIONS:,}" in " ".join(capsys.readouterr().out.split())


@pytest.fixture
def tiny_property(tmp_path):
    prop = tmp_path / "box.vnnlib"
    prop.write_text(TINY_BOX_PROPERTY)
    return str(prop)


def test_every_model_command_takes_vnnlib_and_quiet_means_result_only(tmp_path, tiny_property, capsys) -> None:
    """--vnnlib on every command with a domain; -q: no progress and no summary, the result stays."""
    points = tmp_path / "x.csv"
    points.write_text("0.1,0.2\n-0.5,0.5\n")
    silent = {None: ["-o", str(tmp_path / "s.onnx")], "plot": ["-o", str(tmp_path / "p.png")],
              "report": ["-o", str(tmp_path / "r.html")], "lens": ["--inputs", str(points)],
              "prune": ["-o", str(tmp_path / "small.onnx")]}
    with_result = {"explain": ["--at", "0.1,0.2"], "bounds": []}
    for command, extra in [*silent.items(), *with_result.items()]:
        code, out, err = _run(_command(command, EXAMPLE, "--vnnlib", tiny_property, "-q", *extra), capsys)
        assert code == 0 and err == "", (command, err)
        assert (out == "") == (command in silent), (command, out)
    code, out, err = _run(["verify", EXAMPLE, tiny_property, "--time-limit", "60", "-q"], capsys)
    assert code == 0 and out == "holds\n" and err == ""
    code, out, _ = _run(["verify", EXAMPLE, tiny_property, "--timeout", "60"], capsys)   # the old name still works
    assert code == 0 and out.startswith("holds\ntime: ")


def test_outputs_are_named_y1_to_ym_or_by_output_names_everywhere(tmp_path, capsys) -> None:
    rules = tmp_path / "rules.txt"
    for given, first, second in ([], "y1", "y2"), (["--output-names", "left,right"], "left", "right"):
        code, out, err = _run(["bounds", EXAMPLE, "--box", "-1", "1", *given], capsys)
        assert code == 0, err
        assert [line.split(":")[0] for line in out.splitlines()] == [first, second]
        code, out, err = _run(["explain", EXAMPLE, "--at", "0.1,0.2", *given], capsys)
        assert code == 0 and f"output: {first} = " in out and f", {second} = " in out, err
        code, _, err = _run([EXAMPLE, "--box", "0", "0.25", "-o", str(rules), "-q", *given], capsys)
        text = rules.read_text()
        assert code == 0 and f"{first} = " in text and f"{second} = " in text, err
        assert "Y_0" not in text
    violated = tmp_path / "violated.vnnlib"
    violated.write_text(TINY_BOX_PROPERTY.replace("(>= Y_0 100)", "(<= Y_0 0)"))
    for given, named in ([], "(y1, y2; onnxruntime on tiny_mlp.onnx)"), (["--output-names", "a,b"], "(a, b; "):
        code, out, err = _run(["verify", EXAMPLE, str(violated), "-q", *given], capsys)
        assert code == 10 and out.splitlines()[2].startswith("y = [") and named in out.splitlines()[2], err
    code, out, err = _run(["bounds", EXAMPLE, "--box", "-1", "1", "--objective", "y1 - y2", "--objective", "Y_0 - Y_1"],
                          capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split(": ")[1] == lines[1].split(": ")[1], err


def test_one_default_domain_all_of_r_d_and_bounded_commands_say_which_option(tmp_path, capsys) -> None:
    code, out, _ = _run([EXAMPLE, "-o", str(tmp_path / "s.onnx")], capsys)
    assert code == 0 and " over R^2: " in out
    code, out, _ = _run(["explain", EXAMPLE, "--at", "0.1,0.2"], capsys)
    assert code == 0 and "inside the domain R^2" in out
    for command, extra in [("plot", ["-o", str(tmp_path / "p.png")]), ("report", ["-o", str(tmp_path / "r.html")]),
                           ("bounds", []), ("prune", ["-o", str(tmp_path / "small.onnx")])]:
        code, out, err = _run([command, EXAMPLE, *extra], capsys)
        assert code == 2 and "needs a bounded domain" in err, (command, err)
        assert err.count("\n") == 1 and "give --box LO HI, --domain FILE or --vnnlib PROP" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.onnx"]


def test_limit_errors_name_the_domain_option_used(tmp_path, tiny_property, capsys) -> None:
    box = tmp_path / "box.json"
    box.write_text(json.dumps({"lower": [-1, -1], "upper": [1, 1]}))
    out = str(tmp_path / "s.onnx")
    for given, named in ([["--box", "-1", "1"], "(--box)"], [["--domain", str(box)], "(--domain)"],
                         [["--vnnlib", tiny_property], "(--vnnlib)"], [[], "(--box, --domain or --vnnlib)"]):
        code, _, err = _run([EXAMPLE, *given, "--max-regions", "3", "-o", out], capsys)
        assert code == 2 and f"use a smaller domain {named} or raise the limit" in err, err
    code, _, err = _run(["plot", EXAMPLE, "--vnnlib", tiny_property, "--max-regions", "3", "-o",
                         str(tmp_path / "p.png")], capsys)
    assert code == 2 and "use a smaller domain (--vnnlib)" in err, err


def test_shared_options_a_command_has_no_use_for_are_refused_not_ignored(capsys) -> None:
    code, _, err = _run(["explain", EXAMPLE, "--at", "0,0", "--max-regions", "5"], capsys)
    assert code == 2 and "--max-regions: explain has no use for it" in err


# -- issue 18, case 8: messages ----------------------------------------------------------------------

def test_summary_line_is_short_for_a_784_input_model(tmp_path, capsys) -> None:
    from relucompile.examples.random_nets import random_mlp, to_onnx_model
    source = tmp_path / "wide.onnx"
    onnx.save(to_onnx_model(random_mlp(784, [3], 2, seed=0)), str(source))
    rng = np.random.default_rng(0)
    fixed = rng.uniform(0, 1, 784).round(6)
    lower, upper = fixed.copy(), fixed.copy()
    lower[:2], upper[:2] = 0.0, 1.0                       # two free inputs, 782 fixed at different values
    domain = tmp_path / "box.json"
    domain.write_text(json.dumps({"lower": lower.tolist(), "upper": upper.tolist()}))
    code, out, err = _run([str(source), "--domain", str(domain), "-o", str(tmp_path / "s.onnx")], capsys)
    assert code == 0, err
    assert out.count("\n") == 1 and len(out) < 300 and "box in R^784" in out, out[:400]


def test_two_layer_summary_reports_the_network_written(tmp_path, capsys) -> None:
    from relucompile.examples.random_nets import random_mlp, to_onnx_model
    source = tmp_path / "net1d.onnx"
    onnx.save(to_onnx_model(random_mlp(1, [8, 8], 2, 3)), str(source))
    code, out, err = _run([str(source), "--form", "two-layer", "-o", str(tmp_path / "two.onnx")], capsys)
    assert code == 0, err
    assert "two-layer form: " in out and " hidden unit" in out and "H1=" not in out and "H3=" not in out


def test_ops_into_a_closed_pipe_is_quiet() -> None:
    for read_first_line in (False, True):
        proc = subprocess.Popen([sys.executable, "-m", "relucompile", "ops"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=ROOT)
        if read_first_line:                              # relucompile ops | head -1
            proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=120)
        proc.stderr.close()
        assert err == "" and proc.returncode in (0, 141), err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_wrong_input_shape_for_torchscript_is_one_line(tmp_path, capsys) -> None:
    torch = pytest.importorskip("torch")
    script = tmp_path / "m.ts"
    torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))).save(str(script))
    out = tmp_path / "s.onnx"
    code, _, err = _run([str(script), "--trust-model-code", "--input-shape", "1,3", "-o", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("relucompile: error: m.ts: "), err
    assert "graph(" not in err and "Traceback" not in err and len(err) < 400 and not out.exists()
    code, _, err = _run(["explain", str(script), "--trust-model-code", "--input-shape", "1,4", "--at", "1,2,3,4"],
                        capsys)                           # TorchScript works beyond compile too
    assert code == 0, err


def test_messages_show_plain_numbers_and_singular_counts(tmp_path, capsys) -> None:
    from relucompile.examples.random_nets import random_mlp, to_onnx_model
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"lower": [1, 0], "upper": [0, 1]}))
    code, _, err = _run([EXAMPLE, "--domain", str(empty), "-o", str(tmp_path / "s.onnx")], capsys)
    assert code == 2 and "lower[0] = 1.0 > upper[0] = 0.0" in err and "np.float64" not in err, err
    source = tmp_path / "net1d.onnx"
    onnx.save(to_onnx_model(random_mlp(1, [4], 1, 0)), str(source))
    square = tmp_path / "square.json"
    square.write_text(json.dumps({"lower": [0, 0], "upper": [1, 1]}))
    for command, extra in [(None, ["-o", str(tmp_path / "s.onnx")]), ("explain", ["--at", "0.5"])]:
        code, _, err = _run(_command(command, str(source), "--domain", str(square), *extra), capsys)
        assert code == 2 and "has 1 input" in err and "1 inputs" not in err, err


def test_every_command_that_can_take_long_runs_under_a_progress_line(tmp_path, tiny_property, capsys,
                                                                      monkeypatch) -> None:
    """Issue 18, case 7: compile, explain, plot, report, verify, bounds, lens and prune install the
    progress line (relucompile.progress.activity: counts when their loops report, a heartbeat otherwise)."""
    import relucompile.progress as progress
    labels = []
    real = progress.activity

    def recording(label, *args, **kwargs):
        labels.append(label)
        return real(label, *args, **kwargs)
    monkeypatch.setattr(progress, "activity", recording)
    points = tmp_path / "x.csv"
    points.write_text("0.1,0.2\n")
    runs = [[EXAMPLE, "--box", "0", "0.25", "-o", str(tmp_path / "s.onnx")],
            ["explain", EXAMPLE, "--at", "0.1,0.2"], ["plot", EXAMPLE, "--box", "-1", "1", "-o", str(tmp_path / "p.png")],
            ["report", EXAMPLE, "--box", "-1", "1", "-o", str(tmp_path / "r.html")], ["verify", EXAMPLE, tiny_property],
            ["bounds", EXAMPLE, "--box", "-1", "1"], ["lens", EXAMPLE, "--inputs", str(points)],
            ["prune", EXAMPLE, "--box", "-1", "1", "-o", str(tmp_path / "small.onnx")]]
    for argv in runs:
        code, _, err = _run(argv, capsys)
        assert code == 0, (argv, err)
    assert labels == ["regions", "explain", "plot", "report", "verify", "bounds", "lens", "prune"]


def test_commands_run_with_one_blas_thread(monkeypatch) -> None:
    """Issue 18, case 3: the tool's parallelism is --jobs alone (numpy's BLAS is capped to one thread)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from relucompile.cli import main as cli
    seen = []

    def probe(argv):
        seen.extend(pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas")
        return 0
    monkeypatch.setitem(cli.COMMANDS, "probe", probe)
    assert cli.main(["probe"]) == 0
    assert seen and set(seen) == {1}


@pytest.mark.parametrize("command", [None, "report", "verify", "check"])
def test_seed_means_one_thing_everywhere(command, capsys) -> None:
    """--seed: the seed of the command's random numbers, in the same words in every command."""
    argv = ["--help"] if command is None else [command, "--help"]
    assert main(argv) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--seed N seed of this command's random numbers, here " in text
    assert "the same seed gives the same output" in text
