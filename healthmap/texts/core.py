"""Texts of the app's frame: sidebar groups, sessions, access (the rest of the core texts
are in :mod:`healthmap.i18n`)."""

TEXT = {
    "nav.group.specialty": ("专科", "Specialties"),
    "nav.group.screening": ("筛查", "Screening"),
    "nav.group.points": ("健康积分", "Health points"),
    "nav.group.account": ("账号", "Account"),
}
