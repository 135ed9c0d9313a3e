"""Every page through streamlit's AppTest, as each kind of user."""

import pytest
from streamlit.testing.v1 import AppTest

from healthmap import auth

APP = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture()
def app(demo_db, monkeypatch):
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", demo_db)
    at = AppTest.from_file(APP, default_timeout=180)
    return at


def as_role(at, role):
    at.session_state["user"] = {"username": f"demo_{role}", "role": role, "demo": True}
    return at


def test_public_sees_map_with_suppression_and_no_staff_pages(app):
    app.run()
    assert not app.exception
    # the public chooses one published table: year, disease group, margin; nothing else
    keys = {w.key for w in (*app.sidebar.selectbox, *app.sidebar.multiselect,
                            *app.sidebar.radio, *app.sidebar.text_input, *app.sidebar.slider)}
    assert {"pub_year", "pub_group", "pub_margin_zh"} <= keys
    assert not keys & {"years", "groups", "months", "icd", "ages", "insurance", "sex_zh",
                       "setting_zh", "measure_zh"}
    app.sidebar.selectbox(key="pub_margin_zh").set_value("sex:F").run()
    assert not app.exception and not app.get("plotly_chart")[3:]  # no panels or flows
    # demo marker, saying what the demo's outpatient figures are (issue 9: a sample)
    assert any("演示数据" in i.value and "门诊就诊为抽样" in i.value for i in app.info)
    labels = [m.label for m in app.metric]
    assert labels and labels[0].startswith("全市")
    assert any("公众视图" in c.value for c in app.caption)


PAGE_FILES = {"map": "pages/health_map.py", "data": "pages/data_management.py",
              "admin": "pages/admin.py"}
NAV_TITLES = {"map": "健康地图", "data": "数据管理", "admin": "用户与审计"}


@pytest.mark.parametrize("role", [None, *auth.ROLES])
def test_each_role_sees_exactly_its_pages_and_is_refused_the_others(app, role):
    if role:
        as_role(app, role)
    app.run()
    assert not app.exception
    links = {link.value for link in app.sidebar.page_link}
    for key, title in NAV_TITLES.items():
        assert (title in links) == auth.can_open(role, key), (role, key, links)
    for key, path in PAGE_FILES.items():
        if auth.can_open(role, key):
            continue
        # opened directly (as by its URL): a login prompt, and no data at all
        app.switch_page(path).run()
        assert not app.exception
        warnings = " ".join(w.value for w in app.warning)
        assert ("需要登录" in warnings) if role is None else ("无权" in warnings)
        assert not app.dataframe and not app.metric and not app.get("plotly_chart")
        assert any(link.value == "前往登录" for link in app.main.page_link)


def test_map_filters_change_the_numbers(app):
    as_role(app, "leader").run()
    first = app.metric[0].value
    app.sidebar.multiselect(key="groups").set_value(["C_STOMACH"]).run()
    assert not app.exception and app.metric[0].value != first
    app.sidebar.selectbox(key="measure_zh").set_value("incidence_asr").run()
    assert not app.exception
    app.sidebar.radio(key="sex_zh").set_value("M").run()
    app.sidebar.selectbox(key="measure_zh").set_value("outward_referral").run()
    assert not app.exception and "%" in app.metric[0].label
    assert any("政策目标" in c.value for c in app.caption)
    app.sidebar.selectbox(key="measure_zh").set_value("cost_per_case").run()
    app.sidebar.radio(key="setting_zh").set_value("outpatient").run()
    assert not app.exception
    app.switch_page("pages/health_map.py")


def test_data_page_for_data_manager_and_rejected_upload(app):
    as_role(app, "data_manager").run()
    app.switch_page("pages/data_management.py").run()
    assert not app.exception
    assert any("数据管理" in t.value for t in app.title)
    assert len(app.dataframe) >= 3  # counts, years, import log


def test_admin_page_for_admin_only(app):
    as_role(app, "admin").run()
    app.switch_page("pages/admin.py").run()
    assert not app.exception
    assert any("demo_admin" in str(df.value) for df in app.dataframe)


def test_login_page_logs_in(app):
    app.run()
    app.switch_page("pages/login.py").run()
    app.text_input(key="login_user").input("demo_planner")
    app.text_input(key="login_pw").input(auth.DEMO_PASSWORD)
    app.button[0].click().run()
    assert app.session_state["user"]["role"] == "planner"


def test_english_switch(app):
    app.run()
    app.sidebar.radio(key="lang").set_value("en").run()
    assert not app.exception
    assert app.metric[0].label.startswith("County")
    assert any("outpatient visits are a sample" in i.value for i in app.info)


def test_language_switch_keeps_every_choice_shown(app):
    """Issue 15 §3.2: the radios and select boxes show the chosen value, translated,
    after a language switch (one widget per language, started from the kept value)."""
    as_role(app, "planner").run()
    app.sidebar.radio(key="sex_zh").set_value("M").run()
    app.sidebar.selectbox(key="measure_zh").set_value("outward_referral").run()
    app.sidebar.selectbox(key="scheme_zh").set_value("natural_breaks").run()
    app.sidebar.radio(key="lang").set_value("en").run()
    assert not app.exception
    assert app.sidebar.radio(key="sex_en").value == "M"
    assert app.sidebar.selectbox(key="measure_en").value == "outward_referral"
    assert app.sidebar.selectbox(key="scheme_en").value == "natural_breaks"
    assert app.metric[0].label.startswith("County")
    assert any("outpatient visits are a sample" in i.value for i in app.info) and "%" in app.metric[0].label


def test_tile_basemap_is_an_option_only_when_configured(app, monkeypatch):
    app.run()
    assert not [t for t in app.sidebar.toggle if t.key == "tiles"]  # offline by default
    monkeypatch.setenv("HEALTHMAP_TILE_URL", "https://tiles.example.gov.cn/{z}/{x}/{y}.png")
    app.run()
    app.sidebar.toggle(key="tiles").set_value(True).run()
    assert not app.exception


def test_years_apart_are_named_as_chosen_in_the_explanation_of_one_area(app):
    # 2022 and 2024 are not "2022–2024": the explanation names each year chosen
    as_role(app, "planner").run()
    years = app.sidebar.multiselect(key="years")
    app.sidebar.multiselect(key="years").set_value([years.options[0], years.options[-1]]
                                                    ).run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    first, last = years.options[0], years.options[-1]
    assert f"{first}, {last}" in text and f"{first}–{last}" not in text
