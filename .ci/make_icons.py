"""Draw ibdesk's icon at every size Briefcase asks for (run: .venv/bin/python .ci/make_icons.py).

Drawn in code rather than committed from a design tool so that it can be re-made at any
size: a dark tile with a gateway "pulse" line and a green status light.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import (  # noqa: E402
    QColor,
    QGuiApplication,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
)

OUT = Path(__file__).resolve().parent.parent / "resources"
SIZES = (16, 32, 64, 128, 256, 512, 1024)


def draw(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 100.0
    tile = QRectF(4 * s, 4 * s, 92 * s, 92 * s)
    gradient = QLinearGradient(tile.topLeft(), tile.bottomRight())
    gradient.setColorAt(0, QColor("#1d3b5c"))
    gradient.setColorAt(1, QColor("#0e1d2e"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(gradient)
    p.drawRoundedRect(tile, 20 * s, 20 * s)
    pulse = QPainterPath(QPointF(16 * s, 58 * s))
    for x, y in ((34, 58), (42, 34), (52, 76), (60, 50), (66, 58), (84, 58)):
        pulse.lineTo(QPointF(x * s, y * s))
    pen = QPen(QColor("#e8f1fb"), max(1.2, 6.5 * s))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPath(pulse)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#3ecf6e"))
    p.drawEllipse(QPointF(76 * s, 26 * s), 9 * s, 9 * s)
    p.end()
    return image


def main() -> int:
    app = QGuiApplication(sys.argv)  # noqa: F841 - QPainter needs it
    OUT.mkdir(exist_ok=True)
    for size in SIZES:
        draw(size).save(str(OUT / f"ibdesk-{size}.png"))
    draw(256).save(str(OUT / "ibdesk.png"))
    assets = OUT.parent / "ibdesk" / "ui" / "assets"  # what the installed app loads
    assets.mkdir(parents=True, exist_ok=True)
    for size in (32, 64, 128, 256):
        draw(size).save(str(assets / f"ibdesk-{size}.png"))
    if not draw(256).save(str(OUT / "ibdesk.ico")):
        print("no ICO writer in this Qt; ibdesk.ico not made", file=sys.stderr)
    print("icons written to", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
