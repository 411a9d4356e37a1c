"""`python -m ibdesk` runs the same entry point as the `ibdesk` command."""

import sys

from ibdesk.cli import main

sys.exit(main())
