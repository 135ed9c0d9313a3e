"""The measures the product shows, one :class:`Measure` entry each (domain.md §4).

:func:`healthmap.indicators.compute`, the map page (choice list, units, funnel plot,
explanation), the CLI's ``report`` choices and ``bench`` all read :data:`REGISTRY`.

Adding a measure
----------------
1. One :class:`Measure` entry in :data:`REGISTRY`: which indicator-table family computes
   it (``rate`` = cases over population, ``referral`` = in/out-of-county episodes,
   ``cost`` = costs per episode) and which of that table's columns are its numerator,
   denominator, value and interval.
2. Its texts: ``m.<key>`` (name with unit) and ``explain.<key>`` (what it means) in a
   ``healthmap/texts`` module.
A measure the families cannot compute yet needs its column added to the family's table
function in :mod:`healthmap.indicators` first (one column, with its test).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Measure:
    """One indicator and every fact the pages, reports and tests need about it.

    Attributes
    ----------
    key : str
        Identifier (``incidence``); texts are ``m.<key>`` and ``explain.<key>``.
    kind : {"rate", "proportion", "mean", "total"}
        Statistical kind: a rate per person-time, a share of episodes, a mean per
        episode, or a plain sum.
    family : {"rate", "referral", "cost"}
        The indicator-table function that computes it (``rate_table``,
        ``referral_table``, ``cost_table``).
    numerator, denominator : str
        Columns of the family's table reported as numerator and denominator.
    value : str
        Column holding the value.
    ci : tuple of two str, or None
        Columns holding the 95 % interval; ``None`` when no interval is stated.
    suppress_on : str
        The count whose 1-4 values are suppressed in public views (``numerator`` or
        ``denominator``), with ``suppress_also`` the further counts that must not be 1-4.
    cases : str
        For the ``rate`` family: the summary column counted (``new_cases`` or
        ``episodes``).
    by_age : bool
        Needs the population by age group (age standardisation).
    scale : float
        Multiplier of the underlying ratio (1e5 per 100,000; 100 for %; 1 for yuan).
    unit : str
        Text key of the unit.
    funnel : bool
        Whether a funnel plot (Spiegelhalter control limits) applies.
    higher_is : {"worse", "better"}
        Direction, for colours and rankings.
    extra : tuple of str
        Further columns of the family's table shown beside the value (e.g. formal and
        self-directed referrals).
    per_person : bool
        For the ``referral`` family: count patients (treated outside the county at least
        once) instead of episodes (issue 9 item 7).
    """

    key: str
    kind: Literal["rate", "proportion", "mean", "total"]
    family: Literal["rate", "referral", "cost"]
    numerator: str
    denominator: str
    value: str
    ci: tuple[str, str] | None
    scale: float
    unit: str
    suppress_on: Literal["numerator", "denominator"] = "numerator"
    suppress_also: tuple[str, ...] = ()
    cases: str = "new_cases"
    by_age: bool = False
    funnel: bool = False
    higher_is: Literal["worse", "better"] = "worse"
    extra: tuple[str, ...] = ()
    per_person: bool = False

    @property
    def counts_persons(self) -> bool:
        """Whether the numerator counts distinct persons on the episode store
        (:mod:`healthmap.persons`): incidence (new or diagnosed cases) and person-level
        referral; otherwise episodes from the summary tables.

        >>> get("incidence").counts_persons, get("episode_rate").counts_persons
        (True, False)
        >>> get("outward_referral").counts_persons, get("outward_referral_persons").counts_persons
        (False, True)
        """
        return self.per_person or (self.family == "rate" and self.cases == "new_cases")

    @property
    def label_key(self) -> str:
        """Text key of the measure's name (with its unit)."""
        return f"m.{self.key}"

    @property
    def explain_key(self) -> str:
        """Text key of the explanation shown beside the map."""
        return f"explain.{self.key}"

    @property
    def funnel_kind(self) -> str:
        """``rate`` or ``proportion``: the control-limit model of the funnel plot."""
        return "proportion" if self.kind == "proportion" else "rate"


_RATE = dict(kind="rate", family="rate", numerator="numerator", denominator="denominator",
             scale=1e5, unit="unit.per100k")
_PROP = dict(kind="proportion", family="referral", denominator="denominator", scale=100,
             unit="unit.pct", suppress_on="denominator", suppress_also=("numerator",))
_COST = dict(family="cost", numerator="numerator", denominator="denominator",
             suppress_on="denominator")

REGISTRY: dict[str, Measure] = {m.key: m for m in [
    # by age: the township funnel of incidence is drawn on the SIR (issue 9, age-fair)
    Measure("incidence", value="crude", ci=("crude_low", "crude_high"), funnel=True,
            by_age=True, **_RATE),
    Measure("incidence_asr", value="asr", ci=("asr_low", "asr_high"), by_age=True, **_RATE),
    Measure("incidence_eb", value="eb", ci=None, **_RATE),
    # indirect standardisation (issue 9): the funnel of O/E against E is the age-fair
    # township comparison (docs/definitions.md)
    Measure("incidence_sir", kind="rate", family="rate", numerator="observed",
            denominator="expected", value="sir", ci=("sir_low", "sir_high"), scale=1,
            unit="unit.ratio", by_age=True, funnel=True),
    Measure("episode_rate", value="crude", ci=("crude_low", "crude_high"), cases="episodes",
            funnel=True, **_RATE),
    Measure("outward_referral", numerator="numerator", value="value",
            ci=("ci_low", "ci_high"), funnel=True, extra=("formal", "self_directed"), **_PROP),
    # patients treated outside the county at least once (issue 9 item 7: a patient's
    # several stays are not independent)
    Measure("outward_referral_persons", numerator="numerator", value="value",
            ci=("ci_low", "ci_high"), funnel=True, extra=("formal", "self_directed"),
            per_person=True, **_PROP),
    Measure("in_county_rate", numerator="inside", value="inside_pct",
            ci=("inside_low", "inside_high"), funnel=True, higher_is="better", **_PROP),
    Measure("cost_per_case", kind="mean", value="value", ci=("ci_low", "ci_high"), scale=1,
            unit="unit.yuan", **_COST),
    Measure("fund_per_case", kind="mean", value="fund_per_case", ci=None, scale=1,
            unit="unit.yuan", **_COST),
    Measure("oop_share", kind="proportion", value="oop_share", ci=None, scale=100,
            unit="unit.pct", **_COST),
    Measure("fund_outflow", kind="total", value="fund_outflow", ci=None, scale=1,
            unit="unit.yuan", **_COST),
]}

#: years of look-back of incidence (issue 9 item 1): a person is a new case without an
#: episode of the selected codes in any setting in that many years before; 0 counts
#: diagnosed cases (healthmap.persons)
DEFAULT_LOOKBACK = 1

#: the measures the CLI's ``report`` offers (a standard turns incidence into the ASR)
REPORTED = ("incidence", "outward_referral", "outward_referral_persons", "cost_per_case",
            "in_county_rate", "episode_rate", "fund_per_case", "oop_share", "fund_outflow")


def get(key: str) -> Measure:
    """The registered measure ``key``; a clear error naming the choices otherwise.

    >>> get("incidence").funnel, get("cost_per_case").kind
    (True, 'mean')
    >>> get("nope")
    Traceback (most recent call last):
    ...
    ValueError: unknown measure 'nope'; choose from cost_per_case, episode_rate, ...
    """
    try:
        return REGISTRY[key]
    except KeyError:
        raise ValueError(f"unknown measure {key!r}; choose from "
                         f"{', '.join(sorted(REGISTRY))}") from None
