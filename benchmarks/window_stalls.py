"""Does the window freeze while the monitor sweeps 1,000 accounts?

Builds 1,000 accounts as benchmarks/monitor.py does, serves them from `ibdesk sandbox
serve` in its own process (100 ms API latency), opens the real main window on them
(offscreen) with the monitor in its own process (as the app runs it) and the stall watch
on (a 10 ms timer on the qasync loop; lateness over 50 ms is a stall), runs forced
monitor cycles and the table updates that follow, and prints how many stalls it saw during
the sweeps and the worst, each split into what the Qt thread did meanwhile (ran, or
waited for a core: `ui/stalls.py`; a stall spent mostly waiting is the machine's, the
window's own are the rest), and the loop callbacks that ran in the worst; then scrolls the
1,000 rows page by page and prints how long each page takes
to paint.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/window_stalls.py [N] [CYCLES] [MODES]

Each run measures the table sorted by account and by "checked" (the column every cycle
changes), with the window as it is (`current`: the order held during a cycle and made
once at its end, the tray's summary once a cycle) beside `before` (issue 18: the proxy
re-sorting every updated row, the tray summed after every 100-row chunk), and prints the
Qt thread's CPU per sweep beside the stalls.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import monitor as monitor_bench  # noqa: E402


async def _before_apply(self: object, updates: list[object]) -> None:
    """MainWindow.apply_updates as it was before issue 18's fix (for the `before` mode)."""
    win: object = self
    selected = win.selected_account_id()  # type: ignore[attr-defined]
    for start in range(0, len(updates), 100):
        for update in updates[start:start + 100]:
            win.model.apply_update(update)  # type: ignore[attr-defined]
        await asyncio.sleep(0)
    win._update_tray(win.model.accounts())  # type: ignore[attr-defined]
    win._show_cost()  # type: ignore[attr-defined]
    if any(getattr(u, "account_id", None) == selected for u in updates):
        await win._show_selected()  # type: ignore[attr-defined]


async def measure(folder: Path, info: dict[str, str], cycles: int, mode: str = "current",
                  column: str = "account") -> dict[str, object]:
    from ibdesk.secrets import DO_TOKEN
    from ibdesk.services import open_runtime
    from ibdesk.ui.controller import Controller
    from ibdesk.ui.main_window import MainWindow
    from ibdesk.ui.stalls import StallWatch

    rt = open_runtime(folder / "home", do_api_url=info["api_url"],
                      sandbox_ssh_map_url=info["ssh_map_url"],
                      public_ip_url=info["public_ip_url"])
    rt.secrets.set(DO_TOKEN, info["token"])
    from PySide6.QtCore import Qt

    from ibdesk.ui.account_table_model import COL_ACCOUNT, COL_CHECKED

    if mode == "before":
        MainWindow.apply_updates = _before_apply  # type: ignore[method-assign,assignment]
        MainWindow._cycle_end_arrived = lambda self: None  # type: ignore[method-assign]
    controller = Controller(rt)
    window = MainWindow(controller)
    window.show()
    await window.reload()
    window.table.sortByColumn(COL_CHECKED if column == "checked" else COL_ACCOUNT,
                              Qt.SortOrder.AscendingOrder)
    slow = _time_callbacks()
    watch = StallWatch()
    watch.start()
    times = []
    qt_cpu = []
    for _ in range(cycles):
        started = time.perf_counter()
        cpu = time.thread_time()  # the Qt thread's (the loop runs on it)
        await controller.monitor.cycle(force=True)  # in the monitor's own process
        await asyncio.sleep(0.5)  # its results reach the table as the window applies them
        qt_cpu.append(time.thread_time() - cpu)
        times.append(time.perf_counter() - started)
    stalls = _stall_figures(list(watch.details), slow)  # the sweeps' (scrolling paints below)
    # Scrolling: the whole table, top to bottom, one page a step, each step painted now.
    bar = window.table.verticalScrollBar()
    frames = []
    for value in range(bar.minimum(), bar.maximum() + 1, max(1, bar.pageStep())):
        started = time.perf_counter()
        bar.setValue(value)
        window.table.viewport().repaint()
        frames.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0)
    watch.stop()
    window._ages.stop()
    # Closing mid-sweep: a forced cycle under way, then the window's close, timed until
    # the monitor's process has exited (by itself, or killed after 15 s).
    sweep = asyncio.ensure_future(controller.monitor.cycle(force=True))
    await asyncio.sleep(1.0)
    process = controller.monitor._process
    ended: dict[str, object] = {}
    if process is not None:  # Qt deletes the QProcess once it has finished
        process.finished.connect(lambda code, status: ended.update(code=code, status=status))
    started = time.perf_counter()
    await controller.close()
    shutdown = time.perf_counter() - started
    sweep.cancel()
    from PySide6.QtCore import QProcess

    killed = ended.get("status") == QProcess.ExitStatus.CrashExit
    return {"mode": mode, "sorted_by": column, "cycles": cycles,
            "qt_cpu_ms_per_sweep": round(statistics.median(qt_cpu) * 1000),
            "cycle_seconds": [round(t, 2) for t in times],
            **stalls,
            "scroll_pages": len(frames),
            "scroll_frame_ms_median": round(statistics.median(frames), 1) if frames else None,
            "scroll_frame_ms_max": round(max(frames), 1) if frames else None,
            "shutdown_s": round(shutdown, 2), "worker_killed": killed}


def _stall_figures(during: list[Any], slow: list[tuple[float, float, str]]
                   ) -> dict[str, object]:
    """The stalls' figures, and what ran in each of the worst: the callbacks that ended
    within it."""
    worst = sorted(during, key=lambda s: s.late)
    return {
        "stalls_over_50ms": len(during),
        "worst_stall_ms": round(max((s.late for s in during), default=0) * 1000),
        "own_stalls_over_50ms": sum(not s.machine for s in during),
        "worst_own_stall_ms": round(max((s.late for s in during if not s.machine),
                                        default=0) * 1000),
        "stalls_ms": [(round(s.late * 1000), round(s.ran * 1000), round(s.waited * 1000))
                      for s in worst[-10:]],
        "worst_stalls_callbacks": [
            [(round(spent * 1000), what) for end, spent, what in slow
             if stall.ended - stall.late - 0.01 <= end <= stall.ended]
            for stall in worst[-3:]],
    }


def _time_callbacks() -> list[tuple[float, float, str]]:
    """From now on, every loop callback over 2 ms (when it ended on the loop's clock, how
    long, what), to name a stall's causes: asyncio's own Handle._run, which qasync's loop
    runs every callback and task step through."""
    slow: list[tuple[float, float, str]] = []
    run = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        started = time.perf_counter()
        run(handle)
        spent = time.perf_counter() - started
        if spent > 0.002:
            slow.append((handle._loop.time(), spent, repr(handle)[:200]))

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    return slow


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 1000
    cycles = int(argv[1]) if len(argv) > 1 else 3
    modes = argv[2].split(",") if len(argv) > 2 and argv[2] != "--child" else [
        "before", "current"]
    if len(argv) > 2 and argv[2] == "--child":
        import qasync

        from ibdesk.app import make_application

        app = make_application()
        sys.setswitchinterval(0.001)  # as ibdesk.app.run_window does
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        folder, info = Path(argv[3]), json.loads(argv[4])
        monitor_bench._keyring_env(folder)
        with loop:
            print(json.dumps(loop.run_until_complete(measure(folder, info, cycles, argv[5],
                                                             argv[6]))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run([sys.executable, monitor_bench.__file__, "--child", "build", str(folder),
                        str(n), "0", "0", ""], check=True, stdout=subprocess.DEVNULL)
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM",
                                                               "offscreen")}
        for column in ("account", "checked"):
            for mode in modes:
                with monitor_bench.served(folder, 0, "http10") as info:
                    out = subprocess.run([sys.executable, __file__, str(n), str(cycles),
                                          "--child", str(folder), json.dumps(info), mode,
                                          column], check=True, stdout=subprocess.PIPE,
                                         text=True, env=env).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"sorted by {column:<8} {mode:<8} Qt CPU {r['qt_cpu_ms_per_sweep']:>5} ms"
                      f"/sweep, stalls > 50 ms: {r['stalls_over_50ms']:>3}, worst "
                      f"{r['worst_stall_ms']:>4} ms (the window's own: "
                      f"{r['own_stalls_over_50ms']}, worst {r['worst_own_stall_ms']} ms), "
                      f"closing mid-sweep {r['shutdown_s']:>5.2f} s"
                      f"{' (worker killed)' if r['worker_killed'] else ''}", flush=True)
                print(f"    stalls (ms late, ran, waited for a core): {r['stalls_ms']}\n"
                      f"    the worst stalls' callbacks (ms, what): "
                      f"{json.dumps(r['worst_stalls_callbacks'], indent=1)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
