"""High-risk screening: run a rule set, the high-risk list with reasons, expert review,
invitations and follow-up, bulk result import, Excel export for family-doctor teams."""

import datetime as dt

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

import ui
from healthmap import access, audit, ledger
from healthmap.screening import records, rules, views
from healthmap.screening.results_import import import_results

user = ui.guard("screening")
actor = access.Actor.from_user(user)
engine = ui.engine()
lang = ui.lang()
st.title(ui.t("screening.title"))
st.caption(ui.t("screening.intro"))

LIST_COLUMNS = ["resident_id", "name", "id_number", "sex", "age", "township", "doctor_team",
                "tier", "score", "reasons", "missing", "review", "invited_on", "screened_on",
                "institution", "fee_yuan", "result", "reduction_yuan", "stage", "overdue"]


def headers(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: ui.t(f"screening.col.{c}") for c in df.columns})


def tier_text(df: pd.DataFrame) -> pd.DataFrame:
    """Coded values (tier, sex, review, result, stage, overdue) in the user's language."""
    out = df.copy()
    if "tier" in out:
        out["tier"] = out["tier"].map(lambda v: ui.t(f"screening.tier.{v}"))
    for col in ("sex", "review", "result", "stage", "overdue"):
        if col in out:
            out[col] = out[col].map(lambda v: ui.label("screening.code", v)
                                    if isinstance(v, str) and v else v)
    return out


def refusal(exc: Exception) -> str:
    """A refused record in the user's language (reason codes → texts)."""
    if isinstance(exc, records.TransitionError):
        return "; ".join(f"{p['resident_id']}: {ui.t('screening.err.' + p['reason'])}"
                         for p in exc.problems)
    return str(exc)


sets = rules.load_all()
# A new visit (coming from another page) opens the lists anew: Streamlit drops the state
# of widgets a run did not draw, so the rule-set select's state is gone after a visit to
# another page (and after a language switch), and kept over reruns of this page.
if f"scr_set_{lang}" not in st.session_state:
    st.session_state["scr_viewed"] = set()
c1, c2, c3 = st.columns([2, 2, 2])
with c1:  # ui.select: the labels follow a language switch, the choice stays
    rid = ui.select("scr_set", ui.t("screening.ruleset"), list(sets),
                    lambda k: f"{sets[k].name[lang]} · v{sets[k].version}")
rs = sets[rid]
areas = ui.area_set("township", ui.version(), ui.database_url()).areas
names = dict(zip(areas["code"], areas["name"]))
if actor.area_code:
    township = actor.area_code
    c2.text_input(ui.t("screening.township"), names.get(township, township), disabled=True)
else:
    with c2:
        township = ui.select("scr_town", ui.t("screening.township"),
                             [""] + list(areas["code"]),
                             lambda c: names.get(c, ui.t("screening.all")))
if actor.role == "family_doctor" and actor.team:
    team = actor.team
    c3.text_input(ui.t("screening.team"), team, disabled=True)
else:
    with Session(engine) as s:
        teams = sorted(records.residents_frame(s, township or None, risk=False)[
            "doctor_team"].dropna().unique())
    with c3:
        team = ui.select("scr_team", ui.t("screening.team"), [""] + teams,
                         lambda v: v or ui.t("screening.all"))
township, team = township or None, team or None

with st.expander(ui.t("screening.rules_doc")):
    st.caption(rs.description[lang])
    ui.dataframe(rules.describe(rs, lang), hide_index=True, width="stretch")

if access.can(actor, "screening.assess"):
    r1, r2 = st.columns([1, 2])
    as_of = r1.date_input(ui.t("screening.as_of"), dt.date.today(), key="scr_asof")
    if r2.button(ui.t("screening.run"), key="scr_run", type="primary"):
        with st.spinner("…"), Session(engine) as s, s.begin():
            out = records.run_assessment(s, actor, rid, as_of=as_of, township=township,
                                         team=team)
        st.success(ui.t("screening.ran", assessed=out["assessed"], ruleset=out["ruleset_id"],
                        version=out["version"], eligible=out["eligible"],
                        cannot=out["cannot_assess"]))


def personal(which: str) -> pd.DataFrame:
    """A personal list; opening it is audited once per visit and scope (a rerun of the
    page is not a new opening; coming back to the page is)."""
    seen = st.session_state.setdefault("scr_viewed", set())
    key = (rid, which, township, team)
    with Session(engine) as s, s.begin():
        df = views.person_list(s, actor, rid, township, team, lang, which=which,
                               audit_view=key not in seen)
    seen.add(key)
    return df


tabs = st.tabs([ui.t("screening.tab.list"), ui.t("screening.tab.review"),
                ui.t("screening.tab.follow"), ui.t("screening.tab.import")])

with tabs[0]:
    lst = personal("high_risk")
    st.caption(ui.t("screening.list_count", n=f"{len(lst):,}"))
    if len(lst):
        ui.dataframe(headers(tier_text(lst[LIST_COLUMNS])), hide_index=True, width="stretch",
                     key="scr_list")

        def export_bytes() -> bytes:
            with Session(engine) as s:
                return views.export_list(s, actor, rid, township, team, lang,
                                         audit_export=False)[0]

        def audit_export() -> None:
            audit.record(engine, actor.username, "export", f"screening:{rid}",
                         f"xlsx list=high_risk rows={len(lst)} township={township or 'all'} "
                         f"team={team or 'all'}", role=actor.role)

        st.download_button(ui.t("screening.export"), export_bytes,
                           f"screening_{rid}_{township or 'all'}.xlsx", key="scr_export",
                           on_click=audit_export)
    else:
        st.info(ui.t("screening.nothing"))

with tabs[1]:
    pending = lst[lst["review"].isna()] if len(lst) else lst
    st.caption(ui.t("screening.pending", n=f"{len(pending):,}"))
    if access.can(actor, "screening.review") and len(lst):
        with st.form("scr_review"):
            who = st.selectbox(ui.t("screening.person"), list(pending["resident_id"]) or
                               list(lst["resident_id"]), key="scr_review_who")
            decision = st.radio(ui.t("screening.decision"), ["confirmed", "excluded"],
                                horizontal=True, key="scr_decision",
                                format_func=lambda d: ui.t(f"screening.{d}"))
            reason = st.text_input(ui.t("screening.reason"), key="scr_reason")
            if st.form_submit_button(ui.t("screening.save")):
                try:
                    with Session(engine) as s, s.begin():
                        records.record_review(s, actor, rid, who, decision, reason)
                    st.success(ui.t("screening.saved"))
                except records.TransitionError as exc:
                    st.error(refusal(exc))
    if len(pending):
        ui.dataframe(headers(tier_text(pending[["resident_id", "name", "id_number", "age",
                                                "township", "tier", "score", "reasons"]])),
                     hide_index=True, width="stretch", key="scr_pending")

with tabs[2]:
    overdue = personal("overdue")
    st.caption(ui.t("screening.overdue", n=f"{len(overdue):,}"))
    if len(overdue):
        ui.dataframe(headers(tier_text(overdue[["resident_id", "name", "id_number", "township",
                                      "doctor_team", "phone", "invited_on", "result",
                                      "overdue"]])), hide_index=True, width="stretch",
                     key="scr_overdue")
    if len(lst) and access.can(actor, "screening.invite"):
        confirmed = lst[(lst["review"] == "confirmed") & lst["invited_on"].isna()]
        with st.form("scr_invite"):
            st.markdown(f"**{ui.t('screening.invite')}**")
            who = st.selectbox(ui.t("screening.person"), list(confirmed["resident_id"]),
                               key="scr_inv_who")
            day = st.date_input(ui.t("screening.date"), dt.date.today(), key="scr_inv_day")
            if st.form_submit_button(ui.t("screening.save")) and who:
                try:
                    with Session(engine) as s, s.begin():
                        records.record_invitation(s, actor, rid, who, date=day)
                    st.success(ui.t("screening.saved"))
                except records.TransitionError as exc:
                    st.error(refusal(exc))
    if len(lst) and access.can(actor, "screening.record"):
        invited = lst[lst["invited_on"].notna()]
        with st.form("scr_screen"):
            st.markdown(f"**{ui.t('screening.record_screening')}**")
            a, b, c = st.columns(3)
            who = a.selectbox(ui.t("screening.person"), list(invited["resident_id"]),
                              key="scr_scr_who")
            inst = b.text_input(ui.t("screening.institution"), "YH001", key="scr_inst")
            fee = c.text_input(ui.t("screening.fee"), "", key="scr_fee")
            day = a.date_input(ui.t("screening.date"), dt.date.today(), key="scr_scr_day")
            result = b.selectbox(ui.t("screening.result"), ["", "normal", "abnormal",
                                                            "diagnosed"], key="scr_result")
            reduce = c.checkbox(ui.t("screening.use_reduction"), True, key="scr_reduce")
            if st.form_submit_button(ui.t("screening.save")) and who:
                sid = f"ui:{rid}:{who}:{day.isoformat()}"
                try:
                    fee_fen = ledger.to_fen(fee.replace(",", "").strip())
                except (ArithmeticError, ValueError):
                    fee_fen = -1  # refused below as "fee must be a non-negative amount"
                events = [dict(kind="screened", ruleset_id=rid, resident_id=who, date=day,
                               source_id=sid, institution_code=inst.strip(), fee_fen=fee_fen)]
                if result:
                    events.append(dict(kind="result", ruleset_id=rid, resident_id=who,
                                       date=day, source_id=f"{sid}:result:{result}",
                                       result=result))
                if reduce:
                    events.append(dict(kind="reduction", ruleset_id=rid, resident_id=who,
                                       date=day, source_id=f"{sid}:reduction", refers_to=sid))
                try:
                    with Session(engine) as s, s.begin():
                        records.record_events(s, actor, events)
                    st.success(ui.t("screening.saved"))
                except (records.TransitionError, ledger.LedgerConflict) as exc:
                    st.error(refusal(exc))

with tabs[3]:
    if access.can(actor, "screening.import"):
        st.caption(ui.t("screening.upload_help"))
        up = st.file_uploader(ui.t("screening.upload"), type=["csv", "xlsx"], key="scr_upload")
        if up is not None and st.button(ui.t("screening.do_import"), key="scr_do_import"):
            with Session(engine) as s, s.begin():
                res = import_results(s, actor, up.getvalue(), up.name, lang=lang)
            if res.ok:
                st.success(ui.t("screening.imported", inserted=res.inserted,
                                unchanged=res.unchanged))
            else:
                st.error(ui.t("screening.rejected", n=len(res.problems)))
                ui.dataframe(res.problems, hide_index=True, width="stretch",
                             key="scr_problems")
