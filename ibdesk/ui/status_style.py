"""How each status looks: a colour *and* a shape with a word, never colour alone."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QIcon,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)

from ibdesk.domain.models import ServerStatus

COLOURS = {
    ServerStatus.RUNNING: "#1f9d55",
    ServerStatus.INITIALIZING: "#d69e2e",
    ServerStatus.PROVISIONING: "#3182ce",
    ServerStatus.STOPPED: "#718096",
    ServerStatus.ERROR: "#e53e3e",
}
LABELS = {
    ServerStatus.RUNNING: "Running",
    ServerStatus.INITIALIZING: "Starting",
    ServerStatus.PROVISIONING: "Setting up",
    ServerStatus.STOPPED: "Stopped",
    ServerStatus.ERROR: "Error",
}


TEXT_COLOURS = {
    # kind: (on a light background, on a dark background) — both readable (WCAG AA)
    "error": ("#c53030", "#fc8181"),
    "warning": ("#975a16", "#f6c453"),
    "ok": ("#2f855a", "#68d391"),
    "muted": ("#4a5568", "#a0aec0"),
    "accent": ("#2b6cb0", "#63b3ed"),
}


def is_dark() -> bool:
    """Whether the app shows a dark theme (the OS's choice, or a dark palette)."""
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def text_colour(kind: str) -> str:
    light, dark = TEXT_COLOURS[kind]
    return dark if is_dark() else light


def text_style(kind: str) -> str:
    return f"color: {text_colour(kind)};"


def colour(status: ServerStatus) -> QColor:
    return QColor(COLOURS[status])


def _draw(status: ServerStatus, size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 16.0
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour(status))
    p.drawEllipse(QRectF(1 * s, 1 * s, 14 * s, 14 * s))
    pen = QPen(QColor("white"), max(1.0, 1.8 * s))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    if status is ServerStatus.RUNNING:  # a tick
        path = QPainterPath(QPointF(4.5 * s, 8.2 * s))
        path.lineTo(QPointF(7 * s, 10.7 * s))
        path.lineTo(QPointF(11.5 * s, 5.5 * s))
        p.drawPath(path)
    elif status is ServerStatus.ERROR:  # an exclamation mark
        p.drawLine(QPointF(8 * s, 4 * s), QPointF(8 * s, 9 * s))
        p.drawPoint(QPointF(8 * s, 11.8 * s))
    elif status is ServerStatus.STOPPED:  # a square
        p.setBrush(QColor("white"))
        p.drawRect(QRectF(5.5 * s, 5.5 * s, 5 * s, 5 * s))
    elif status is ServerStatus.INITIALIZING:  # an open circle: turning
        p.drawArc(QRectF(4.5 * s, 4.5 * s, 7 * s, 7 * s), 30 * 16, 280 * 16)
    else:  # provisioning: three dots
        for x in (5, 8, 11):
            p.drawPoint(QPointF(x * s, 8 * s))
    p.end()
    return pixmap


@cache
def icon(status: ServerStatus) -> QIcon:
    result = QIcon()
    for size in (16, 24, 32, 48):
        result.addPixmap(_draw(status, size))
    return result


__all__ = ["COLOURS", "LABELS", "TEXT_COLOURS", "colour", "icon", "is_dark", "text_colour",
           "text_style"]
