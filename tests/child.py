"""What the app's executable runs when the packaged test suite starts it (tests/ibdesk.py
sets BRIEFCASE_MAIN_MODULE=tests.child for every child).

Without `--python`: ibdesk's command line, as the stub runs it for an installed app (the
monitor worker, `ibdesk --sandbox connect`…). With `--python` first: what `python -c CODE`,
`python -m MODULE` or `python SCRIPT` would run, for the tests that need a Python child
(a second process on the same database, a start-up with the stub's signal handling); a
bundle has no other Python to start.
"""

from __future__ import annotations

import builtins
import os
import runpy
import sys
import traceback


def _as_python(args: list[str]) -> None:
    if not args:
        raise SystemExit("tests.child --python: give -c CODE, -m MODULE or SCRIPT")
    if args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        sys.path.insert(0, "")
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        exec(compile(args[1], "<string>", "exec"), namespace)  # noqa: S102 (python -c)
    elif args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(args)
        sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
        runpy.run_path(args[0], run_name="__main__")


def main() -> None:
    if sys.argv[1:2] != ["--python"]:
        runpy.run_module("ibdesk", run_name="__main__")
        return
    try:
        _as_python(sys.argv[2:])
    except SystemExit:
        raise
    except BaseException:  # as python reports an uncaught exception: traceback, exit 1
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
