"""Where the photo is inside a bigger picture: borders, caption bands, screenshots, grids.

Everything here works on a small luma array (``HashInput.coarse``: the decoded pixels
averaged to 128-255 px on the shorter side), in well under a millisecond, and returns
boxes ``(left, top, right, bottom)`` in that array's pixels.

* ``trim_box``: the box inside uniform borders (padding, letterboxes).
* ``regions``: the large rectangles separated by flat lines (recursive XY cuts on a map
  of where the image has detail): the photo of a meme without its caption bands, of a
  screenshot without the app around it, each tile of a collage.
* ``fill_rotation``: the angle of a photo turned by a few degrees and shown whole on a
  flat background (the four corners are flat triangles), and the photo's upright box.
"""

from __future__ import annotations

import math

import numpy as np

#: A pixel has detail when it differs from a neighbour by more than this (grey levels).
DETAIL = 2.5
#: A line (row or column of a piece) is flat when at most this share of it has detail.
FLAT_SHARE = 0.02
#: Pieces smaller than this share of the image's area are dropped...
MIN_AREA = 0.06
#: ...and so are pieces narrower than this share of the image on either side.
MIN_SIDE = 0.15
#: At most this many regions are returned (largest first).
MAX_REGIONS = 6

#: A border is uniform when its pixels vary less than this (grey levels, 0-255).
BORDER_STD = 6.0
#: Borders are only trimmed when they take at least this share of a side...
MIN_BORDER = 0.03
#: ...and leave at least this share of it.
MIN_KEPT = 0.3

Box = tuple[int, int, int, int]


def trim_box(array: np.ndarray, min_border: float = MIN_BORDER) -> Box | None:
    """The box inside uniform borders, or None if there are none worth trimming (none
    takes ``min_border`` of its side)."""
    height, width = array.shape
    top = _uniform_run(array)
    bottom = _uniform_run(array[::-1])
    left = _uniform_run(array.T)
    right = _uniform_run(array.T[::-1])
    kept_h, kept_w = height - top - bottom, width - left - right
    if kept_h < MIN_KEPT * height or kept_w < MIN_KEPT * width:
        return None
    if max(top, bottom) < min_border * height and max(left, right) < min_border * width:
        return None
    return left, top, width - right, height - bottom


def _uniform_run(rows: np.ndarray) -> int:
    """How many leading rows are uniform and of the same colour as the first one."""
    if rows[0].std() > BORDER_STD:  # most images have no border: one row tells
        return 0
    first = float(rows[0].mean())
    start, chunk = 0, 8  # then a few rows at a time
    while start < len(rows):
        block = rows[start : start + chunk]
        uniform = (block.std(axis=1) <= BORDER_STD) & (
            np.abs(block.mean(axis=1) - first) <= BORDER_STD
        )
        if not uniform.all():
            return start + int(np.argmin(uniform))
        start += len(block)
        chunk *= 2
    return len(rows)


def detail_maps(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean maps of the pixels that differ from their right neighbour (``across``) and
    from their lower neighbour (``down``). A column is a gap between pieces when nothing
    changes across it (a horizontal rule crossing it does not), a row when nothing changes
    down it (a vertical rule crossing it does not)."""
    across = np.zeros(array.shape, dtype=bool)
    down = np.zeros(array.shape, dtype=bool)
    across[:, :-1] = np.abs(np.diff(array, axis=1)) > DETAIL
    down[:-1, :] = np.abs(np.diff(array, axis=0)) > DETAIL
    return across, down


def regions(array: np.ndarray) -> list[Box]:
    """The large detailed rectangles of the image that flat lines separate, largest first.

    Two cuts are made: one where a flat line has no detail at all (a photo with a smooth
    band, such as a sky, stays whole), one where it only has nothing changing along its
    own direction (the gap between an app's sidebar and its cards stays a gap though card
    borders cross it); their pieces are pooled. Empty when the whole image is one such
    rectangle (nothing to separate)."""
    height, width = array.shape
    across, down = detail_maps(array)
    either = across | down
    pieces: list[Box] = []
    _cut((either, either), (0, 0, width, height), pieces, depth=0)
    _cut((across, down), (0, 0, width, height), pieces, depth=0)
    min_area = MIN_AREA * width * height
    kept: list[Box] = []
    for piece in dict.fromkeys(pieces):  # the two cuts often agree: each piece once
        if (
            (piece[2] - piece[0]) * (piece[3] - piece[1]) >= min_area
            and piece[2] - piece[0] >= MIN_SIDE * width
            and piece[3] - piece[1] >= MIN_SIDE * height
        ):
            box = _trimmed(array, piece)
            if not any(_near(box, other) for other in kept):
                kept.append(box)
    kept.sort(key=lambda p: (-(p[2] - p[0]) * (p[3] - p[1]), p))
    # The whole image (or nearly) is the original view already.
    kept = [p for p in kept if (p[2] - p[0]) * (p[3] - p[1]) < 0.9 * width * height]
    return kept[:MAX_REGIONS]


def _near(a: Box, b: Box, tolerance: int = 2) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


#: A region's borders are trimmed from this share of a side (the bars of a photo fitted in a
#: frame are exact, however thin; the whole image's from MIN_BORDER).
REGION_MIN_BORDER = 0.01
#: Lines of a region's edge that may belong to the frame around the bars of a photo
#: fitted in it (the cut leaves them in: they have detail), skipped when trimming.
EDGE_SKIP = 2


def _trimmed(array: np.ndarray, box: Box) -> Box:
    """``box`` without the uniform borders inside it (the bars of a photo fitted in a frame),
    looked for from its edges and, past them, from EDGE_SKIP lines in."""
    left, top, right, bottom = box
    for skip in (0, EDGE_SKIP):
        if min(right - left, bottom - top) <= 4 * skip + 8:
            break
        inner = trim_box(
            array[top + skip : bottom - skip, left + skip : right - skip], REGION_MIN_BORDER
        )
        if inner is not None:
            offset_x, offset_y = left + skip, top + skip
            return (
                offset_x + inner[0],
                offset_y + inner[1],
                offset_x + inner[2],
                offset_y + inner[3],
            )
    return box


def _cut(detail: tuple[np.ndarray, np.ndarray], box: Box, out: list[Box], depth: int) -> None:
    """Recursive XY cut: split ``box`` along its flat rows and columns."""
    left, top, right, bottom = box
    across, down = detail
    rows = down[top:bottom, left:right].mean(axis=1) > FLAT_SHARE
    columns = across[top:bottom, left:right].mean(axis=0) > FLAT_SHARE
    if not rows.any() or not columns.any():
        return
    # Shrink to the detailed part.
    r0, r1 = int(np.argmax(rows)), len(rows) - int(np.argmax(rows[::-1]))
    c0, c1 = int(np.argmax(columns)), len(columns) - int(np.argmax(columns[::-1]))
    rows, columns = rows[r0:r1], columns[c0:c1]
    left, top, right, bottom = left + c0, top + r0, left + c1, top + r1
    row_runs = _runs(rows)
    column_runs = _runs(columns)
    if len(row_runs) == 1 and len(column_runs) == 1 or depth >= 4:
        out.append((left, top, right, bottom))
        return
    # Cut along the axis with more pieces first; the recursion takes the other.
    if len(row_runs) >= len(column_runs):
        for start, stop in row_runs:
            _cut(detail, (left, top + start, right, top + stop), out, depth + 1)
    else:
        for start, stop in column_runs:
            _cut(detail, (left + start, top, left + stop, bottom), out, depth + 1)


def _runs(mask: np.ndarray, min_gap: int = 1) -> list[tuple[int, int]]:
    """The runs of True in ``mask`` as (start, stop), separated by at least ``min_gap`` False."""
    padded = np.concatenate(([False], mask, [False]))
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    runs = list(zip(changes[::2].tolist(), changes[1::2].tolist(), strict=True))
    merged: list[tuple[int, int]] = []
    for start, stop in runs:
        if merged and start - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def fill_rotation(array: np.ndarray) -> tuple[float, Box] | None:
    """A photo turned by 2-12 degrees and shown whole on a flat background: the angle
    (degrees, counter-clockwise as ``Image.rotate``) and the box of the photo once turned
    back about the array's centre. None when the corners are not flat triangles."""
    height, width = array.shape
    if height < 2 or width < 2:
        # Lines are read one in from each edge; an image a pixel thin has no corners to
        # read (and could not hold a turned photo anyway: a leg of 2 px at 12 degrees
        # needs a side of 10).
        return None
    corner = float(np.median([array[0, 0], array[0, -1], array[-1, 0], array[-1, -1]]))
    flat = np.abs(array - corner) <= 12

    def run(line: np.ndarray) -> int:
        return len(line) if line.all() else int(np.argmin(line))

    # Each corner's flat triangle: its leg along the top or bottom edge (``along``) and
    # along the side (``down``), read one line in from the edge (JPEG blurs the edge).
    corners = {
        "top_left": (run(flat[1]), run(flat[:, 1])),
        "top_right": (run(flat[1, ::-1]), run(flat[:, -2])),
        "bottom_left": (run(flat[-2]), run(flat[::-1, 1])),
        "bottom_right": (run(flat[-2, ::-1]), run(flat[::-1, -2])),
    }
    if min(min(legs) for legs in corners.values()) < 2:
        return None
    # Turned counter-clockwise, the top-left and bottom-right triangles are long along the
    # horizontal edges and the two others along the vertical ones; clockwise, the opposite.
    ccw = [
        corners["top_left"][0] > corners["top_left"][1],
        corners["bottom_right"][0] > corners["bottom_right"][1],
        corners["top_right"][1] > corners["top_right"][0],
        corners["bottom_left"][1] > corners["bottom_left"][0],
    ]
    if all(ccw):
        sign = 1.0
    elif not any(ccw):
        sign = -1.0
    else:
        return None
    angles = []
    for along, down in corners.values():
        small, large = min(along, down), max(along, down)
        angles.append(math.degrees(math.atan2(small, large)))
    angle = sign * float(np.median(angles))
    if not 2.0 <= abs(angle) <= 12.0:
        return None
    theta = math.radians(abs(angle))
    cos, sin = math.cos(theta), math.sin(theta)
    det = cos * cos - sin * sin
    w = (width * cos - height * sin) / det
    h = (height * cos - width * sin) / det
    if w < 0.3 * width or h < 0.3 * height:
        return None
    left, top = (width - w) / 2, (height - h) / 2
    return angle, (round(left), round(top), round(left + w), round(top + h))


#: Caption bands: rows whose margins are plain black or white (text on a plain band).
CAPTION_INK = 40.0
#: The band's margins (this share of the width on each side) are plain.
CAPTION_MARGIN = 0.03


def caption_box(array: np.ndarray) -> Box | None:
    """The box below and above the caption bands of a meme (rows of black or white text on
    a white or black band, with plain margins), or None if there are none."""
    height, width = array.shape
    margin = max(1, int(CAPTION_MARGIN * width))
    edges = np.concatenate((array[:, :margin], array[:, -margin:]), axis=1)
    colour = edges.mean(axis=1)
    # Block averages blur the text: the margins tell the band, plain and black or white.
    caption = (edges.std(axis=1) <= BORDER_STD) & (
        (colour <= CAPTION_INK) | (colour >= 255 - CAPTION_INK)
    )
    top = height if caption.all() else int(np.argmin(caption))
    bottom = height if caption.all() else int(np.argmin(caption[::-1]))
    if top + bottom > (1 - MIN_KEPT) * height:
        return None
    if max(top, bottom) < 0.05 * height:
        return None
    return 0, top, width, height - bottom


#: Gutters: lines of at least this grey level (and the image's edges are such lines).
GUTTER_LEVEL = 200.0


def grid_cells(pixels: np.ndarray) -> list[Box]:
    """The cells of a grid of pictures separated by bright gutters (a collage), on the
    decoded pixels (gutters are a few pixels wide), largest first; empty if the image does
    not have a bright edge all around or is not cut into at least two cells."""
    height, width = pixels.shape
    if (
        min(
            float(pixels[0].min()),
            float(pixels[-1].min()),
            float(pixels[:, 0].min()),
            float(pixels[:, -1].min()),
        )
        < GUTTER_LEVEL
    ):
        return []
    rows = _runs(pixels.min(axis=1) < GUTTER_LEVEL)
    columns = _runs(pixels.min(axis=0) < GUTTER_LEVEL)
    cells = [
        (left, top, right, bottom)
        for top, bottom in rows
        for left, right in columns
        if bottom - top >= MIN_SIDE * height and right - left >= MIN_SIDE * width
    ]
    if len(cells) < 2:
        return []
    cells.sort(key=lambda p: (-(p[2] - p[0]) * (p[3] - p[1]), p))
    return cells[:MAX_REGIONS]
