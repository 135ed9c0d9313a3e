"""Issue 9 item 2: sex-specific disease groups name the sex of their denominator."""

import pandas as pd
import pytest
from sqlalchemy import inspect, select

from healthmap.reference import ReferenceDataError, load_disease_groups


def test_sex_specific_groups_in_the_shipped_file():
    g = load_disease_groups().set_index("group_code")["denominator_sex"]
    assert {c for c, s in g.items() if s == "M"} == {"C_PROSTATE", "MALE_GENITAL"}
    assert {c for c, s in g.items() if s == "F"} == {
        "C_CERVIX", "C_UTERUS", "C_OVARY", "C_BREAST", "PREGNANCY", "GYN", "NEO_FIBROID"}
    assert g.isna().sum() == len(g) - 9  # every other group: both sexes


def test_a_wrong_sex_value_is_refused_with_the_group(tmp_path):
    from healthmap.config import DATA_DIR

    df = pd.read_csv(DATA_DIR / "disease_groups.csv", dtype=str, keep_default_na=False)
    df.loc[df["group_code"] == "C_PROSTATE", "denominator_sex"] = "male"
    path = tmp_path / "groups.csv"
    df.to_csv(path, index=False)
    with pytest.raises(ReferenceDataError, match="C_PROSTATE"):
        load_disease_groups(path)


def test_migration_0009_adds_the_column_and_init_fills_it(engine):
    from alembic import command

    from healthmap.bootstrap import sync_disease_groups
    from healthmap.db import alembic_config, upgrade
    from healthmap.models import DiseaseGroup

    def stored():
        with engine.connect() as conn:
            return dict(conn.execute(select(DiseaseGroup.group_code,
                                            DiseaseGroup.denominator_sex)).all())

    assert stored()["C_PROSTATE"] == "M" and stored()["C_BREAST"] == "F"
    assert stored()["C_LUNG"] is None
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    assert "denominator_sex" not in {c["name"] for c in inspect(engine).get_columns(
        "disease_groups")}
    upgrade(engine)
    assert stored()["C_PROSTATE"] is None  # the new column starts empty …
    assert sync_disease_groups(engine) is True  # … and the next init fills it from the file
    assert stored()["C_PROSTATE"] == "M" and stored()["C_CERVIX"] == "F"
