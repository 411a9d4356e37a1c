"""The desktop window (Qt). Only this package and ibdesk.app import PySide6."""
