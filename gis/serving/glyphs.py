"""Label glyphs for MapLibre, served by the service itself (no font CDN on an intranet).

MapLibre draws text from signed distance fields (SDF) of 24 px glyphs with a 3 px border,
fetched 256 code points at a time as protocol buffers (``{fontstack}/{start}-{end}.pbf``, the
format of ``glyphs.proto`` that node-fontnik writes). Chinese ideographs MapLibre draws with the
browser's own fonts (``localIdeographFontFamily``); these ranges give it the digits, Latin
letters and punctuation of grid codes. The glyphs come from the Simplified Chinese face of Noto
Sans CJK when the machine has it (Debian ``fonts-noto-cjk``), else from matplotlib's DejaVu Sans,
rasterised by FreeType (through matplotlib) and turned into distance fields with SciPy.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Final

import numpy as np
from matplotlib import ft2font
from scipy import ndimage

GLYPH_SIZE_PX: Final = 24
BORDER_PX: Final = 3
RADIUS_PX: Final = 8.0
CUTOFF: Final = 0.25
BASELINE_PX: Final = 27
"""MapLibre's ``top`` is measured from 27 px above the baseline (as its local glyphs are)."""
RANGE_SIZE: Final = 256
MAX_CODE_POINT: Final = 0xFFFF
CJK_FONT_FILES: Final = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)
SC_FAMILY: Final = "Noto Sans CJK SC"
_FONT_LOCK = threading.Lock()
"""FreeType faces are not thread-safe: one range is rasterised at a time."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | int, *, signed: bool = False) -> bytes:
    """One protocol-buffer field: varint (``int``, zigzag when ``signed``) or bytes."""
    if isinstance(payload, int):
        value = (payload << 1) ^ (payload >> 31) if signed else payload
        return _varint(number << 3) + _varint(value & 0xFFFFFFFF)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


@functools.cache
def _font() -> ft2font.FT2Font:
    """The SC face of Noto Sans CJK, else DejaVu Sans (bundled with matplotlib), at 24 px."""
    for path in CJK_FONT_FILES:
        if not Path(path).exists():
            continue
        faces = ft2font.FT2Font(path).num_faces
        for index in range(faces):
            font = ft2font.FT2Font(path, face_index=index)
            if font.family_name == SC_FAMILY:
                font.set_size(GLYPH_SIZE_PX, 72)
                return font
    from matplotlib import font_manager  # noqa: PLC0415

    font = ft2font.FT2Font(font_manager.findfont("DejaVu Sans", fallback_to_default=False))
    font.set_size(GLYPH_SIZE_PX, 72)
    return font


def signed_distance(alpha: np.ndarray) -> np.ndarray:
    """The SDF bytes of a glyph's coverage (0–255, border included): 192 on the outline,
    more inside, less outside, ``RADIUS_PX`` pixels of falloff."""
    inside = alpha >= 128
    outside_d = ndimage.distance_transform_edt(~inside)
    inside_d = ndimage.distance_transform_edt(inside)
    distance = np.where(inside, -(inside_d - 0.5), outside_d - 0.5)
    values = 255 - 255 * (distance / RADIUS_PX + CUTOFF)
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def _glyph(font: ft2font.FT2Font, code: int) -> bytes | None:
    """One ``glyph`` message, None when the font lacks the character."""
    if font.get_char_index(code) == 0:
        return None
    glyph = font.load_char(code)
    font.clear()
    font.set_text(chr(code), 0.0)
    font.draw_glyphs_to_bitmap(antialiased=True)
    image = np.asarray(font.get_image())
    hits = np.argwhere(image > 0)
    fields = _field(1, code)
    if len(hits):
        (r0, c0), (r1, c1) = hits.min(axis=0), hits.max(axis=0)
        crop = image[r0 : r1 + 1, c0 : c1 + 1]
        padded = np.pad(crop, BORDER_PX)
        height, width = crop.shape
        fields += _field(2, signed_distance(padded).tobytes())
    else:  # a space: metrics only
        width = height = 0
    fields += _field(3, int(width)) + _field(4, int(height))
    fields += _field(5, round(glyph.horiBearingX / 64), signed=True)
    fields += _field(6, round(glyph.horiBearingY / 64) - BASELINE_PX, signed=True)
    fields += _field(7, round(glyph.horiAdvance / 64))
    return _field(3, fields)


@functools.lru_cache(maxsize=64)
def glyph_range_pbf(fontstack: str, start: int) -> bytes:
    """The glyph PBF of code points ``start`` … ``start + 255`` for ``fontstack`` (its name
    is echoed; every stack is drawn with the one font this service has).

    Raises
    ------
    ValueError
        ``start`` is not a multiple of 256 within the Basic Multilingual Plane.
    """
    if start % RANGE_SIZE or not 0 <= start <= MAX_CODE_POINT:
        msg = f"glyph range start {start} must be a multiple of 256 in 0…65535"
        raise ValueError(msg)
    with _FONT_LOCK:
        font = _font()
        codes = range(start, start + RANGE_SIZE)
        glyphs = b"".join(g for code in codes if (g := _glyph(font, code)) is not None)
    end = start + RANGE_SIZE - 1
    stack = _field(1, fontstack.encode("utf-8")) + _field(2, f"{start}-{end}".encode()) + glyphs
    return _field(1, stack)
