"""Safe loading of images a user gave us: size, pixel count and format checked before decoding.

Every place that opens a user-supplied image goes through `load_image`, so a decompression bomb,
a truncated or corrupt file, or a file that is not an image gets one clear sentence (InputError)
instead of a traceback, a frozen worker or an out-of-memory kill.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from aiuteur.domain import InputError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # e.g. 8000 × 5000; bigger is refused before decoding
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
HINT = "upload a PNG, JPEG or WebP"


def load_image(source: bytes | bytearray | str | Path, *, name: str = "", max_pixels: int = MAX_IMAGE_PIXELS,
               max_bytes: int = MAX_IMAGE_BYTES) -> Image.Image:
    """Decode `source` (bytes or a path) into a fully loaded PIL image.

    Raises:
        InputError: the file is too large, has too many pixels, is truncated or corrupt, or is not an image.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        name = name or path.name
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise InputError(f"{name} is {size / 1_048_576:.1f} MB; images up to "
                                 f"{max_bytes / 1_048_576:.0f} MB can be used.")
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"{name} could not be read ({e.strerror or type(e).__name__}).") from None
    else:
        data = bytes(source)
    name = name or "The image"
    if len(data) > max_bytes:
        raise InputError(f"{name} is {len(data) / 1_048_576:.1f} MB; images up to "
                         f"{max_bytes / 1_048_576:.0f} MB can be used.")
    if not data:
        raise InputError(f"{name} is empty; {HINT}.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise InputError(f"{name} is {width} × {height} pixels, too large to open safely "
                                 f"(at most {max_pixels:,} pixels); scale it down first.")
            image.load()
        except InputError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(f"{name} claims too many pixels to open safely (a decompression bomb?); "
                             f"{HINT} of normal size.") from None
        except UnidentifiedImageError:
            raise InputError(f"{name} is not an image; {HINT}.") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as e:
            raise InputError(f"{name} is truncated or corrupt ({e}); {HINT}.") from None
    return image

