"""Progress lines (wording, rate, ETA, heartbeat) and the cell-count estimate before enumeration (issue 18, case 7)."""
from __future__ import annotations

import time

import pytest

import relucompile.progress as progress
from relucompile.api.compile import load_network
from relucompile.examples import tiny_mlp_path
from relucompile.ir.domain import Domain
from relucompile.progress import Progress, activity, plural
from relucompile.regions.enumerate import enumerate_regions
from relucompile.regions.estimate import CellEstimate, budget_warning, chao1, estimate_cell_count


def test_progress_line_counts_in_words_and_shows_the_rate_after_the_first_second() -> None:
    bar = Progress(label="regions")
    assert bar.line(1, {}, 0.5) == "regions: 1 cell  0.5 s"                 # no rate yet, singular
    assert bar.line(1, {"lps": 1}, 2.5) == "regions: 1 cell  0.4 cells/s  1 LP  2.5 s"   # not "0 cells/s"
    assert bar.line(98, {"lps": 0}, 133.7) == "regions: 98 cells  0.73 cells/s  133.7 s"
    assert bar.line(None, {}, 3.0) == "regions: working  3.0 s"


def test_progress_line_with_a_known_total_shows_share_and_eta() -> None:
    bar = Progress(label="certify")
    bar.enabled = False
    bar(40, {"total": 98})                                 # the certifier reports its total
    assert bar.total == 98
    assert bar.line(40, {}, 10.0) == "certify: 40 of 98 cells (41%)  4.0 cells/s  ETA 14 s  10.0 s"
    assert bar.line(98, {}, 20.0).startswith("certify: 98 of 98 cells (100%)") and "ETA" not in bar.line(98, {}, 20.0)
    assert plural(1, "input") == "1 input" and plural(2, "input") == "2 inputs"


def test_a_silent_command_still_shows_a_heartbeat(capsys) -> None:
    with activity("verify", note="(--time-limit 5 s)", heartbeat=0.05, delay=0.0):
        time.sleep(0.4)
    err = capsys.readouterr().err
    assert "verify: working" in err and "(--time-limit 5 s)" in err


def test_the_forecast_warning_is_one_line_once_and_quiet_silences_it(capsys, monkeypatch) -> None:
    monkeypatch.setattr(progress, "FORECAST_AFTER", 0.0)
    for enabled, expected in ((True, "relucompile: warning: will not finish\n"), (False, "")):
        with activity("regions", enabled=enabled, heartbeat=60.0, delay=60.0) as bar:
            bar.forecast = lambda rate: "relucompile: warning: will not finish"
            time.sleep(0.05)
            bar(5)
            bar(6)
        assert capsys.readouterr().err == expected


def test_enumeration_reports_to_the_commands_progress_line() -> None:
    seen = []
    with activity("regions", delay=60.0) as bar:
        bar.forecast = lambda rate: seen.append(rate)
        monkey = progress.FORECAST_AFTER
        progress.FORECAST_AFTER = 0.0
        try:
            regions = enumerate_regions(load_network(tiny_mlp_path()), Domain.box([-1, -1], [1, 1]), "split")
        finally:
            progress.FORECAST_AFTER = monkey
    assert bar.count == len(regions) == 98 and len(seen) == 1


# -- the estimate ------------------------------------------------------------------------------

def test_chao1_grows_with_singletons_and_is_at_least_the_distinct_count() -> None:
    assert chao1([3, 3, 3]) == 3                          # every pattern seen often: nothing missed
    values = [chao1([1] * k + [2] * 5 + [7] * 5) for k in range(0, 20, 4)]
    assert values == sorted(values) and values[0] == 10
    assert all(chao1(c) >= len(c) for c in ([1], [1, 1], [1, 2], [2, 2, 5]))


@pytest.fixture(scope="module")
def tiny():
    return load_network(tiny_mlp_path())


def test_estimate_is_exact_on_a_few_large_cells_and_close_on_tiny_mlp(tiny) -> None:
    assert estimate_cell_count(tiny, Domain.box([0, 0], [0.25, 0.25])).estimate == 4       # 4 cells
    for half, truth in ((1.0, 98), (2.0, 136)):
        domain = Domain.box([-half, -half], [half, half])
        assert len(enumerate_regions(tiny, domain)) == truth
        guess = estimate_cell_count(tiny, domain)
        assert guess.distinct <= guess.estimate and truth / 2 <= guess.estimate <= 2 * truth, guess


def test_estimate_grows_with_nested_domains(tiny) -> None:
    estimates = [estimate_cell_count(tiny, Domain.box([-h, -h], [h, h])).estimate for h in (0.1, 0.5, 1.0)]
    assert estimates == sorted(estimates) and estimates[0] < estimates[-1]


def test_budget_warning_names_the_limit_and_the_option() -> None:
    guess = CellEstimate(samples=2000, distinct=1990, singletons=1980, doubletons=10, estimate=196_000)
    text = budget_warning(guess, 500.0, max_regions=None, time_limit=30, domain_option="--vnnlib")
    assert text.startswith("warning: about 196,000 cells or more") and "past --time-limit 30" in text
    assert "use a smaller domain (--vnnlib)" in text and "\n" not in text
    assert "past --max-regions 1,000" in budget_warning(guess, 0.0, max_regions=1000, time_limit=None)
    assert budget_warning(guess, 1e6, max_regions=10**6, time_limit=30) is None      # it fits
