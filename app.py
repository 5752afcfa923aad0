"""Entry point: `python app.py` builds the Aiuteur web app and serves it (also the Space entry point).

Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (default 0.0.0.0:7860). GPU-bound
events queue one at a time under concurrency_id="gpu"; only the media folder is served as files.
"""

from __future__ import annotations

import logging
import os


def main() -> None:
    from aiuteur.settings import data_home
    from aiuteur.store.store import open_store
    from aiuteur.ui.app import build_app, launch_kwargs

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    store = open_store(data_home())
    demo = build_app(store)
    demo.queue()  # default concurrency; GPU events queue one at a time under concurrency_id="gpu"
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        allowed_paths=[str(store.home.media)],
        **launch_kwargs(),
    )


if __name__ == "__main__":
    main()
