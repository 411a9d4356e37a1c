"""This installation's id: what tells its droplets from another computer's.

Two computers (a desktop and a laptop) may share one DigitalOcean token. Each data
folder gets a random id on first use, kept in `installation-id` beside the database, and
every droplet ibdesk creates is tagged with it (`ibdesk-inst:<id>`). Only droplets with
this installation's tag can be this installation's orphans; another installation's are
listed as such and deleted only when named one by one.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

FILE_NAME = "installation-id"
_VALID = re.compile(r"^[0-9a-f]{16}$")


def installation_id(home: Path) -> str:
    """Read the id, making it on first use. Two processes starting at once agree: the id
    is written whole to a file of its own, then linked into place, which fails when the
    other was first (and then its id is read)."""
    path = home / FILE_NAME
    for _ in range(3):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError):
            text = ""
        else:
            if _VALID.match(text):
                return text
            # damaged by hand: replaced, since an id that cannot be read protects nothing
            path.unlink(missing_ok=True)
        new = uuid.uuid4().hex[:16]
        home.mkdir(parents=True, exist_ok=True)
        draft = home / f".{FILE_NAME}.{new}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(new + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            continue
        finally:
            draft.unlink(missing_ok=True)
        return new
    raise OSError(f"{path} cannot be read or created")


__all__ = ["FILE_NAME", "installation_id"]
