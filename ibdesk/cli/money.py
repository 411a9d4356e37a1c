"""`ibdesk schedule | idle | budget | report`: when servers are up, and what they cost."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from ibdesk.cli.output import EXIT_OK, Output
from ibdesk.domain.errors import InvalidInput

if TYPE_CHECKING:
    from ibdesk.domain.costs import CostSummary
    from ibdesk.services.control.schedules import ScheduleView
    from ibdesk.services.runtime import Runtime


def _typed(parse: Any, text: str, option: str) -> Any:
    try:
        return parse(text)
    except ValueError as exc:
        raise InvalidInput(f"{option}: {exc}.") from None


def _schedule_from(args: argparse.Namespace, current: Any) -> Any:
    """The schedule the options ask for, on top of the current one."""
    from pydantic import ValidationError

    from ibdesk.domain.schedule import (
        Schedule,
        ScheduleKind,
        parse_days,
        parse_duration,
        parse_hours,
    )

    changes: dict[str, Any] = {}
    if args.always_on:
        changes["kind"] = ScheduleKind.ALWAYS_ON
    if args.trading_hours:
        changes["kind"] = ScheduleKind.TRADING_HOURS
    if args.days:
        changes["days"] = _typed(parse_days, args.days, "--days")
    if args.hours:
        changes["opens"], changes["closes"] = _typed(parse_hours, args.hours, "--hours")
    if args.tz:
        changes["tz"] = args.tz
    if args.lead:
        changes["lead_minutes"] = _typed(parse_duration, args.lead, "--lead")
    if args.calendar:
        changes["calendar"] = args.calendar.upper()
    if args.mode:
        changes["mode"] = args.mode
    if not changes:
        return None
    try:
        return Schedule.model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "schedule"
        raise InvalidInput(f"{where}: {first['msg'].removeprefix('Value error, ')}.") \
            from None


def _view_json(view: ScheduleView) -> dict[str, Any]:
    s = view.schedule
    cost = view.cost
    return {
        "account_id": view.account.id, "schedule": s.kind.value, "mode": s.mode.value,
        "days": list(s.days), "hours": f"{s.opens:%H:%M}-{s.closes:%H:%M}", "tz": s.tz,
        "lead_minutes": s.lead_minutes, "calendar": s.calendar,
        "idle_after_minutes": s.idle_after_minutes, "describe": s.describe(),
        "parked": view.account.parked.value if view.account.parked else None,
        "up_now": view.wanted_up,
        "next_up": view.next_window.up.isoformat() if view.next_window else None,
        "price": {"hourly": view.price.hourly, "monthly": view.price.monthly}
        if view.price else None,
        "month": None if cost is None else {
            "always_on": cost.always_on, "power_off": cost.power_off, "rebuild": cost.rebuild,
            "scheduled": cost.of(s), "up_hours": cost.up_hours, "rebuilds": cost.servers},
    }


def _view_lines(view: ScheduleView) -> list[str]:
    s, cost = view.schedule, view.cost
    lines = [f"{view.account.id}: {s.describe()}"]
    if view.account.parked:
        lines.append(f"  parked now ({view.account.parked.value})")
    if s.scheduled and view.next_window:
        lines.append(f"  next up: {view.next_window.up:%a %Y-%m-%d %H:%M} UTC "
                     f"(opens {view.next_window.opens:%H:%M} UTC)")
    if cost is None:
        lines.append("  cost: not known yet (no server recorded)")
        return lines
    lines.append(f"  this month: always on ${cost.always_on:.2f}; trading hours with power "
                 f"off ${cost.power_off:.2f} (DigitalOcean bills a powered-off server in "
                 f"full); with rebuild ${cost.rebuild:.2f} ({cost.servers} rebuilds, "
                 f"{cost.up_hours:g} h up)")
    lines.append(f"  under this schedule: ${cost.of(s):.2f} a month")
    lines.append("  a schedule runs only while the ibdesk window or its service runs "
                 "(ibdesk service install)")
    return lines


def cmd_schedule(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.services.control.schedules import Schedules

    schedules = Schedules(rt)
    current = rt.repository.require_account(args.account_id).schedule
    wanted = _schedule_from(args, current)
    view = asyncio.run(schedules.set(args.account_id, wanted) if wanted is not None
                       else schedules.show(args.account_id))
    if wanted is not None and view.account.parked is not None and not wanted.scheduled:
        from ibdesk.services.control.lifecycle import Lifecycle

        out.progress("Always on now: bringing the server up (its schedule had parked it)…")
        asyncio.run(Lifecycle(rt, on_progress=out.progress).start(args.account_id))
        view = asyncio.run(schedules.show(args.account_id))
    out.result(_view_json(view), _view_lines(view))
    return EXIT_OK


def cmd_idle(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.domain.schedule import parse_duration
    from ibdesk.services.control.schedules import Schedules

    minutes = None if args.off else _typed(parse_duration, args.after, "--after")
    view = asyncio.run(Schedules(rt).set_idle(args.account_id, minutes))
    lines = _view_lines(view)[:1]
    if minutes:
        lines.append("  idle means nothing went through ibdesk's tunnel (ibdesk cannot see "
                     "a gateway used any other way); a notification comes 15 minutes before")
    out.result(_view_json(view), lines)
    return EXIT_OK


def _costs_json(summary: CostSummary) -> dict[str, Any]:
    return {"month_so_far": summary.so_far, "month_projected": summary.projected,
            "month_scheduled": summary.scheduled, "budget": summary.budget,
            "over_budget": summary.over_budget, "heading_over": summary.heading_over,
            "warning": summary.budget_text(),
            "accounts": [{"account_id": a.account_id, "so_far": round(a.so_far, 2),
                          "projected": round(a.projected, 2),
                          "scheduled": round(a.scheduled, 2)}
                         for a in summary.accounts]}


def cmd_budget(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.config import save_settings
    from ibdesk.services.watch.costs import cost_summary

    if args.off and args.usd:
        raise InvalidInput("Give a budget or --off, not both.")
    if args.off or args.usd:
        value = None
        if args.usd:
            try:
                value = float(args.usd.lstrip("$"))
            except ValueError:
                raise InvalidInput(f"{args.usd!r} is not an amount in USD (e.g. 25 or "
                                   "25.50).") from None
        rt.settings = save_settings(rt.settings, {"budget_monthly": value})
    summary = asyncio.run(cost_summary(rt))
    lines = [f"this month: ${summary.so_far:.2f} so far, ${summary.projected:.2f} projected "
             f"by its end (${summary.scheduled:.2f} a month under the schedules)"]
    lines.append(f"budget: ${summary.budget:.2f} a month" if summary.budget is not None
                 else "budget: none (ibdesk budget USD sets one)")
    if summary.budget_text():
        lines.append(f"warning: {summary.budget_text()}")
    out.result(_costs_json(summary), lines)
    return EXIT_OK


def cmd_report(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.domain.schedule import parse_duration
    from ibdesk.services.support.report import build_report

    minutes = _typed(parse_duration, args.since, "--since")
    report = asyncio.run(build_report(rt, days=minutes / 1440))
    if args.csv:
        out.out.write(report.to_csv())
        return EXIT_OK
    lines = [f"{report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC; this month "
             f"${report.costs.so_far:.2f} so far, ${report.costs.projected:.2f} projected"]
    for a in report.accounts:
        ratio = "—" if a.uptime.ratio is None else f"{a.uptime.ratio:.2%}"
        lines.append(f"{a.account_id}: uptime {ratio} of {a.uptime.scheduled_seconds / 3600:.1f}"
                     f" h scheduled; {len(a.uptime.outages)} outage(s); "
                     f"{a.uptime.logins_refused} login(s) refused; ${a.cost_period:.2f} in the "
                     f"period, ${a.cost_projected:.2f} projected this month")
        for o in a.uptime.outages[-10:]:
            lines.append(f"  {o.start:%Y-%m-%d %H:%M} {o.seconds / 60:7.1f} min {o.status.value}"
                         f"{' (ongoing)' if o.ongoing else ''}: {o.reason}")
    out.result(report.to_json(), lines)
    return EXIT_OK


COMMANDS = {"schedule": cmd_schedule, "idle": cmd_idle, "budget": cmd_budget,
            "report": cmd_report}

__all__ = ["COMMANDS"]
