"""The demo's fixed logins, one per role: importable without a database (README, `hufen serve`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hufen.common.actors import Role

# A documented demo password, not a secret: demo databases are for showing, never for real data.
DEMO_PASSWORD = "hufen-demo-2026"
CONSOLE_URL = "http://127.0.0.1:8000/console/"
PORTAL_LOGIN_URL = "http://127.0.0.1:8000/m/login/"
SMS_OUTBOX_URL = "http://127.0.0.1:8000/console/sms/"
# The demo's first owner (person 1, household 1 at DL001): a member with a current car, points and a
# tier. Fixed by the generator (fakes.mobile(2)); tests check it stays so.
DEMO_OWNER_PHONE = "+8615321217199"


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    username: str
    password: str
    sees: str

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


# Every other demo staff member (e.g. `dl002_manager`, `dl001_butler2`) has the same password.
_LOGINS = (
    DemoLogin(Role.HQ_ADMIN, "hq_admin", DEMO_PASSWORD, "总部管理员：全部数据，可查看敏感信息"),
    DemoLogin(Role.HQ_OPERATOR, "hq_operator", DEMO_PASSWORD, "总部运营：全部数据"),
    DemoLogin(Role.REGION_MANAGER, "region_east", DEMO_PASSWORD, "华东大区经理：本大区经销商"),
    DemoLogin(Role.DEALER_MANAGER, "dealer_manager", DEMO_PASSWORD, "DL001 杭州西湖店总经理：本店客户"),
    DemoLogin(Role.BUTLER, "butler", DEMO_PASSWORD, "DL001 安享管家：本人网格内的车主"),
    DemoLogin(Role.MERCHANT_OPERATOR, "merchant", DEMO_PASSWORD, "领地伙伴商户操作员：本商户核销"),
)


@dataclass(frozen=True)
class PortalLogin:
    """The owner portal has no passwords: an SMS code, which the demo's outbox page shows."""

    phone: str
    url: str
    code_from: str
    sees: str

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


PORTAL_LOGIN = PortalLogin(
    DEMO_OWNER_PHONE,
    PORTAL_LOGIN_URL,
    SMS_OUTBOX_URL,
    "车主门户：会员卡、积分、会员日、车钥匙",
)


def demo_logins() -> list[DemoLogin]:
    """One login per staff role, in the order a demo usually walks through them."""
    return list(_LOGINS)


def render_logins(width: int = 100) -> str:
    """The logins as a plain-text table (for terminals, `hufen serve` and the README)."""
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Demo logins · {CONSOLE_URL}", title_justify="left")
    for column in ("role", "username", "password", "sees"):
        table.add_column(column)
    for login in demo_logins():
        table.add_row(login.role.value, login.username, login.password, login.sees)
    owner = Table(title=f"Owner portal · {PORTAL_LOGIN.url}", title_justify="left")
    for column in ("phone", "code", "sees"):
        owner.add_column(column)
    owner.add_row(PORTAL_LOGIN.phone, f"SMS code at {PORTAL_LOGIN.code_from} (as hq_admin)", PORTAL_LOGIN.sees)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    console.print(table)
    console.print(owner)
    return buffer.getvalue()
