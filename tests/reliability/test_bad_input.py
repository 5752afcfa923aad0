"""Bad input gets one clear sentence, nothing is written, and the next request still works."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from aiuteur.domain import AiuteurError, InputError, Stage, StoryInput
from aiuteur.pipeline.images_in import load_image
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.text_in import clean_text
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.input_tab import MAX_UPLOAD_BYTES, read_upload


def png(w: int = 8, h: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w × h pixels, with one tiny compressed row: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def snapshot(store: Store) -> dict[str, bytes]:
    """Every file under the data folder (bar locks), to prove nothing was written."""
    return {p.relative_to(store.root).as_posix(): p.read_bytes() for p in sorted(store.root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(Store(DataHome(tmp_path / "home", "test")))


# --- images ------------------------------------------------------------------------------------

IMAGE_CASES: dict[str, tuple[bytes, str]] = {
    "decompression bomb (60000 × 60000 header)": (png_header_only(60000, 60000), "to open safely"),
    "bomb under PIL's own limit (9000 × 9000 header)": (png_header_only(9000, 9000), "too large to open safely"),
    "truncated PNG": (png(64, 64)[:120], "truncated or corrupt"),
    "corrupt PNG (bytes flipped)": (png(64, 64)[:60] + b"\xff" * 40 + png(64, 64)[100:], "truncated or corrupt"),
    "a text file named .png": (b"hello, I am not an image\n" * 10, "is not an image"),
    "empty file": (b"", "is empty"),
}


@pytest.mark.parametrize("case", list(IMAGE_CASES))
def test_bad_images_get_one_clear_sentence(case: str) -> None:
    data, words = IMAGE_CASES[case]
    with pytest.raises(InputError) as e:
        load_image(data, name="ref.png")
    msg = str(e.value)
    assert words in msg and "\n" not in msg and msg.startswith("ref.png")


def test_an_image_over_the_byte_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(png() + b"\x00" * 2048)
    with pytest.raises(InputError, match="images up to 0 MB"):
        load_image(path, max_bytes=1024)
    assert load_image(png(), max_pixels=64).size == (8, 8)
    with pytest.raises(InputError, match="too large to open safely"):
        load_image(png(9, 9), max_pixels=64)


def test_pil_bomb_limit_is_also_turned_into_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # PIL's own guard fires before ours
    with pytest.raises(InputError, match="decompression bomb"):
        load_image(png(16, 16), max_pixels=10**9)


def test_no_user_image_is_opened_without_the_safe_loader() -> None:
    """Every Image.open on user-supplied bytes goes through images_in (frames/video: see reliability.md)."""
    root = Path(__file__).parents[2] / "aiuteur"
    offenders = [f"{p.relative_to(root)}" for p in root.rglob("*.py")
                 if "Image.open(" in p.read_text() and p.name not in {"images_in.py", "animatic.py", "frames.py", "video.py"}]
    assert offenders == []


def test_upload_reference_with_a_bomb_writes_nothing(runner: Runner) -> None:
    from aiuteur.domain import Asset, AssetCategory
    from aiuteur.pipeline.assets import upload_reference

    put: list[bytes] = []

    def put_media(data: bytes, ext: str) -> str:
        put.append(data)
        return "k"

    with pytest.raises(InputError, match="too large to open safely"):
        upload_reference(Asset(name="Eve", category=AssetCategory.CHARACTER), png_header_only(9000, 9000),
                         engines=None, put_media=put_media)
    assert put == []


# --- text files ----------------------------------------------------------------------------------

TEXT_CASES: dict[str, tuple[str, bytes, str]] = {
    "binary posing as .txt (NUL bytes)": ("story.txt", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4,
                                         "so it is not a text file"),
    "binary posing as .md (control bytes, no NUL)": ("notes.md", bytes(range(1, 32)) * 200,
                                                    "does not read as text"),
    "PDF that fails to parse": ("script.pdf", b"%PDF-1.7\n1 0 obj <</Type /Catalog>>\ngarbage", "script.pdf"),
    "malformed FDX": ("script.fdx", b"<FinalDraft><Content><Paragraph Type='Action'>", "script.fdx"),
    "FDX with entity expansion": ("bomb.fdx", b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                                  b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><FinalDraft>&b;</FinalDraft>',
                                  "bomb.fdx"),
    "FDX with an external entity": ("xxe.fdx", b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM '
                                    b'"file:///etc/passwd">]><FinalDraft><Content><Paragraph Type="Action"><Text>'
                                    b'&x;</Text></Paragraph></Content></FinalDraft>', "xxe.fdx"),
}


@pytest.mark.parametrize("case", list(TEXT_CASES))
def test_bad_text_uploads_get_one_clear_sentence(case: str, tmp_path: Path) -> None:
    name, data, words = TEXT_CASES[case]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(AiuteurError) as e:
        read_upload(path, screenplay=True)
    msg = str(e.value)
    assert words in msg and "\n" not in msg.strip()
    assert "root:" not in msg


def test_an_upload_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: no 20 MB written to disk
    with pytest.raises(InputError, match=r"huge.txt is 20.0 MB; files up to 20 MB can be read."):
        read_upload(path)


# --- text fields -----------------------------------------------------------------------------------

def test_control_characters_and_ansi_escapes_are_stripped(runner: Runner) -> None:
    p = runner.create_project("Eggs\x00 at\x1b[31m dawn\x07\nagain")
    assert p.title == "Eggs at dawn again"
    rec = runner.save(p.id, Stage.INPUT, {"mode": "expand", "brief": {"plot": "A\x00B\x1b]0;pwned\x07C\x1b[2J\tD\r\nE"}})
    assert rec.data["brief"]["plot"] == "ABC\tD\r\nE"


def test_invalid_unicode_is_refused_and_nothing_written(runner: Runner) -> None:
    p = runner.create_project("Unicode")
    before = snapshot(runner.store)
    with pytest.raises(InputError, match=r"^Input: brief.plot contains invalid Unicode \(U\+D800 at character 3\)"):
        runner.save(p.id, Stage.INPUT, {"brief": {"plot": "ab\ud800cd"}})
    with pytest.raises(InputError, match="invalid Unicode"):
        runner.rename_project(p.id, "x\udfffy")
    assert snapshot(runner.store) == before


@pytest.mark.parametrize("where", ["title", "brief", "source", "tone"])
def test_enormous_text_fields_are_refused_and_nothing_written(runner: Runner, where: str) -> None:
    p = runner.create_project("Big")
    runner.save(p.id, Stage.INPUT, {"mode": "expand"})
    before = snapshot(runner.store)
    five_mb = "x" * 5_000_000
    with pytest.raises(InputError) as e:
        if where == "title":
            runner.rename_project(p.id, five_mb)
        elif where == "brief":
            runner.save(p.id, Stage.INPUT, {"brief": {"plot": five_mb}})
        elif where == "source":
            runner.save(p.id, Stage.INPUT, {"sources": [{"text": "y" * 2_000_001}]})
        else:
            runner.save(p.id, Stage.INPUT, {"params": {"tone": "z" * 2001}})
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 200 and ("characters long" in msg or "at most 2000 characters" in msg)
    assert snapshot(runner.store) == before
    assert runner.save(p.id, Stage.INPUT, {"mode": "condense"}).revision == 2  # still serving


def test_clean_text_leaves_ordinary_text_alone() -> None:
    text = "INT. KITCHEN — NIGHT\n\tÉve: « Bonjour » 🥚\r\n"
    assert clean_text(text, "x") == text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
input_keys = st.sampled_from(["mode", "sources", "brief", "params", "transform_target", "story_rules",
                              "written_style_capsule", "plot", "text", "role", "min_minutes", "genres"])
story_like = st.dictionaries(input_keys | st.text(max_size=8), json_values, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=story_like)
def test_fuzzed_input_saves_raise_only_input_errors(runner: Runner, data: dict[str, Any]) -> None:
    pid = runner.list_projects()[0].id if runner.list_projects() else runner.create_project("Fuzz").id
    try:
        rec = runner.save(pid, Stage.INPUT, data)
    except AiuteurError as e:
        assert isinstance(e, InputError), repr(e)
        assert str(e) and "\n" not in str(e)
    else:
        StoryInput.model_validate(rec.data)
        json.dumps(rec.data).encode("utf-8")  # storable as UTF-8
