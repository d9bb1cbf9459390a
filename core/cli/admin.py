"""`python -m core budget ...` and `python -m core users ...`: monthly limits and user management, audited."""

from __future__ import annotations

import argparse
import getpass
import json
import math
import secrets
import sys
from typing import Any

from core.billing import quotas
from core.billing.money import format_usd
from core.config import load_settings
from core.errors import InputError, NotFoundError
from core.identity import audit, auth
from core.identity.types import ROLES, UserRecord
from core.identity.users import get_user, list_users
from core.workbench import Workbench

_KEEP = object()  # an option that was not given: the limit stays as it is


def _actor() -> str:
    """Who ran the command, for the audit log: the operating-system account."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _open() -> Workbench:
    return Workbench.open(load_settings())


def _amount(value: str) -> float | None:
    """A limit as typed: a number of 0 or more, or "none" to remove the limit."""
    if value.strip().lower() in ("none", "off", "-"):
        return None
    try:
        number = float(value.replace(",", "").removeprefix("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number (or 'none' for no limit)") from None
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or more (or 'none' for no limit)")
    return number


def _status_dict(status: quotas.Allowance) -> dict[str, Any]:
    return {
        "monthly_usd": status.usd_limit,
        "monthly_minutes": status.minutes_limit,
        "spent_usd": round(status.spent_usd, 6),
        "used_minutes": round(status.used_minutes, 3),
        "remaining_usd": None if status.remaining_usd is None else round(status.remaining_usd, 6),
        "remaining_minutes": None if status.remaining_minutes is None else round(status.remaining_minutes, 3),
    }


def cmd_budget_set(args: argparse.Namespace) -> int:
    if args.monthly_usd is _KEEP and args.monthly_minutes is _KEEP:
        raise InputError("give --monthly-usd and/or --monthly-minutes (a number, or 'none' for no limit)")
    wb = _open()
    if args.team:
        usd, minutes = quotas.team_budget(wb)
    else:
        user = get_user(wb.Session, args.user)
        if user is None:
            raise NotFoundError(f"user {args.user!r} not found")
        usd, minutes = user.monthly_usd_budget, user.monthly_minutes_budget
    usd = usd if args.monthly_usd is _KEEP else args.monthly_usd
    minutes = minutes if args.monthly_minutes is _KEEP else args.monthly_minutes
    if args.team:
        quotas.set_team_budget(wb, usd, minutes, actor=_actor())
    else:
        quotas.set_user_budget(wb, args.user, usd, minutes, actor=_actor())
    print(json.dumps({"scope": "team" if args.team else "user", "user": args.user, "monthly_usd": usd,
                      "monthly_minutes": minutes}))  # fmt: skip
    return 0


def cmd_budget_show(args: argparse.Namespace) -> int:
    wb = _open()
    users = [u for u in list_users(wb.Session) if not args.user or u.name == args.user]
    if args.user and not users:
        raise NotFoundError(f"user {args.user!r} not found")
    statuses = {u.name: quotas.budget_status(wb, u) for u in users}
    team = next(iter(statuses.values())).team if statuses else None
    if args.json:
        body: dict[str, Any] = {"users": {name: _status_dict(st.user) for name, st in statuses.items()}}
        if team is not None:
            body["team"] = _status_dict(team)
        print(json.dumps(body))
        return 0
    for name, st in statuses.items():
        print(f"{name:<20} {_line(st.user)}")
    if team is not None:
        print(f"{'(team)':<20} {_line(team)}")
    return 0


def _line(a: quotas.Allowance) -> str:
    usd = "no limit" if a.usd_limit is None else format_usd(a.usd_limit)
    minutes = "no limit" if a.minutes_limit is None else f"{a.minutes_limit:g} min"
    return (f"spent {format_usd(a.spent_usd):>10} of {usd:<10}  "
            f"used {a.used_minutes:>8.1f} min of {minutes}")  # fmt: skip


def _user_json(u: UserRecord) -> dict[str, Any]:
    return {
        "name": u.name,
        "role": u.role,
        "active": u.active,
        "monthly_usd_budget": u.monthly_usd_budget,
        "monthly_minutes_budget": u.monthly_minutes_budget,
    }


def cmd_users_add(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password.strip():
            raise InputError("no password on standard input (one line expected)")
        generated = None
    else:
        password = generated = secrets.token_urlsafe(12)
    wb = _open()
    user = auth.add_user(wb, args.name, args.role, password)
    audit.record(wb.Session, _actor(), "user_add", f"user {user.name}", f"role {user.role}")
    if generated:
        # Shown this once only; it is stored as a bcrypt hash.
        print(f"Created {user.name} ({user.role}) with the password: {generated}")
    else:
        print(f"Created {user.name} ({user.role}).")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    wb = _open()
    users = list_users(wb.Session)
    if args.json:
        print(json.dumps([_user_json(u) for u in users], ensure_ascii=False))
        return 0
    for u in users:
        print(f"{u.name:<24} {u.role:<7} {'active' if u.active else 'inactive'}")
    return 0


def cmd_users_active(args: argparse.Namespace) -> int:
    wb = _open()
    auth.set_active(wb, args.name, args.active)
    action = "user_activate" if args.active else "user_deactivate"
    audit.record(wb.Session, _actor(), action, f"user {args.name}")
    print(f"{args.name} {'can sign in again' if args.active else 'is deactivated'}.")
    return 0


def cmd_users_role(args: argparse.Namespace) -> int:
    wb = _open()
    before = get_user(wb.Session, args.name)
    auth.set_role(wb, args.name, args.role)
    audit.record(wb.Session, _actor(), "role", f"user {args.name}", f"{before.role if before else '?'} -> {args.role}")
    print(f"{args.name} is now {args.role}.")
    return 0


def add_admin_commands(sub: Any) -> None:
    """Register `budget` (set / show) and `users` (add / list / deactivate / activate / role)."""
    b = sub.add_parser("budget", help="monthly spending and audio-minute limits")
    bs = b.add_subparsers(dest="action", required=True)
    s = bs.add_parser("set", help="set a user's or the team's monthly limits ('none' removes one)")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="NAME")
    who.add_argument("--team", action="store_true", help="the team-wide limit (applies on top of each user's)")
    s.add_argument("--monthly-usd", type=_amount, default=_KEEP, metavar="X")
    s.add_argument("--monthly-minutes", type=_amount, default=_KEEP, metavar="M")
    s.set_defaults(func=cmd_budget_set)
    sh = bs.add_parser("show", help="this month's use against the limits")
    sh.add_argument("--user", metavar="NAME")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_budget_show)

    u = sub.add_parser("users", help="add, list, deactivate users; change roles")
    us = u.add_subparsers(dest="action", required=True)
    a = us.add_parser("add", help="create a user who can sign in")
    a.add_argument("name")
    a.add_argument("--role", choices=ROLES, default="member")
    a.add_argument("--password-stdin", action="store_true", help="read the password (one line) from stdin")
    a.set_defaults(func=cmd_users_add)
    ls = us.add_parser("list")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_users_list)
    for name, active in (("deactivate", False), ("activate", True)):
        d = us.add_parser(name, help="stop a user signing in" if not active else "let a user sign in again")
        d.add_argument("name")
        d.set_defaults(func=cmd_users_active, active=active)
    r = us.add_parser("role", help="make a user admin or member")
    r.add_argument("name")
    r.add_argument("role", choices=ROLES)
    r.set_defaults(func=cmd_users_role)
