#!/usr/bin/env python3
"""Render the app icon set from ``resources/icons/tallybook.svg`` (run once; the files are kept).

    .venv/bin/python packaging/render_icons.py

Writes, under ``resources/icons/``:

- ``hicolor/<N>x<N>/apps/io.github.tallybook.Tallybook.png`` for the freedesktop icon theme
  sizes, and ``hicolor/scalable/apps/io.github.tallybook.Tallybook.svg`` (a copy of the source);
- ``tallybook.ico`` (Windows: 16 to 256 px in one file) and ``tallybook.icns`` (macOS).

The SVG is drawn with Qt's own renderer (QtSvg ships in PySide6-Essentials), each size from the
vector source rather than scaled from a bitmap, so small sizes stay sharp. Pillow writes the
``.ico`` and ``.icns``. Run it with ``QT_QPA_PLATFORM=offscreen`` on a machine with no display
(set here by default).
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"
SOURCE = ICONS / "tallybook.svg"
APP_ID = "io.github.tallybook.Tallybook"
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render_png(size: int) -> bytes:
    """The SVG drawn on a transparent ``size`` x ``size`` canvas, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"Qt cannot read {SOURCE}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise SystemExit(f"Qt could not encode the {size} px icon")
    buffer.close()
    return bytes(data.data())


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # fonts need an app
    rendered = {
        size: render_png(size) for size in sorted({*HICOLOR_SIZES, *ICO_SIZES, *ICNS_SIZES})
    }
    for size in HICOLOR_SIZES:
        target = ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rendered[size])
        print(f"wrote {target.relative_to(ROOT)}")
    scalable = ICONS / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, scalable)
    print(f"wrote {scalable.relative_to(ROOT)}")

    images = {size: Image.open(io.BytesIO(rendered[size])).convert("RGBA") for size in rendered}
    largest_ico = images[max(ICO_SIZES)]
    # Pillow's ICO writer takes every size from one image unless the others are appended.
    largest_ico.save(
        ICONS / "tallybook.ico",
        format="ICO",
        sizes=[(size, size) for size in ICO_SIZES],
        append_images=[images[size] for size in ICO_SIZES if size != max(ICO_SIZES)],
    )
    print(f"wrote {(ICONS / 'tallybook.ico').relative_to(ROOT)}")
    images[max(ICNS_SIZES)].save(
        ICONS / "tallybook.icns",
        format="ICNS",
        append_images=[images[size] for size in ICNS_SIZES if size != max(ICNS_SIZES)],
    )
    print(f"wrote {(ICONS / 'tallybook.icns').relative_to(ROOT)}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
