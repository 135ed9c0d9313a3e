"""Texts of a busy or read-only database (issue 18 §10)."""

TEXT = {
    "auth.read_only": ("数据库为只读，无法登录（登录需要写入会话和审计记录）。公开页面仍可查看。",
                       "The database is read-only: logins are not possible (a login writes "
                       "its session and audit entries). The public pages can still be viewed."),
    "points.pub.read_only": ("数据库为只读，暂时无法查询积分（每次查询都要记录，以防滥用并留痕）。",
                             "The database is read-only: points cannot be looked up now (every "
                             "look-up is recorded, against abuse and for the audit)."),
    "progress.commit": ("正在保存（数据库短暂锁定）", "Saving (the database is locked briefly)"),
}
