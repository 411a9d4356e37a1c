"""ibdesk: an always-on IBeam gateway per Interactive Brokers login, watched from the desktop.

This module stays import-light on purpose: `python -m ibdesk --version` and the
bootstrap must not pay for Qt, SQLAlchemy or httpx.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
