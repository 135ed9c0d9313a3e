"""``report --public`` serves exactly the published tables (issue 15 §2, decisions.md §10).

The command gives one published table (a year × disease group × margin of
:mod:`healthmap.publictables`) with its joint suppression, the same table the public map
shows, and refuses anything a published table does not offer. The attack of
``tests/test_publictables.py`` is run on what the command prints: every margin of a year
and group, every relation between them, must give back no hidden cell.
"""

import json

import numpy as np
import pandas as pd
import pytest

from healthmap import publictables as pt
from healthmap.cli import main

YEAR = 2024


def _report(demo_db, capsys, *args) -> pd.DataFrame:
    assert main(["report", "incidence", "--public", "--db", demo_db, "--format", "json",
                 *args]) == 0
    return pd.DataFrame(json.loads(capsys.readouterr().out))


def test_the_public_report_is_the_map_s_published_table(demo_db, capsys):
    from healthmap import mapmodel, queries
    from healthmap.db import make_engine

    e = make_engine(demo_db)
    aset = queries.area_set(e, "township")
    for margin in ("all", "sex:F", "age:65+"):
        got = _report(demo_db, capsys, "--year", str(YEAR), "--group", "C_OESOPHAGUS",
                      "--margin", margin)
        inp = mapmodel.MapInputs(pt.filters(YEAR, "C_OESOPHAGUS"), public=True,
                                 margin=margin)
        res = mapmodel.indicator(e, inp, queries.resolve(e, inp.filters), aset, None, None)
        want = pd.concat([res.table, res.county.to_frame().T], ignore_index=True)
        assert got["area_code"].tolist() == aset.areas["code"].tolist() + ["__total__"]
        assert got["suppressed"].tolist() == want["suppressed"].astype(bool).tolist()
        for c in ("numerator", "denominator", "value", "ci_low", "ci_high"):
            # JSON carries 10 significant digits
            np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float),
                                       rtol=1e-9, err_msg=f"{margin} {c}")
        hidden = got["suppressed"]
        assert got.loc[hidden, ["numerator", "value", "ci_low", "ci_high"]].isna().all().all()
        assert (got.loc[hidden, "flag"] == "suppressed").all()
    e.dispose()


@pytest.mark.parametrize("args, words", [
    (["outward_referral", "--group", "C_LUNG"], "a measure other than incidence"),
    (["incidence", "--group", "C_LUNG", "--year", "2023", "--year", "2024"], "several years"),
    (["incidence"], "exactly one --group"),
    (["incidence", "--group", "C_LUNG", "--group", "C_STOMACH"], "exactly one --group"),
    (["incidence", "--group", "C_LUNG", "--setting", "outpatient"], "--setting"),
    (["incidence", "--group", "C_LUNG", "--icd", "C34"], "--icd"),
    (["incidence", "--group", "C_LUNG", "--standard", "china_2000"], "--standard"),
    (["incidence", "--group", "C_NOPE"], "unknown disease group"),
])
def test_anything_else_is_refused_naming_what_is_published(demo_db, capsys, args, words):
    assert main(["report", *args, "--public", "--db", demo_db]) == 2
    err = capsys.readouterr().err
    assert words in err and "published tables" in err


def test_no_cell_of_the_public_reports_can_be_recovered(demo_db, capsys):
    """Every margin of a year and group, printed by ``report --public``, put together as
    the attacker would (margins not published, such as sex unknown, are unknown to them);
    interval and linear-algebra attacks over every relation recover nothing, and every
    1-4 cell is hidden. The groups with the most small cells and the largest ones."""
    from tests.test_publictables import _cubes

    recovered_before, hidden_cells = 0, 0
    for group, cube in _cubes(demo_db, YEAR, n_groups=6).items():
        seen = pd.DataFrame(np.nan, index=cube.index, columns=cube.columns)
        for margin in pt.MARGINS:
            got = _report(demo_db, capsys, "--year", str(YEAR), "--group", group,
                          "--margin", margin).set_index("area_code")
            got = got.rename(index={"__total__": pt.COUNTY})
            seen[margin] = got.loc[cube.index, "numerator"].astype(float)
        published = cube[list(pt.MARGINS)]
        shown = seen[list(pt.MARGINS)]
        # what is shown is true, and every 1-4 count is hidden
        np.testing.assert_array_equal(shown.to_numpy()[shown.notna().to_numpy()],
                                      published.to_numpy()[shown.notna().to_numpy()])
        small = ((published >= 1) & (published <= 4)).to_numpy()
        assert shown.isna().to_numpy()[small].all(), group
        # no hidden cell comes back (cells the reports do not print, such as unknown sex,
        # may be worked out where the design shows them, e.g. a zero: all − men − women)
        hidden = pt.suppress(cube)
        assert [c for c in pt.attack(seen) if hidden.at[c]] == [], group
        lucky = [c for c, v in pt.attack(seen, hidden_min=1).items()
                 if v == cube.at[c] and hidden.at[c]]
        assert lucky == [], group
        hidden_cells += int(hidden[list(pt.MARGINS)].to_numpy().sum())
        # the same attack on tables suppressed one by one (the former report --public)
        recovered_before += sum(1 <= cube.at[c] <= 4 for c in pt.attack(_per_table(cube))
                                if c[1] in pt.MARGINS)
    assert hidden_cells > 0
    assert recovered_before > 0  # per-table suppression gives 1-4 counts away: it can fail


def _per_table(cube: pd.DataFrame) -> pd.DataFrame:
    """Each published margin suppressed on its own (privacy.suppress over the townships,
    the county shown), as ``report --public`` did per request."""
    from healthmap import privacy

    shown = pd.DataFrame(np.nan, index=cube.index, columns=cube.columns)
    towns = [a for a in cube.index if a != pt.COUNTY]
    for m in pt.MARGINS:
        s = privacy.suppress(pd.DataFrame({"n": cube.loc[towns, m].to_numpy()}), "n")
        shown.loc[towns, m] = s["n"].to_numpy()
        shown.at[pt.COUNTY, m] = cube.at[pt.COUNTY, m]
    return shown
