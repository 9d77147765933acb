"""Every example output in README.md and docs/*.md is what the tool prints today.

The outputs sit between ``<!-- begin output NAME -->`` / ``<!-- end output -->`` markers and are
written by docs/examples/render.py (``python docs/examples/render.py`` regenerates them); these
tests rerun the commands and compare, with durations and dates normalised (render.normalise).
Also: the README's synopsis lists every subcommand and option, the quick start writes into a
folder that git ignores, and user docs speak of the tool, not of issues, commits or machines.
"""
from __future__ import annotations

import os
import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "docs", "examples"))
import render  # noqa: E402

SLOW = {name for name, ex in render.EXAMPLES.items() if ex.slow}


def _doc_blocks() -> list[tuple[str, str, str]]:
    """(document, example name, text between its markers) for every marked block."""
    out = []
    for doc in render.DOCS:
        with open(os.path.join(ROOT, doc)) as f:
            text = f.read()
        out += [(doc, name, text[start:end]) for name, start, end in render.blocks(text)]
    return out


BLOCKS = _doc_blocks()


@pytest.fixture(scope="module")
def workspace():
    return render.Workspace(in_process=True)


@pytest.mark.parametrize("doc, name, shown", [pytest.param(*b, id=f"{b[0]}:{b[1]}",
                                                           marks=[pytest.mark.slow] if b[1] in SLOW else [])
                                              for b in BLOCKS])
def test_example_output_is_what_the_tool_prints(doc, name, shown, workspace, monkeypatch) -> None:
    example = render.EXAMPLES[name]
    if example.needs_data and render.data_folder() is None:
        pytest.skip("needs the third-party models: set RELUCOMPILE_DATA")
    fresh = example.make(workspace).rstrip() + "\n"
    assert render.normalise(shown) == render.normalise(fresh), (
        f"{doc}: the example {name!r} is stale; regenerate with python docs/examples/render.py --only {name}")


def test_every_example_is_used_and_every_marker_is_known() -> None:
    used = {name for _, name, _ in BLOCKS}
    assert used == set(render.EXAMPLES), (set(render.EXAMPLES) - used, used - set(render.EXAMPLES))
    for doc in render.DOCS:
        text = open(os.path.join(ROOT, doc)).read()
        assert text.count("<!-- begin output ") == text.count(render.END), doc


def test_every_shell_session_in_the_docs_is_generated() -> None:
    """A fenced block that shows a command and its output (``$ relucompile ...``) lies between markers."""
    for doc in render.DOCS:
        text = open(os.path.join(ROOT, doc)).read()
        inside = [(start, end) for _, start, end in render.blocks(text)]
        for match in re.finditer(r"```\w*\n\$ ", text):
            assert any(s <= match.start() < e for s, e in inside), f"{doc}: an unmarked example output at {match.start()}"


def _option_names(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", render.usage(help_text)))


def test_readme_synopsis_lists_every_subcommand_and_option(workspace) -> None:
    readme = open(os.path.join(ROOT, "README.md")).read()
    synopsis = next(shown for doc, name, shown in BLOCKS if doc == "README.md" and name == "synopsis")
    for name in [None] + render.subcommands():
        help_text = workspace.run("relucompile --help" if name is None else f"relucompile {name} --help")
        if name is not None:
            assert f"relucompile {name} " in synopsis, f"README synopsis lacks the subcommand {name}"
        options = _option_names(help_text)
        assert options, name
        missing = {o for o in options if o not in synopsis}
        assert not missing, f"README synopsis lacks {sorted(missing)} of relucompile {name or ''}"
    assert "relucompile ops" in readme and "--certify" in synopsis and "--jobs" in synopsis


def test_quick_start_is_two_commands_writing_into_an_ignored_folder() -> None:
    readme = open(os.path.join(ROOT, "README.md")).read()
    quick = readme[readme.index("## Quick start"):readme.index("## Command line")]
    commands = re.search(r"```bash\n(.*?)\n```", quick, flags=re.S).group(1).splitlines()
    assert len(commands) == 2
    assert render.QUICK_START in commands[0]
    outputs = re.findall(r"(?:-o|--regions) (\S+)", commands[0])
    assert outputs and all(path.startswith("out/") for path in outputs)
    ignored = open(os.path.join(ROOT, ".gitignore")).read().split()
    assert "/out/" in ignored or "out/" in ignored
    assert re.search(r"about \d+ minutes", quick), "the quick start says how long the tests take"


FORBIDDEN = [r"\bissues?\b( \d+|'s)", r"\bcommit [0-9a-f]{6,}", r"\bthese machines\b", r"\bthis machine\b",
             r"\bthe test machine\b", r"\bmeasured here\b", r"\bthis team\b"]


def test_user_docs_speak_of_the_tool_not_of_issues_commits_or_machines() -> None:
    for doc in render.DOCS + [os.path.join("docs", "architecture.md")]:
        text = open(os.path.join(ROOT, doc)).read()
        for pattern in FORBIDDEN:
            found = re.search(pattern, text, flags=re.I)
            assert found is None, f"{doc}: {found.group(0)!r}"


def test_normalise_hides_durations_and_dates_only() -> None:
    assert render.normalise("98 cells; 0.09 s, 2.4e-07 max, 3 min") == "98 cells; <seconds>, 2.4e-07 max, <seconds>"
    assert render.normalise("H3=392 out=2") == "H3=392 out=2"


def test_readme_python_api_block_runs_and_its_comments_hold(tmp_path, monkeypatch) -> None:
    """The README's Python API block, run as it stands (prop.vnnlib: a small property of the example)."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme[readme.index("## Python API"):]
    code = re.search(r"```python\n(.*?)\n```", section, flags=re.S).group(1)
    (tmp_path / "out").mkdir()
    (tmp_path / "prop.vnnlib").write_text(
        "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
        "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 -1))\n(assert (<= X_1 1))\n(assert (>= Y_0 100))\n")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert "# 98 cells" in code and scope["shallow"].num_cells == 98
    assert "(True, 98)" in code and (scope["certificate"].ok, scope["certificate"].cells) == (True, 98)
    assert scope["result"].verdict in ("holds", "violated", "unknown")
    assert (tmp_path / "out" / "shallow.onnx").exists() and (tmp_path / "out" / "regions.json").exists()
