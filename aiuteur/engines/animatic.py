"""The animatic: keyframes held for each shot's duration, dissolving into each other, with the
dialogue burned in, encoded to mp4 by the ffmpeg binary that imageio-ffmpeg ships.

It needs no video model, so every profile has it. A shot with an end keyframe dissolves from its
start frame to its end frame over its own length; between shots a crossfade of `crossfade_s`
is centred on the cut (shortened for very short shots), so the film lasts exactly the sum of the
shot durations and has round(total × fps) frames.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from aiuteur.engines.base import EngineError, ProgressFn


@dataclass(frozen=True)
class AnimaticShot:
    """One shot of the animatic: its keyframe(s), how long it lasts and its dialogue."""

    start: Image.Image | Path
    duration_s: float
    end: Image.Image | Path | None = None  # when set, the shot dissolves from start to end
    caption: str = ""  # dialogue, burned in at the bottom of the frame


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise EngineError("Writing video needs `pip install imageio-ffmpeg` (it bundles ffmpeg).") from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def probe(path: Path) -> tuple[int, float]:
    """(frame count, duration in seconds) of a video file, read by decoding it."""
    import imageio_ffmpeg

    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    return int(frames), float(seconds)


_VIDEO_STREAM = re.compile(r"Stream #\S+.*?: Video: (?P<rest>.*)")
_SIZE = re.compile(r"\b(\d{1,5})x(\d{1,5})\b")
_RATE = re.compile(r"([\d.]+) (?:fps|tbr)\b")


def video_meta(path: Path) -> tuple[tuple[int, int], float | None]:
    """(width, height) and frame rate of a video file's first video stream, from ffmpeg's header.

    Runs ffmpeg to the end instead of reading its header from a live pipe with a fixed wait
    (imageio-ffmpeg's reader gives up after 10 s, which a busy machine can take to start ffmpeg).
    """
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True, errors="replace", timeout=600, check=False)
    stream = _VIDEO_STREAM.search(done.stderr)
    size = _SIZE.search(stream.group("rest")) if stream else None
    if stream is None or size is None:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise EngineError(f"Cannot read the video {path}: {tail[0]}")
    rate = _RATE.search(stream.group("rest"))
    return (int(size.group(1)), int(size.group(2))), (float(rate.group(1)) if rate else None)


def read_rgb_frames(path: Path) -> tuple[tuple[int, int], list[bytes]]:
    """Every frame of a video as packed RGB bytes, with the frame size, decoded by ffmpeg in one run."""
    (w, h), _ = video_meta(path)
    done = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f", "rawvideo",
                           "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=600, check=False)
    if done.returncode != 0:
        raise EngineError(f"Cannot decode the video {path}: {done.stderr.decode(errors='replace')[-300:]}")
    step = w * h * 3
    return (w, h), [done.stdout[i:i + step] for i in range(0, len(done.stdout) - step + 1, step)]


def _load(image: Image.Image | Path) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    try:
        with Image.open(image) as im:
            return im.convert("RGB")
    except OSError as exc:
        raise EngineError(f"Cannot read the keyframe {image}: {exc}") from exc


def _fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale to fit inside `size` and pad with black (letterbox), keeping the aspect ratio."""
    if image.size == size:
        return image
    scale = min(size[0] / image.width, size[1] / image.height)
    w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(image.resize((w, h), Image.Resampling.LANCZOS), ((size[0] - w) // 2, (size[1] - h) // 2))
    return canvas


def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=px)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def burn_caption(frame: Image.Image, caption: str) -> Image.Image:
    """Draw `caption` in white on a dark band at the bottom of `frame` (a new image)."""
    if not caption.strip():
        return frame
    out = frame.copy()
    w, h = out.size
    px = max(10, h // 20)
    font = _font(px)
    chars = max(12, int(w / (px * 0.55)))
    lines = [line for para in caption.splitlines() for line in textwrap.wrap(para, chars) or [""]]
    line_h = int(px * 1.3)
    band_h = line_h * len(lines) + px
    band = Image.new("RGBA", (w, band_h), (0, 0, 0, 160))
    out.paste(band, (0, h - band_h), band)
    draw = ImageDraw.Draw(out)
    y = h - band_h + px // 2
    for line in lines:
        tw = draw.textlength(line, font=font)
        draw.text(((w - tw) / 2, y), line, fill=(255, 255, 255), font=font)
        y += line_h
    return out


def _even(size: tuple[int, int]) -> tuple[int, int]:
    return (size[0] - size[0] % 2, size[1] - size[1] % 2)  # yuv420p needs even sides


def write_animatic(
    frames: Sequence[AnimaticShot],
    out_path: Path,
    fps: int = 24,
    crossfade_s: float = 0.5,
    size: tuple[int, int] | None = None,
    *,
    progress: ProgressFn | None = None,
) -> Path:
    """Write the animatic of `frames` (one AnimaticShot per shot) to an h264 mp4 and return its path.

    Args:
        frames: the shots in order.
        out_path: the mp4 to write (parent folders are created).
        fps: frames per second.
        crossfade_s: length of the dissolve between consecutive shots (0 for hard cuts).
        size: (width, height) of the video; default the first keyframe's size. Keyframes of another
            shape are letterboxed.
    Raises:
        EngineError: no shots, a shot without a positive duration, or ffmpeg failing.
    """
    if not frames:
        raise EngineError("The animatic has no shots; make at least one keyframe first.")
    for i, shot in enumerate(frames, 1):
        if shot.duration_s <= 0:
            raise EngineError(f"Shot {i} lasts {shot.duration_s} s; a shot needs a positive duration.")
    if fps <= 0:
        raise EngineError(f"fps must be positive; got {fps}.")
    starts = [_load(s.start) for s in frames]
    size = _even(size or starts[0].size)
    if size[0] < 2 or size[1] < 2:
        raise EngineError(f"The animatic size {size} is too small.")
    starts = [_fit(im, size) for im in starts]
    ends = [_fit(_load(s.end), size) if s.end is not None else None for s in frames]
    bounds = [0.0]
    for shot in frames:
        bounds.append(bounds[-1] + shot.duration_s)
    total = round(bounds[-1] * fps)

    def shot_frame(i: int, t: float) -> Image.Image:
        end = ends[i]
        if end is None:
            return starts[i]
        return Image.blend(starts[i], end, min(1.0, max(0.0, (t - bounds[i]) / frames[i].duration_s)))

    def half_fade(i: int) -> float:  # half the crossfade at the cut after shot i
        return min(crossfade_s / 2, frames[i].duration_s / 2, frames[i + 1].duration_s / 2)

    def images() -> Iterator[Image.Image]:
        i = 0
        for k in range(total):
            t = (k + 0.5) / fps  # the middle of the frame's time span
            while i < len(frames) - 1 and t >= bounds[i + 1]:
                i += 1
            image = shot_frame(i, t)
            if i + 1 < len(frames) and crossfade_s > 0:
                h = half_fade(i)
                if t >= bounds[i + 1] - h:
                    image = Image.blend(image, starts[i + 1], (t - (bounds[i + 1] - h)) / (2 * h))
            if i > 0 and crossfade_s > 0:
                h = half_fade(i - 1)
                if t < bounds[i] + h:
                    image = Image.blend(shot_frame(i - 1, t), image, (t - (bounds[i] - h)) / (2 * h))
            yield burn_caption(image, frames[i].caption)
            if progress is not None and (k % fps == 0 or k == total - 1):
                progress((k + 1) / total, f"animatic frame {k + 1} of {total}")

    return encode_frames(images(), out_path, fps=fps, size=size)


def encode_frames(
    images: Iterable[Image.Image], out_path: Path, *, fps: int, size: tuple[int, int] | None = None
) -> Path:
    """Encode RGB frames to an h264/yuv420p mp4 with the bundled ffmpeg; frames are letterboxed to `size`.

    Raises:
        EngineError: no frames, or ffmpeg failing.
    """
    it = iter(images)
    first = next(it, None)
    if first is None:
        raise EngineError(f"No frames to write to {out_path}.")
    size = _even(size or first.size)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
        "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", "-", "-an", "-c:v", "libx264",
        "-pix_fmt", "yuv420p", "-preset", "veryfast", "-movflags", "+faststart", str(out_path),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for image in itertools.chain([first], it):
            proc.stdin.write(_fit(image.convert("RGB"), size).tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    except BaseException:
        proc.kill()
        raise
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise EngineError(f"ffmpeg could not write {out_path}: {err.strip()[-300:]}")
    return out_path


def concat_clips(paths: Sequence[Path], out_path: Path, *, fps: int | None = None) -> Path:
    """Join clips end to end into one mp4 (a scene cut), re-encoded to the first clip's size and fps.

    Raises:
        EngineError: no clips, a missing clip, or ffmpeg failing.
    """
    if not paths:
        raise EngineError("There are no clips to join.")
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise EngineError(f"Cannot join clips; missing: {', '.join(missing)}")
    size, first_rate = video_meta(Path(paths[0]))
    w, h = _even(size)
    rate = fps or round(first_rate or 24)
    from aiuteur.engines.soundtrack import has_audio

    sound = all(has_audio(Path(p)) for p in paths)  # clips from a video model with audio keep it
    inputs: list[str] = []
    chains = []
    for n, p in enumerate(paths):
        inputs += ["-i", str(p)]
        chains.append(
            f"[{n}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={rate},format=yuv420p[v{n}]"
        )
        if sound:
            chains.append(f"[{n}:a]aresample=48000,aformat=channel_layouts=stereo[a{n}]")
    pads = "".join(f"[v{n}][a{n}]" if sound else f"[v{n}]" for n in range(len(paths)))
    graph = ";".join(chains) + ";" + pads
    graph += f"concat=n={len(paths)}:v=1:a={int(sound)}[out]" + ("[aout]" if sound else "")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        ffmpeg_exe(), "-y", "-loglevel", "error", *inputs, "-filter_complex", graph, "-map", "[out]",
        *(["-map", "[aout]", "-c:a", "aac"] if sound else []),
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-movflags", "+faststart",
        str(out_path),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise EngineError(f"ffmpeg could not join the clips into {out_path}: {done.stderr.strip()[-300:]}")
    return out_path
