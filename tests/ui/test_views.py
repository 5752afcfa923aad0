"""Pure formatting: colours only from STATUS_COLOURS, a complete legend, plain card labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiuteur.domain import STAGE_ORDER, Folder, ProjectSummary, Stage, Status
from aiuteur.domain.stages import STATUS_COLOURS, STATUS_MEANINGS
from aiuteur.ui import views

HEX = re.compile(r"#[0-9a-fA-F]{6}")


def test_pipeline_colours_come_only_from_status_colours() -> None:
    statuses = {s: list(Status)[i % len(Status)] for i, s in enumerate(STAGE_ORDER)}
    html = views.pipeline_html(statuses, Stage.BEATS, scene_count=4)
    used = {c.lower() for c in HEX.findall(html)}
    assert used, "the graphic draws with colours"
    assert used <= {c.lower() for c in STATUS_COLOURS.values()}
    for stage, status in statuses.items():
        assert f'data-stage="{stage.value}" data-status="{status.value}"' in html


def test_per_scene_chip_agrees_with_the_scene_bar_and_counts_finished_scenes_in_words() -> None:
    statuses = dict.fromkeys(STAGE_ORDER, Status.EMPTY) | {Stage.SHOTS: Status.DRAFT}
    done = {Stage.SHOTS: 1}
    html = views.pipeline_html(statuses, None, scene_statuses={Stage.SHOTS: Status.LOCKED},
                               scene_label="Scene 2", scene_count=3, scenes_done=done)
    assert 'data-stage="shots" data-status="locked"' in html  # the chosen scene's own status, as its bar
    assert "Scene 2 · 1 of 3 scenes done" in html
    film = views.pipeline_html(statuses, None, scene_count=3, scenes_done=done)
    assert 'data-stage="shots" data-status="draft"' in film and "1 of 3 scenes done" in film
    assert "1 scenes" not in views.pipeline_html(statuses, None, scene_count=1, scenes_done=done)


def test_legend_names_every_status_with_its_colour_and_meaning() -> None:
    html = views.legend_html()
    for status in Status:
        assert STATUS_COLOURS[status] in html
        assert STATUS_MEANINGS[status] in html
        assert f"<b>{status.value}</b>" in html


def test_css_and_overlay_use_the_locked_colour() -> None:
    locked = STATUS_COLOURS[Status.LOCKED]
    assert locked in views.css()
    assert {c.lower() for c in HEX.findall(views.lock_overlay_html(Stage.BEATS))} == {locked.lower()}


def test_card_shows_scene_and_stage_in_phase_b() -> None:
    card = ProjectSummary(id="pr_1", title="Eggs <b>", stage=Stage.FRAMES, scene_label="Scene 3 · Stage 10",
                          updated_at="2026-01-01T10:00:00+00:00", folder_id="fd_1")
    html = views.cards_html([card], [Folder(id="fd_1", name="Shorts")],
                            now=datetime(2026, 1, 1, 10, 5, tzinfo=UTC))
    assert "Scene 3 · Stage 10" in html and "5 min ago" in html and "Shorts" in html
    assert "Eggs &lt;b&gt;" in html  # titles are escaped
    assert views.card_label(card.model_copy(update={"scene_label": ""})) == "Stage 10 · Frames"


def test_empty_dashboard_and_empty_search_say_so() -> None:
    assert "Create one" in views.cards_html([], [])
    assert "No project title contains “zz”" in views.cards_html([], [], search="zz")


def test_folder_filter() -> None:
    a = ProjectSummary(id="pr_a", title="A", folder_id="fd_1")
    b = ProjectSummary(id="pr_b", title="B")
    assert views.filter_cards([a, b], views.NO_FOLDER) == [b]
    assert views.filter_cards([a, b], "fd_1") == [a]
    assert views.filter_cards([a, b], views.ALL_FOLDERS) == [a, b]


def test_header_warns_about_storage_and_noise_on_tiny() -> None:
    text = views.header_markdown("tiny", "AIUTEUR_PROFILE=tiny is set", "No persistent storage.", "/data")
    assert text.splitlines()[0].startswith("**Aiuteur** · profile: **tiny**")  # one line; why in its tooltip
    assert 'title="AIUTEUR_PROFILE=tiny is set · Data folder: /data"' in text
    assert "No persistent storage." in text and "noise" in text
    assert "noise" not in views.header_markdown("studio", "GPU found")


def test_status_text_is_one_plain_line() -> None:
    assert views.status_text(Stage.BEATS, Status.DONE) == "**Stage 3 · Beat sheet** — done: finished, not locked"


def test_the_stop_button_cancels_every_model_job(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Long model work can be cancelled: one Stop button is wired to every GPU-queued event."""
    from aiuteur.settings import DataHome
    from aiuteur.store import Store
    from aiuteur.ui.app import build_app, gpu_events

    demo = build_app(Store(DataHome(tmp_path / "home", "t")))
    gpu = gpu_events(demo)
    assert len(gpu) >= 10  # every stage's generate buttons and the client API's model endpoints
    config = demo.get_config_file()
    stops = [d for d in config["dependencies"] if d.get("cancels")]
    assert stops and set(stops[0]["cancels"]) >= {i for i, fn in demo.fns.items() if fn.get_config() in gpu}
