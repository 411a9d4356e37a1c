"""The packaged test suite's entry point.

`briefcase run <platform> --test` starts the app's own executable (Briefcase's stub) with
BRIEFCASE_MAIN_MODULE=tests.ibdesk, which runs this module inside the bundle: the tests
then check the code, the packages and the Python exactly as an installed ibdesk has them.
The bundle holds pyproject.toml beside the tests (pyproject `test_sources`), so pytest runs
with the project's own settings. Children the tests start through the app's executable
run `tests.child` (ibdesk's command line, or with `--python` what `python ARGS` would).
Briefcase reads the result from the last line this prints.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ibdesk.cli.app import ignore_fatal_signals

APP = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    ignore_fatal_signals()  # as ibdesk's own start does: the stub leaves SIGPIPE fatal
    os.environ["BRIEFCASE_MAIN_MODULE"] = "tests.child"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.chdir(APP)
    return int(pytest.main(["-c", str(APP / "pyproject.toml"), "--rootdir", str(APP),
                            "-p", "no:cacheprovider", "--color=no", *argv]))


if __name__ == "__main__":
    code = main(sys.argv[1:])
    print(f">>>>>>>>>> EXIT {code} <<<<<<<<<<", flush=True)
    sys.exit(code)
