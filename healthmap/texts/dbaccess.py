"""Texts of a busy or read-only database (issue 18 §10)."""

TEXT = {
    "progress.commit": ("正在保存（数据库短暂锁定）", "Saving (the database is locked briefly)"),
}
