"""A scene's own style reaches its images, through the running app: the filmmaker switches scene 1
to another capsule in the style panel, builds that scene's prompts and makes its keyframes; scene 1's
keyframes are asked for in the capsule's words and with its style image, scene 2's keep the film's."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from aiuteur.domain import Prompts, Stage
from aiuteur.engines.base import ImageRequest
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.visual_style import create_capsule
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.clients import patient_client
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, film_stages
from tests.pipeline.phase_b_fixtures import FakeMatting
from tests.serving import serve


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_a_scenes_own_style_reaches_its_keyframes_and_the_other_scene_keeps_the_films(tmp_path: Path) -> None:
    store = Store(DataHome(tmp_path, "test"))
    image = FakeImage()  # one painter for every event, so its requests can be read after

    def engines() -> FakeEngines:
        return FakeEngines(text=DownText(), image=image, matting=FakeMatting(), embedding=FakeEmbedding())

    runner = Runner(store, engines=engines())
    clay_image = runner.put_media(_png((10, 200, 90)), "png")
    clay = create_capsule("Clay", medium="claymation stop-motion", look="thumbprinted plasticine",
                          images=[clay_image], library=runner.capsules)
    demo = build_app(store, engines_factory=engines)
    with serve(demo, allowed_paths=[str(store.home.media)], **launch_kwargs()) as url:
        client = patient_client(url)  # a busy machine answers slowly
        client.predict("The Lamp Keeper", "", "__all__", api_name="/dashboard_create_project")
        pid = next(p["id"] for p in client.predict("", api_name="/project_list") if p["title"] == "The Lamp Keeper")
        script = film_stages(runner, pid)  # stages 1-9; the film's style is painted animation, soft gouache
        one, two = (s.id for s in script.scenes)
        film_image = runner.view(pid).data(Stage.ASSETS)["style"]["images"][0]  # type: ignore[index]

        client.predict(pid, api_name="/open_project")
        client.predict(one, clay.id, api_name="/scene_style")  # the style panel: scene 1 switches
        assert runner.view(pid).data(Stage.ASSETS)["style"]["scene_overrides"] == {one: clay.id}  # type: ignore[index]

        made: dict[str, list[ImageRequest]] = {}
        for sid in (one, two):
            client.predict(sid, api_name="/choose_scene")
            client.predict(None, api_name="/prompts_build")
            before = len(image.requests)
            client.predict(None, 1, "", api_name="/frames_generate")
            made[sid] = image.requests[before:]
            assert made[sid], f"no keyframe was made for {sid}"

        # the prompts say the scene's style (or that the 77-token budget left it out), never the other one
        for sid, words, other in ((one, "claymation stop-motion", "gouache"), (two, "painted animation", "claymation")):
            prompts = Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, sid)).prompts
            assert any(words in p.start_prompt for p in prompts), (sid, [p.start_prompt for p in prompts])
            for p in prompts:
                assert words in p.start_prompt or any("left out the style" in w for w in p.warnings)
                assert other not in p.start_prompt
            assert {r.prompt for r in made[sid]} <= {p.start_prompt for p in prompts} | {p.end_prompt for p in prompts}
        # and every keyframe is conditioned on the scene's style image
        assert {r.style.key for r in made[one] if r.style} == {clay_image} and all(r.style for r in made[one])
        assert {r.style.key for r in made[two] if r.style} == {film_image} and all(r.style for r in made[two])
