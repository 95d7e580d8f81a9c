"""The ways a republished copy differs from its original: one small function per family.

Every family is ``(image, rng, others) -> image``: ``image`` is the original (RGB),
``rng`` a seeded ``numpy.random.Generator`` (the only source of randomness, so a run is
repeatable), ``others`` a list of other photos of the set, in RGB (used by ``collage``).
``FAMILIES`` maps each name to its function, in the order reports print them.

The stickers, the two screenshot templates and the meme font are AugLy's (Meta's
augmentation library, MIT licence): its wheel is fetched from PyPI once into
~/.cache/ncii-monitor/augly (``pip download``, nothing installed: AugLy itself pins
Pillow < 9). Without it, drawn stickers, drawn frames and DejaVu or Pillow's own font
stand in, and ``ASSETS.source`` says so.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Transform = Callable[[Image.Image, np.random.Generator, Sequence[Image.Image]], Image.Image]

AUGLY_CACHE = Path.home() / ".cache" / "ncii-monitor" / "augly"
AUGLY_VERSION = "1.0.0"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")

# --------------------------------------------------------------------------- assets


@dataclass
class Assets:
    source: str  # where the assets came from, for the report
    emojis: list[Path] = field(default_factory=list)
    templates: dict[str, tuple[Path, tuple[int, int, int, int]]] = field(default_factory=dict)
    meme_font: Path | None = None
    text_font: Path | None = None


def fetch_augly_assets(folder: Path = AUGLY_CACHE) -> bool:
    """Unpack AugLy's stickers, templates and fonts into ``folder``; False if unavailable."""
    marker = folder / "complete"
    if marker.exists():
        return True
    with tempfile.TemporaryDirectory(prefix="augly-") as tmp:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "-d",
                tmp,
                f"augly=={AUGLY_VERSION}",
            ],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmp).glob("augly-*.whl"))
        if result.returncode != 0 or not wheels:
            return False
        with zipfile.ZipFile(wheels[0]) as archive:
            for name in archive.namelist():
                wanted = (
                    name.startswith("augly/assets/twemojis/")
                    and name.endswith(".png")
                    or name.startswith("augly/assets/screenshot_templates/")
                    or name
                    in ("augly/assets/fonts/Impact.ttf", "augly/assets/fonts/NotoSans-Bold.ttf")
                )
                if wanted:
                    target = folder / name.removeprefix("augly/assets/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(name))
    marker.write_text(AUGLY_VERSION)
    return True


@cache
def assets() -> Assets:
    dejavu = DEJAVU / "DejaVuSans-Bold.ttf"
    fallback_font = dejavu if dejavu.exists() else None
    if not fetch_augly_assets():
        return Assets(
            "drawn stand-ins (AugLy unavailable)", meme_font=fallback_font, text_font=fallback_font
        )
    folder = AUGLY_CACHE
    boxes = json.loads((folder / "screenshot_templates" / "bboxes.json").read_text())
    templates = {
        Path(name).stem: (folder / "screenshot_templates" / name, tuple(box))
        for name, box in boxes.items()
    }
    emojis = sorted(
        p
        for sub in (
            "smileys",
            "animals_and_nature",
            "food_and_drink",
            "objects",
            "activity",
            "symbols",
            "travel_and_places",
        )
        for p in (folder / "twemojis" / sub).glob("*.png")
    )
    impact = folder / "fonts" / "Impact.ttf"
    return Assets(
        f"AugLy {AUGLY_VERSION} assets",
        emojis=emojis,
        templates=templates,  # type: ignore[arg-type]
        meme_font=impact if impact.exists() else fallback_font,
        text_font=fallback_font or (folder / "fonts" / "NotoSans-Bold.ttf"),
    )


def font(path: Path | None, size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    size = max(8, int(size))
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


# --------------------------------------------------------------------------- helpers

WORDS = (
    "look at this",
    "omg",
    "found her pics",
    "throwback",
    "new leak",
    "best of",
    "no way",
    "weekend",
    "summer vibes",
    "rate her",
    "who is she",
    "full set inside",
    "when you see it",
    "classic",
    "follow for more",
    "part 2",
)
SITES = (
    "pics-share.example",
    "@anon_poster",
    "imgboard.example",
    "t.me/leaks_example",
    "hotpics.example",
    "forum.example/u/883",
    "© freepix",
    "sharehub.example",
)


def pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return items[int(rng.integers(len(items)))]


def random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]


def jpeg_roundtrip(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop ``image`` to fill ``size`` (what galleries and feeds do)."""
    return ImageOps.fit(image, size, Image.Resampling.LANCZOS)


def contain(
    image: Image.Image, size: tuple[int, int], background: tuple[int, int, int]
) -> Image.Image:
    """Scale ``image`` to fit inside ``size``, centred on ``background``."""
    frame = Image.new("RGB", size, background)
    fitted = ImageOps.contain(image, size, Image.Resampling.LANCZOS)
    frame.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    return frame


def fit_text(
    draw: ImageDraw.ImageDraw, text: str, path: Path | None, max_width: float, max_height: float
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest font (up to ``max_height``) whose ``text`` fits in ``max_width``."""
    size = int(max_height)
    while size > 8:
        candidate = font(path, size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=candidate)
        if right - left <= max_width and bottom - top <= max_height:
            return candidate
        size = int(size * 0.9)
    return font(path, 8)


# --------------------------------------------------------------------------- encoding, scale, colour


def recompress(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return jpeg_roundtrip(image, 30)


def rescale_half(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return image.resize(
        (max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BILINEAR
    )


def rescale_double(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC)


def colour(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """A filter: saturation x0.5-1.6 and a hue turn of 8-25 degrees either way."""
    hsv = np.asarray(image.convert("HSV"), dtype=np.int16)
    shift = int(rng.uniform(8, 25) / 360 * 256) * int(rng.choice([-1, 1]))
    saturation = rng.choice([rng.uniform(0.5, 0.8), rng.uniform(1.25, 1.6)])
    hsv[..., 0] = (hsv[..., 0] + shift) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 255)
    return Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")


def brightness_up(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(1.3)


def brightness_down(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(0.7)


def blur(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(2))


def noise(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """Gaussian noise, sigma 10 grey levels (a noisy phone photo, or an evasion attempt)."""
    pixels = np.asarray(image, dtype=np.float32)
    pixels += 10 * rng.standard_normal(pixels.shape, dtype=np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def greyscale(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return image.convert("L").convert("RGB")


# --------------------------------------------------------------------------- geometry


def crop(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """Keep 70-90 % of each side, anywhere in the image."""
    width = int(image.width * rng.uniform(0.7, 0.9))
    height = int(image.height * rng.uniform(0.7, 0.9))
    left = int(rng.integers(0, image.width - width + 1))
    top = int(rng.integers(0, image.height - height + 1))
    return image.crop((left, top, left + width, top + height))


def flip_h(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return ImageOps.mirror(image)


def rotate90(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return image.transpose(Image.Transpose.ROTATE_90)


def rotate180(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return image.transpose(Image.Transpose.ROTATE_180)


def rotate270(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return image.transpose(Image.Transpose.ROTATE_270)


def small_rotation(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """Turned 3-8 degrees either way, then cropped to the largest upright rectangle or
    shown whole on a filled background."""
    angle = float(rng.uniform(3, 8) * rng.choice([-1, 1]))
    if rng.random() < 0.5:
        rotated = image.rotate(angle, Image.Resampling.BICUBIC, expand=False)
        w, h = _inscribed(image.width, image.height, np.radians(abs(angle)))
        left, top = (image.width - w) // 2, (image.height - h) // 2
        return rotated.crop((left, top, left + w, top + h))
    fill = (255, 255, 255) if rng.random() < 0.5 else (0, 0, 0)
    return image.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def _inscribed(width: int, height: int, angle: float) -> tuple[int, int]:
    """Largest axis-aligned rectangle inside a width x height one turned by ``angle``."""
    long_side, short_side = max(width, height), min(width, height)
    sin, cos = abs(np.sin(angle)), abs(np.cos(angle))
    if short_side <= 2 * sin * cos * long_side:
        x = 0.5 * short_side
        w, h = (x / sin, x / cos) if width >= height else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        w, h = (width * cos - height * sin) / cos2, (height * cos - width * sin) / cos2
    return int(w), int(h)


def pad(image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]) -> Image.Image:
    """Uniform borders of 3-20 % on each side, white, black, grey or any colour."""
    fill = [(255, 255, 255), (0, 0, 0), (128, 128, 128), random_colour(rng)][int(rng.integers(4))]
    left, right = (int(image.width * rng.uniform(0.03, 0.2)) for _ in range(2))
    top, bottom = (int(image.height * rng.uniform(0.03, 0.2)) for _ in range(2))
    return ImageOps.expand(image, (left, top, right, bottom), fill=fill)


def letterbox(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """Black bars to 16:9 or 9:16 (a video frame, a phone story)."""
    ratio = 16 / 9 if rng.random() < 0.5 else 9 / 16
    if image.width / image.height < ratio:
        size = (round(image.height * ratio), image.height)
    else:
        size = (image.width, round(image.width / ratio))
    return contain(image, size, (0, 0, 0))


# --------------------------------------------------------------------------- overlays


def watermark(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """A semi-transparent site name, either large across the middle or tiled diagonally,
    sometimes with a round logo."""
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    text = pick(rng, SITES)
    alpha = int(rng.uniform(0.25, 0.5) * 255)
    ink = (255, 255, 255, alpha) if rng.random() < 0.7 else (0, 0, 0, alpha)
    if rng.random() < 0.5:
        face = fit_text(draw, text, assets().text_font, image.width * 0.8, image.height * 0.15)
        box = draw.textbbox((0, 0), text, font=face)
        x = (image.width - (box[2] - box[0])) // 2
        y = int((image.height - (box[3] - box[1])) * rng.uniform(0.3, 0.7))
        draw.text((x, y), text, font=face, fill=ink)
        if rng.random() < 0.5:
            radius = box[3] - box[1]
            draw.ellipse(
                (x - 2.5 * radius, y, x - 0.5 * radius, y + 2 * radius),
                outline=ink,
                width=max(2, int(radius) // 6),
            )
    else:
        face = font(assets().text_font, image.height * rng.uniform(0.04, 0.07))
        step_x, step_y = int(image.width * 0.45), int(image.height * 0.2)
        for row, y in enumerate(range(-step_y, image.height + step_y, step_y)):
            for x in range(-step_x + (row % 2) * step_x // 2, image.width, step_x):
                draw.text((x, y), text, font=face, fill=ink)
        layer = layer.rotate(float(rng.uniform(-30, 30)), Image.Resampling.BICUBIC)
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


def corner_text(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """A caption (user name, date, site) in one corner, on a dark box or with a shadow."""
    result = image.copy()
    draw = ImageDraw.Draw(result, "RGBA")
    text = (
        pick(rng, SITES)
        if rng.random() < 0.5
        else f"{pick(rng, WORDS)} {int(rng.integers(1, 29))}/0{int(rng.integers(1, 10))}"
    )
    face = font(assets().text_font, image.height * rng.uniform(0.04, 0.07))
    box = draw.textbbox((0, 0), text, font=face)
    tw, th = box[2] - box[0], box[3] - box[1]
    margin = int(image.height * 0.02)
    x = margin if rng.random() < 0.5 else image.width - tw - margin
    y = margin if rng.random() < 0.5 else image.height - th - 2 * margin
    if rng.random() < 0.5:
        draw.rectangle(
            (x - margin // 2, y - margin // 2, x + tw + margin // 2, y + th + margin),
            fill=(0, 0, 0, 140),
        )
    else:
        draw.text((x + 2, y + 2), text, font=face, fill=(0, 0, 0, 200))
    draw.text((x, y - box[1]), text, font=face, fill=(255, 255, 255, 255))
    return result


def emoji(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """One to three stickers of 12-25 % of the short side, anywhere (hiding a face...)."""
    result = image.convert("RGBA")
    stickers = assets().emojis
    short = min(image.size)
    for _ in range(int(rng.integers(1, 4))):
        size = int(short * rng.uniform(0.12, 0.25))
        if stickers:
            sticker = Image.open(stickers[int(rng.integers(len(stickers)))]).convert("RGBA")
            sticker = sticker.resize((size, size), Image.Resampling.LANCZOS)
        else:
            sticker = _drawn_sticker(size, rng)
        x = int(rng.integers(0, max(1, image.width - size)))
        y = int(rng.integers(0, max(1, image.height - size)))
        result.alpha_composite(sticker, (x, y))
    return result.convert("RGB")


def _drawn_sticker(size: int, rng: np.random.Generator) -> Image.Image:
    sticker = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(sticker)
    draw.ellipse((0, 0, size - 1, size - 1), fill=(255, 204, 77, 255), outline=(200, 140, 0, 255))
    eye = size // 10
    draw.ellipse(
        (size * 0.3 - eye, size * 0.35 - eye, size * 0.3 + eye, size * 0.35 + eye), fill="black"
    )
    draw.ellipse(
        (size * 0.7 - eye, size * 0.35 - eye, size * 0.7 + eye, size * 0.35 + eye), fill="black"
    )
    draw.arc(
        (size * 0.25, size * 0.4, size * 0.75, size * 0.8),
        20,
        160,
        fill="black",
        width=max(2, eye // 2),
    )
    return sticker


# --------------------------------------------------------------------------- compositions


def screenshot(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """The photo inside an app or browser: AugLy's feed templates or a drawn phone/browser
    frame (status bar, title, text, buttons), then the whole screenshot rescaled."""
    templates = assets().templates
    kinds = [*sorted(templates), "phone", "browser"]
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind in templates:
        path, (x1, y1, x2, y2) = templates[kind]
        shot = Image.open(path).convert("RGB")
        shot.paste(contain(image, (x2 - x1, y2 - y1), (20, 20, 24)), (x1, y1))
    elif kind == "phone":
        shot = _phone_frame(image, rng)
    else:
        shot = _browser_frame(image, rng)
    scale = rng.uniform(0.8, 1.6)
    return shot.resize(
        (int(shot.width * scale), int(shot.height * scale)), Image.Resampling.BILINEAR
    )


def _phone_frame(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = 540, 1170
    dark = rng.random() < 0.5
    bg, fg, grey = (
        ((0, 0, 0), (240, 240, 240), (90, 90, 90))
        if dark
        else ((255, 255, 255), (20, 20, 20), (200, 200, 200))
    )
    shot = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(shot)
    small, title = font(assets().text_font, 22), font(assets().text_font, 30)
    draw.text(
        (24, 14),
        f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}",
        font=small,
        fill=fg,
    )
    draw.rectangle((width - 70, 18, width - 30, 36), outline=fg, width=2)
    draw.rectangle((width - 66, 22, width - 66 + int(rng.integers(5, 33)), 32), fill=fg)
    draw.text((24, 70), pick(rng, ("Photos", "Feed", "Chat", "Gallery")), font=title, fill=fg)
    draw.ellipse((24, 130, 84, 190), fill=grey)
    draw.text((100, 140), pick(rng, SITES), font=small, fill=fg)
    top = 210
    photo = contain(image, (width, int(width * rng.uniform(0.75, 1.25))), bg)
    shot.paste(photo, (0, top))
    y = top + photo.height + 20
    for x in (24, 94, 164):
        draw.ellipse((x, y, x + 40, y + 40), outline=fg, width=3)
    for line in range(4):
        draw.text((24, y + 60 + 36 * line), pick(rng, WORDS), font=small, fill=fg)
    draw.rectangle((0, height - 90, width, height), fill=grey)
    for x in range(60, width, 110):
        draw.rectangle((x, height - 60, x + 30, height - 30), outline=fg, width=3)
    return shot


def _browser_frame(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = 1280, 860
    shot = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(shot)
    small = font(assets().text_font, 18)
    draw.rectangle((0, 0, width, 40), fill=(222, 225, 230))
    draw.rounded_rectangle((12, 6, 240, 40), 8, fill=(250, 250, 250))
    draw.text((24, 14), pick(rng, WORDS)[:20], font=small, fill=(30, 30, 30))
    draw.rectangle((0, 40, width, 84), fill=(245, 245, 245))
    draw.rounded_rectangle((120, 48, width - 120, 78), 14, fill=(230, 232, 236))
    draw.text(
        (140, 52),
        "https://" + pick(rng, SITES).strip("@© ").replace(" ", ""),
        font=small,
        fill=(60, 60, 60),
    )
    for x in (20, 50, 80):
        draw.ellipse((x, 54, x + 16, 70), fill=(150, 150, 150))
    draw.rectangle((0, 84, 220, height), fill=(236, 238, 242))
    for line in range(10):
        draw.text((20, 110 + 40 * line), pick(rng, WORDS), font=small, fill=(70, 70, 90))
    photo = contain(image, (int(width * rng.uniform(0.45, 0.6)), 560), (250, 250, 250))
    shot.paste(photo, (260, 110))
    for line in range(3):
        draw.text(
            (260, 690 + 34 * line),
            pick(rng, WORDS) + " " + pick(rng, WORDS),
            font=small,
            fill=(40, 40, 40),
        )
    return shot


def meme(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """Caption bands above, below or both, with big text; the picture maybe resized."""
    scale = rng.uniform(0.85, 1.15)
    picture = image.resize(
        (int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS
    )
    band = int(picture.height * rng.uniform(0.12, 0.22))
    where = ("top", "bottom", "both")[int(rng.integers(3))]
    bg, ink = ((255, 255, 255), (0, 0, 0)) if rng.random() < 0.7 else ((0, 0, 0), (255, 255, 255))
    top = band if where in ("top", "both") else 0
    bottom = band if where in ("bottom", "both") else 0
    result = Image.new("RGB", (picture.width, picture.height + top + bottom), bg)
    result.paste(picture, (0, top))
    draw = ImageDraw.Draw(result)
    for y0, present in ((0, top), (top + picture.height, bottom)):
        if present:
            text = pick(rng, WORDS).upper()
            face = fit_text(draw, text, assets().meme_font, picture.width * 0.92, band * 0.75)
            box = draw.textbbox((0, 0), text, font=face)
            draw.text(
                (
                    (picture.width - (box[2] - box[0])) // 2 - box[0],
                    y0 + (band - (box[3] - box[1])) // 2 - box[1],
                ),
                text,
                font=face,
                fill=ink,
            )
    return result


def collage(
    image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    """A 2x2 grid or a row of three: this photo and other photos of the set, with gutters."""
    if rng.random() < 0.5:
        columns, rows, cell = 2, 2, (image.width // 2, image.height // 2)
    else:
        columns, rows, cell = (
            3,
            1,
            (image.width // 3, int(image.width // 3 * rng.uniform(1.0, 1.4))),
        )
    gutter = max(2, image.width // 100)
    count = columns * rows
    own = int(rng.integers(count))
    tiles = [
        image if index == own else others[(index - (index > own)) % len(others)]
        for index in range(count)
    ]
    sheet = Image.new(
        "RGB",
        (columns * cell[0] + (columns + 1) * gutter, rows * cell[1] + (rows + 1) * gutter),
        (255, 255, 255),
    )
    for index, tile in enumerate(tiles):
        column, row = index % columns, index // columns
        sheet.paste(
            cover(tile, cell),
            (gutter + column * (cell[0] + gutter), gutter + row * (cell[1] + gutter)),
        )
    return sheet


#: Every family, in report order. ``collage`` needs 3 other photos.
FAMILIES: dict[str, Transform] = {
    "recompress": recompress,
    "rescale_0.5": rescale_half,
    "rescale_2": rescale_double,
    "colour": colour,
    "brightness_+30": brightness_up,
    "brightness_-30": brightness_down,
    "blur": blur,
    "noise": noise,
    "greyscale": greyscale,
    "crop": crop,
    "flip_h": flip_h,
    "rotate90": rotate90,
    "rotate180": rotate180,
    "rotate270": rotate270,
    "small_rotation": small_rotation,
    "pad": pad,
    "letterbox": letterbox,
    "watermark": watermark,
    "corner_text": corner_text,
    "emoji": emoji,
    "screenshot": screenshot,
    "meme": meme,
    "collage": collage,
}
OTHERS_NEEDED = 3


def apply(
    name: str, image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image]
) -> Image.Image:
    return FAMILIES[name](image, rng, others).convert("RGB")


def family_rng(seed: int, photo: int, family: str) -> np.random.Generator:
    """The generator for one photo and one family: independent of run order and --jobs."""
    return np.random.default_rng([seed, photo, list(FAMILIES).index(family)])
