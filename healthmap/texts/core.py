"""Texts of the app's frame: sidebar groups, sessions, access (the rest of the core texts
are in :mod:`healthmap.i18n`)."""

TEXT = {
    "nav.group.specialty": ("专科", "Specialties"),
    "nav.group.screening": ("筛查", "Screening"),
    "nav.group.points": ("健康积分", "Health points"),
    "nav.group.account": ("账号", "Account"),
}
TEXT.update({
    "err.demo_database": (
        "这是演示数据库（合成数据和公开的演示账号），不接受真实数据。请新建数据库：python -m healthmap init --db sqlite:///data/county.db --admin-password …，再导入。",
        "This is a demo database (synthetic data and published demo accounts); it does not take real data. Make a new one: python -m healthmap init --db sqlite:///data/county.db --admin-password …, then import."),
})
TEXT.update({
    "auth.scope": ("数据范围：{area}", "Data scope: {area}"),
    "auth.throttle_note": ("连续输错后，每次重试需等待的时间会逐步延长（不会锁定账号）。",
                           "After repeated failures each new attempt waits a little longer (accounts are never locked)."),
    "auth.checking": ("正在验证……", "Checking…"),
    "auth.redirecting": ("登录成功，正在进入……", "Logged in, opening your page…"),
    "admin.failures": ("登录失败记录（按账号）", "Failed logins by account"),
    "admin.scope_area": ("乡镇范围（可选）", "Township scope (optional)"),
    "admin.scope_team": ("家庭医生团队（可选）", "Family-doctor team (optional)"),
})
TEXT.update({
    "col.failures": ("失败次数", "Failures"),
    "col.last_failure": ("最近失败时间", "Last failure"),
    "col.wait_until": ("下次可尝试时间", "Next attempt from"),
    "col.team": ("家庭医生团队", "Family-doctor team"),
    "col.area_code": ("乡镇范围", "Township scope"),
})
# audit actions as the administrator reads them (unknown ones are shown as recorded)
TEXT.update({f"audit.{k}": v for k, v in {
    "login": ("登录", "Log in"), "login_failed": ("登录失败", "Failed login"),
    "login_sso": ("统一身份登录", "Single sign-on"), "logout": ("退出登录", "Log out"),
    "access_denied": ("拒绝访问页面", "Page refused"),
    "view_personal": ("查看个人信息", "Personal data viewed"), "export": ("导出", "Export"),
    "import": ("导入", "Import"), "import_rejected": ("导入被拒绝", "Import refused"),
    "refresh_summaries": ("刷新汇总表", "Summaries refreshed"),
    "user_add": ("新增用户", "User added"), "user_disable": ("停用用户", "User disabled"),
    "user_enable": ("启用用户", "User enabled"), "user_role": ("修改角色", "Role changed"),
    "user_password_reset": ("重置密码", "Password reset"),
}.items()})
TEXT.update({
    "data.codes": ("可用的区划编码和机构编码", "Area and institution codes you can use"),
    "data.codes_help": ("导入文件中的 area_code 和 institution_code 必须是下列编码之一（区划也可写名称或旧名）。模板中的示例编码仅为示例。",
                        "area_code and institution_code in an import must be one of these codes (areas may also be given by name or old name). The codes in the templates are examples only."),
    "level.county": ("县/市", "County"),
    "col.code": ("编码", "Code"), "col.name": ("名称", "Name"), "col.level": ("层级/级别", "Level"),
    "col.parent_code": ("上级编码", "Parent code"), "col.in_county": ("县域内", "In county"),
    "col.region": ("地区", "Region"),
})
