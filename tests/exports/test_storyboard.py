"""The storyboard board: a framed grid, six panels a page, each with shot, frames, size, camera,
action, dialogue and duration."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from pypdf import PdfReader

from aiuteur.domain import Clips, Frames, Scene, Shot
from aiuteur.domain.artifacts import ElementKind, Frame, ScriptElement
from aiuteur.exports.material import SceneMaterial
from aiuteur.exports.storyboard import storyboard_pdf


def _material(tmp_path: Path, shots: int, *, with_end: int = 0, without_frame: int = -1) -> tuple[SceneMaterial, dict[str, Path]]:
    files: dict[str, Path] = {}
    for i, color in enumerate(("red", "navy")):
        path = tmp_path / f"k{i}.png"
        Image.new("RGB", (160, 90), color).save(path)
        files[f"k{i}"] = path
    scene = Scene(number="3", heading="INT. LIGHTHOUSE - NIGHT", elements=[
        ScriptElement(kind=ElementKind.DIALOGUE, character="ADA", text=f"Line {i}, steady now.") for i in range(shots)
    ])
    plan = [Shot(number=f"{i + 1}A", size="close-up" if i % 2 else "wide", angle="low angle", lens="50mm",
                 movement="dolly in", action=f"Ada climbs step {i}. " * (1 + i % 3), dialogue=[i],
                 duration_s=2.5 + i % 5) for i in range(shots)]
    frames = [Frame(shot_id=s.id, which="start", image="k0") for i, s in enumerate(plan) if i != without_frame]
    frames += [Frame(shot_id=s.id, which="end", image="k1") for s in plan[:with_end]]
    return SceneMaterial(scene=scene, shots=plan, frames=Frames(frames=frames), clips=Clips()), files


def test_every_panel_carries_shot_frames_size_camera_action_dialogue_and_duration(tmp_path: Path) -> None:
    material, files = _material(tmp_path, 7, with_end=2, without_frame=6)
    pdf = storyboard_pdf("The Lamp Keeper", [material], lambda key: files[key])
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == 2  # six panels a page
    text = [page.extract_text() for page in pages]
    for i, shot in enumerate(material.shots):
        page = text[i // 6]
        assert f"SHOT {shot.number}" in page and f"{shot.duration_s:g} s" in page
        assert f"{shot.size}  |  low angle, 50mm, dolly in" in page
        assert f"Action: Ada climbs step {i}." in page
        assert f"ADA: Line {i}, steady now." in page
    assert "no frame yet" in text[1]  # the seventh shot has no frame: its panel still reads
    assert "Scene 3: INT. LIGHTHOUSE - NIGHT" in text[0]
    # start and end frames side by side on the first two panels: 6 + 2 images on page 1, none drawn for shot 7
    draws = [page.get_contents().get_data().count(b" Do") for page in pages]
    assert draws == [8, 0]


def test_a_long_action_is_cut_inside_its_panel(tmp_path: Path) -> None:
    material, files = _material(tmp_path, 1)
    long = material.shots[0].model_copy(update={"action": "The sea rises and falls. " * 60})
    material = SceneMaterial(scene=material.scene, shots=[long], frames=material.frames, clips=material.clips)
    text = PdfReader(io.BytesIO(storyboard_pdf("T", [material], lambda key: files[key]))).pages[0].extract_text()
    assert "..." in text and text.count("The sea rises") < 20
    assert "ADA: Line 0, steady now." in text  # dialogue keeps its room


def test_no_frames_no_board(tmp_path: Path) -> None:
    material, files = _material(tmp_path, 2, without_frame=0)
    bare = SceneMaterial(scene=material.scene, shots=material.shots, frames=Frames(), clips=Clips())
    assert storyboard_pdf("T", [bare], lambda key: files[key]) == b""


def test_the_board_and_the_shot_list_print_any_alphabet_in_embedded_fonts(tmp_path: Path) -> None:
    """Greek, Cyrillic and CJK in the action and heading print as written (Liberation Sans with the
    CJK font as fallback), not as '?' as in the built-in Helvetica."""
    from aiuteur.exports.shotlist import COLUMNS, shot_list_pdf

    material, files = _material(tmp_path, 1)
    shot = material.shots[0].model_copy(update={"action": "Η Ελένη ανάβει τη λάμπα. Анна ждёт. 雨が降る。"})
    scene = material.scene.model_copy(update={"heading": "ΕΣΩΤ. ΦΑΡΟΣ - ΝΥΧΤΑ"})
    material = SceneMaterial(scene=scene, shots=[shot], frames=material.frames, clips=material.clips)
    board = PdfReader(io.BytesIO(storyboard_pdf("Φάρος", [material], lambda key: files[key]))).pages[0]
    text = board.extract_text()
    assert "Scene 3: ΕΣΩΤ. ΦΑΡΟΣ - ΝΥΧΤΑ" in text and "Ελένη" in text and "Анна" in text and "雨が降る" in text
    assert "?" not in text
    fonts = {str(f["/BaseFont"]).split("+")[-1] for f in board["/Resources"]["/Font"].values()}
    assert {"LiberationSans", "WenQuanYiMicroHei"} <= fonts
    row = ["1", "1A", "wide", "low", "50mm", "2.5", "", "Анна ждёт. 雨が降る。", "", ""][: len(COLUMNS)]
    listed = PdfReader(io.BytesIO(shot_list_pdf("Φάρος", [row]))).pages[0].extract_text()
    assert "Φάρος - shot list" in listed and "Анна ждёт." in listed and "雨が降る" in listed
