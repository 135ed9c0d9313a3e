"""The board page through AppTest (the page file run directly, as each role): leader,
planner in English, a data manager entering an aggregate value, refused roles; and the
map page's target caption honouring the target rule."""

import json
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from healthmap import aggregates, board, pagespec
from healthmap.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "board.py")
sys.path.insert(0, str(ROOT))  # the page imports ui.py from the project root


# pages through AppTest run on SQLite; the app on PostgreSQL is covered by test_app.py and
# the board's browser test, the data on both back ends by the data tests
pytestmark = pytest.mark.sqlite_only


def _page(url, monkeypatch, role, lang="zh"):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", url)
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.session_state["user"] = {"username": f"demo_{role}", "role": role, "demo": True}
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    return at


def test_leader_lands_on_the_board_and_sees_tiles_with_status(demo_db, monkeypatch):
    assert pagespec.landing_page("leader") == "board"
    at = _page(demo_db, monkeypatch, "leader")
    labels = [m.label for m in at.metric]
    assert any("县域就诊率" in x for x in labels) and any("基金" in x for x in labels)
    assert any("规范管理人数" in x for x in labels)
    managed = next(m for m in at.metric if "规范管理人数" in m.label)
    assert managed.value not in ("—", "0")  # the demo register is loaded
    assert any("目标 ≥ 90 %" in c.value for c in at.caption)
    assert any(m.value == ":red-badge[未达标]" for m in at.markdown)  # in-county 88.6 %
    assert any("目标 ≤ 10 %" in c.value for c in at.caption)
    # the maps and the trends are drawn on demand: closed at first, only the funnel is sent
    assert [_key(c) for c in at.get("plotly_chart")] == ["board_funnel"]
    labels = [e.label for e in at.expander]
    assert "关键指标地图（点开查看）" in labels and any(x.startswith("历年走势图") for x in labels)
    assert any("潜在节约" in c.value for c in at.caption)  # the assumptions are shown
    assert any(c.value.startswith("全部病种组合计") for c in at.caption)
    # fund by insurance: the demo has no self-pay spending, so no growth: "—", not "None"
    fund = next(d.value for d in at.dataframe if "增速（%）" in d.value.columns)
    assert fund.set_index("险种").loc["自费", "增速（%）"] == "—", fund
    assert at.get("download_button"), "the 两病 report download is offered to leaders"
    assert not at.get("file_uploader"), "leaders do not enter data"
    # the tile shows the figure of the chosen year, with its unit and its definition
    cells = board.board_cells(make_engine(demo_db))
    want = {y: {t.key: t for t in board.tiles(cells, y)}["in_county_rate"]
            for y in (2023, 2024)}
    rate = next(m for m in at.metric if m.label == "县域就诊率（住院）")
    assert rate.value == board.value_text(want[2024].value, want[2024], "zh")
    assert rate.value.endswith(" %") and "Wilson" in rate.help and "县域就诊率" in rate.help
    at.selectbox(key="board_year").set_value(2023).run()
    assert not at.exception and "2023" in at.caption[0].value
    rate = next(m for m in at.metric if m.label == "县域就诊率（住院）")
    assert rate.value == board.value_text(want[2023].value, want[2023], "zh")
    assert want[2023].value != want[2024].value
    # opened (the expander's key, one per language): the four key maps of 2023, titled
    at.session_state["board_open_maps_zh"] = True
    at.run()
    assert not at.exception
    maps = [c for c in at.get("plotly_chart") if _key(c).startswith("board_map_")]
    assert len(maps) == 4
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in maps]
    assert titles[0] == "县域就诊率（住院，%）" and titles[3] == "筛查癌种发病率（/10万）"
    assert not any(_key(c).startswith("board_trend_") for c in at.get("plotly_chart"))


def _key(chart) -> str:
    """A plotly chart's key (its element id ends with it)."""
    return chart.proto.id.rsplit("-", 1)[-1]


def test_every_year_opens(demo_db, monkeypatch):
    """The first year has no year before it (no growth, no change): no error, and the
    fund-growth tile says "no data" instead of judging."""
    at = _page(demo_db, monkeypatch, "leader", "en")
    years = at.selectbox(key="board_year").options
    assert len(years) >= 3
    for y in years:
        at.selectbox(key="board_year").set_value(int(y)).run()
        assert not at.exception, (y, at.exception)
        assert not at.error, y
    growth = next(m for m in at.metric if m.label == "Resident fund growth")
    assert growth.value == "—" and ":gray-badge[No data]" in [m.value for m in at.markdown]


def test_planner_in_english(demo_db, monkeypatch):
    at = _page(demo_db, monkeypatch, "planner", "en")
    assert any(m.label == "In-county treatment rate (inpatient)" for m in at.metric)
    assert not at.get("file_uploader"), "planners do not enter data"
    assert not any(_key(c).startswith("board_trend_") for c in at.get("plotly_chart"))
    # opened on demand, the trends mark the policy start (a dashed line at 2024 and its
    # label) and the tile's target (a dotted line at 90 for the in-county rate)
    at.session_state["board_open_trends_en"] = True
    at.run()
    assert not at.exception
    assert any(e.label.startswith("Trends over the years (open") for e in at.expander)
    trends = {_key(c): c.proto.spec for c in at.get("plotly_chart")
              if _key(c).startswith("board_trend_")}
    assert len(trends) >= 5
    rate = trends["board_trend_in_county_rate"].replace(" ", "")
    title = json.loads(trends["board_trend_in_county_rate"])["layout"]["title"]["text"]
    assert title.startswith("In-county treatment rate (inpatient) (")
    assert '"y0":90' in rate and '"x0":2024' in rate
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    trend = next(s for s in specs if "Policy start 2024" in s)
    assert '"x0":2024' in trend.replace(" ", "")
    assert any("Target ≥ 90 %" in c.value for c in at.caption)


@pytest.mark.parametrize("role", ["screening", "points", "family_doctor", "expert", None])
def test_other_roles_are_refused(demo_db, monkeypatch, role):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_db)
    at = AppTest.from_file(PAGE, default_timeout=240)
    if role:
        at.session_state["user"] = {"username": f"demo_{role}", "role": role, "demo": True}
    at.run()
    assert not at.metric and at.warning and not at.get("download_button")


def test_data_manager_enters_a_value_through_the_form(demo_copy, monkeypatch):
    at = _page(demo_copy, monkeypatch, "data_manager")
    assert at.get("file_uploader")
    next(s for s in at.selectbox if s.label == "指标").set_value("hospice_beds")
    next(n for n in at.number_input if n.label == "年份").set_value(2024)
    next(n for n in at.number_input if n.label == "数值").set_value(6.0)
    next(b for b in at.button if b.label == "保存").click().run()
    assert not at.exception
    assert any("已保存 1" in s.value for s in at.success)
    vals = aggregates.values(make_engine(demo_copy))
    assert aggregates.value_of(vals, "hospice_beds", 2024) == 6
    # a value outside the indicator's range is refused with its reason
    next(s for s in at.selectbox if s.label == "指标").set_value("nego_drugs_hospital")
    next(n for n in at.number_input if n.label == "数值").set_value(150.0)
    next(b for b in at.button if b.label == "保存").click().run()
    assert at.error and aggregates.value_of(aggregates.values(make_engine(demo_copy)),
                                            "nego_drugs_hospital", 2024) is None


def test_map_caption_judges_the_target_only_on_its_own_definition(demo_db, monkeypatch):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_db)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.session_state["user"] = {"username": "demo_leader", "role": "leader", "demo": True}
    at.run()
    at.sidebar.selectbox(key="measure_zh").set_value("in_county_rate").run()
    cap = next(c.value for c in at.caption if "政策目标" in c.value)
    assert "≥ 90 %" in cap and any(s in cap for s in ("达标", "预警", "未达标"))
    at.sidebar.multiselect(key="groups").set_value(["C_STOMACH"]).run()
    cap = next(c.value for c in at.caption if "政策目标" in c.value)
    assert "不作达标判断" in cap


def test_leader_makes_the_briefing_in_one_click(demo_db, monkeypatch):
    at = _page(demo_db, monkeypatch, "leader")
    n = len(at.get("download_button"))
    next(b for b in at.button if b.label == "生成简报").click().run()
    assert not at.exception and not at.error
    assert len(at.get("download_button")) == n + 2  # Excel and PDF


def test_briefing_without_the_font_says_which_package(demo_db, monkeypatch, tmp_path):
    from healthmap import briefing

    monkeypatch.setattr(briefing, "CJK_FONT", tmp_path / "missing.ttc")
    at = _page(demo_db, monkeypatch, "leader", "en")
    n = len(at.get("download_button"))
    next(b for b in at.button if b.label == "Make the briefing").click().run()
    assert not at.exception
    assert any("fonts-noto-cjk" in e.value for e in at.error)
    assert len(at.get("download_button")) == n + 1  # the Excel workbook, no PDF
