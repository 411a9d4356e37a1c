"""`ibdesk watch | history | reconcile | orphans | alerts`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from datetime import UTC, datetime
from typing import Any

from ibdesk.cli.output import EXIT_FAILED, EXIT_OK, Output, confirm, read_stdin
from ibdesk.domain.cadence import CADENCE
from ibdesk.domain.errors import IbdeskError
from ibdesk.services.runtime import Runtime
from ibdesk.services.watch.alerts import Alerts
from ibdesk.services.watch.heap import QuietHeap, limit_malloc_arenas
from ibdesk.services.watch.metrics import serve_for
from ibdesk.services.watch.monitor import Monitor, MonitorConfig, StatusChange
from ibdesk.services.watch.reconciler import Orphan, Reconciler, ReconcileReport
from ibdesk.services.watch.scheduler import Done, Scheduler


def _change_json(change: StatusChange) -> dict[str, Any]:
    event, account = change.event, change.account
    return {"at": event.at.isoformat(), "account_id": event.account_id,
            "environment": account.environment.value, "status": event.status.value,
            "previous": event.previous.value if event.previous else None,
            "reason": event.reason, "do_droplet_name": account.do_droplet_name,
            "do_ip_address": account.do_ip_address}


def cmd_watch(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    def show(change: StatusChange) -> None:
        data = _change_json(change)
        out.result(data, [f"{data['at'][11:19]} {data['account_id']:<18} "
                          f"{data['previous'] or '-'} → {data['status']}: {data['reason']}"])
        out.out.flush()

    async def watch() -> None:
        report = await Reconciler(rt).run()
        _say_reconcile(out, report, quiet=True)
        config = MonitorConfig(fast_interval=args.interval,
                               slow_interval=max(args.interval, CADENCE.steady))
        monitor = Monitor(rt, config)
        monitor.subscribe(show)
        QuietHeap().watch(monitor)  # this process is a monitor: see heap.py
        alerts = Alerts(rt)
        alerts.watch(monitor)  # to the targets of `ibdesk alerts`, if any
        scheduler = Scheduler(rt)  # the schedules run while this runs (the service)

        def scheduled(done: Done) -> None:
            out.result({"schedule": done.did.value, "account_id": done.account_id,
                        "message": done.message},
                       [f"{datetime.now(UTC):%H:%M:%S} {done.account_id:<18} schedule "
                        f"{done.did.value}: {done.message}"])
            out.out.flush()

        scheduler.subscribe(scheduled)
        alerts.watch_scheduler(scheduler)
        metrics = serve_for(rt, monitor)  # Prometheus, when metrics_port is set
        if metrics is not None:
            out.progress(f"Prometheus metrics on http://127.0.0.1:{rt.settings.metrics_port}"
                         "/metrics")

        def degraded(why: str | None) -> None:
            text = f"monitoring degraded: {why}" if why else "monitoring whole again"
            out.result({"monitoring": "degraded" if why else "ok", "why": why},
                       [f"{datetime.now(UTC):%H:%M:%S} {text}"])
            out.out.flush()

        monitor.subscribe_degraded(degraded)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        out.progress(f"Watching {len(rt.repository.list_accounts())} account(s); Ctrl+C stops.")
        schedules = asyncio.ensure_future(scheduler.run(stop))
        try:
            await monitor.run(stop)
        finally:
            stop.set()
            await schedules
            await alerts.drain()

    limit_malloc_arenas()  # this process is a monitor: see heap.py
    asyncio.run(watch())
    return EXIT_OK


def cmd_history(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    rt.repository.require_account(args.account_id)
    events = rt.repository.history(args.account_id, limit=args.limit)
    out.result({"account_id": args.account_id, "history": [
        {"at": e.at.isoformat(), "status": e.status.value,
         "previous": e.previous.value if e.previous else None, "reason": e.reason}
        for e in events]},
        [f"{e.at:%Y-%m-%d %H:%M:%S} {e.status.value:<13} {e.reason}" for e in events])
    return EXIT_OK


def _say_reconcile(out: Output, report: ReconcileReport, *, quiet: bool = False) -> None:
    lines = []
    lines += [f"finished connecting {a}" for a in report.finished]
    lines += [f"rolled back {a} (it had not got far enough to go on)" for a in report.rolled_back]
    lines += [f"finished deleting {a}" for a in report.deleted]
    lines += [f"found the server the failed connect of {a} made and recorded it; retry the "
              "connect to carry it on, or delete the account" for a in report.adopted]
    lines += [f"could not finish {a}: {why}" for a, why in report.failed.items()]
    lines += [f"left {a} to the ibdesk process working on it" for a in report.skipped]
    if report.orphans:
        total = sum(o.price_monthly for o in report.orphans)
        lines.append(f"{len(report.orphans)} ibdesk droplet(s) no account here records cost "
                     f"${total:g}/month: `ibdesk orphans` lists them")
    if quiet:
        for line in lines:
            out.progress(line)
        return
    out.result({"finished": report.finished, "rolled_back": report.rolled_back,
                "deleted": report.deleted, "adopted": report.adopted, "failed": report.failed,
                "skipped": report.skipped,
                "orphans": [_orphan_json(o) for o in report.orphans]},
               lines or ["Nothing to reconcile."])


def cmd_reconcile(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    report = asyncio.run(Reconciler(rt).run())
    _say_reconcile(out, report)
    return EXIT_OK if not report.failed else 1


def _orphan_json(orphan: Orphan) -> dict[str, Any]:
    return {**vars(orphan), "kind": orphan.kind.value, "description": orphan.describe()}


def cmd_orphans(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    reconciler = Reconciler(rt)
    orphans = asyncio.run(reconciler.orphans())
    total = sum(o.price_monthly for o in orphans)
    lines = [f"{o.droplet_id:<12} {o.name:<30} {o.region:<6} {o.status:<7} "
             f"${o.price_monthly:g}/month  {o.describe()}" for o in orphans]
    if args.droplet_ids and not args.delete:
        raise IbdeskError("Droplet ids are for --delete: `ibdesk orphans --delete ID …`.")
    if not args.delete or not orphans:
        out.result({"orphans": [_orphan_json(o) for o in orphans], "monthly_cost": total},
                   lines + ([f"{len(orphans)} droplet(s), ${total:g}/month. `ibdesk orphans "
                             "--delete` removes this installation's orphans; another "
                             "installation's are removed only by naming their ids."]
                            if orphans else ["No orphan droplets."]))
        return EXIT_OK
    by_id = {o.droplet_id: o for o in orphans}
    if args.droplet_ids:
        unknown = [i for i in args.droplet_ids if i not in by_id]
        if unknown:
            raise IbdeskError(f"Not an ibdesk droplet without an account here: "
                              f"{', '.join(map(str, unknown))}. `ibdesk orphans` lists them; "
                              "nothing was deleted.")
        chosen = [by_id[i] for i in dict.fromkeys(args.droplet_ids)]
    else:
        chosen = [o for o in orphans if o.deletable_unnamed]
        if not chosen:
            out.result({"deleted": []}, [
                "None of these is this installation's orphan, so none was deleted. To "
                "delete another installation's server, name its id: "
                "`ibdesk orphans --delete ID`."])
            return EXIT_OK
    cost = sum(o.price_monthly for o in chosen)
    named = "; ".join(f"{o.name} ({o.describe()})" for o in chosen)
    confirm(f"Destroy {len(chosen)} droplet(s), ${cost:g}/month: {named}?", yes=args.yes)
    deleted = asyncio.run(reconciler.delete_orphans([o.droplet_id for o in chosen]))
    out.result({"deleted": deleted}, [f"Destroyed {len(deleted)} droplet(s)."])
    return EXIT_OK


def cmd_alerts(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.notify import describe

    alerts = Alerts(rt)
    if args.alerts_command == "add":
        number = alerts.add(read_stdin().strip())
        out.result({"added": number}, [f"Alert target {number} added: "
                                       f"{alerts.targets()[number - 1]}. Try it with "
                                       "`ibdesk alerts test`."])
    elif args.alerts_command == "remove":
        gone = alerts.remove(args.number)
        out.result({"removed": args.number}, [f"Alert target {args.number} ({gone}) removed."])
    elif args.alerts_command == "test":
        deliveries = asyncio.run(alerts.test())
        targets = [describe(d.url) for d in deliveries]
        out.result({"delivered": [{"target": t, "ok": d.ok}
                                  for t, d in zip(targets, deliveries, strict=True)]},
                   [f"{'sent' if d.ok else 'NOT delivered'}: {t}"
                    for t, d in zip(targets, deliveries, strict=True)])
        if not all(d.ok for d in deliveries):
            return EXIT_FAILED
    else:
        targets = alerts.targets()
        out.result({"targets": [{"number": i, "target": t} for i, t in enumerate(targets, 1)]},
                   [f"{i}. {t}" for i, t in enumerate(targets, 1)] or
                   ["No alert target yet: `echo URL | ibdesk alerts add --stdin` (an Apprise "
                    "URL, e.g. mailtos://user:app-password@gmail.com or ntfy://topic)."])
    return EXIT_OK


COMMANDS = {
    "alerts": cmd_alerts,
    "watch": cmd_watch,
    "history": cmd_history,
    "reconcile": cmd_reconcile,
    "orphans": cmd_orphans,
}

__all__ = ["COMMANDS"]
