"""``bench --browser`` (benchmarks/browser.py) on the demo data: one round over the map,
the key-specialty ranking and the indicator board, in Chinese and in English; checks that
it runs and reports every step of every page (no timing assertions: the benchmark prints
its times). Waits for conditions only."""

import pytest

from tests.e2e_util import have_chromium

pytestmark = pytest.mark.sqlite_only  # browser behaviour (the board e2e runs on both)

if not have_chromium():
    pytest.skip("chromium not installed", allow_module_level=True)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_bench_browser_times_every_step_of_every_page(demo_db, lang, capsys):
    from benchmarks.browser import FIRST_VIEW, PAGES, run_browser_bench

    # in English, the round starts once the server's warm-up at start has ended (--warm)
    out = run_browser_bench(demo_db, rounds=1, lang=lang, warm=lang == "en")
    printed = capsys.readouterr().out
    assert ("server warm-up: done in" in printed) == (lang == "en"), printed[:500]
    assert list(out) == ["map", "ranking", "board"]
    for key, steps in PAGES.items():
        # opened from the sidebar, then every change, each timed once, in order
        assert list(out[key]["steps"]) == [FIRST_VIEW] + [name for name, *_ in steps]
        assert all(len(times) == 1 for times in out[key]["steps"].values())
        assert out[key]["changes"] == len(steps) and len(out[key]["first view ms"]) == 1
        assert f"{key} page in Chromium ({lang}), {len(steps)} widget changes" in printed
        for name, *_ in steps:
            assert f"  {name} " in printed


def test_bench_browser_refuses_an_unknown_page():
    from benchmarks.browser import run_browser_bench

    with pytest.raises(ValueError, match="map, ranking, board"):
        run_browser_bench("sqlite://", pages=["map", "reports"])
