"""Texts of the hardening work (issue 18): map robustness, database problems, backups."""

TEXT = {
    "map.no_boundary": ("无边界（未绘制）", "no boundary (not drawn)"),
}
