"""Entry point: `python app.py` builds the Aiuteur web app and serves it (also the Space entry point).

Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (default 0.0.0.0:7860). It serves exactly what `python -m aiuteur serve` serves: both call
`aiuteur.ui.app.launch_app`.
"""

from __future__ import annotations

import logging


def main() -> None:
    from aiuteur.ui.app import launch_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    launch_app()


if __name__ == "__main__":
    main()
