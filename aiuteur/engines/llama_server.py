"""llama-cpp-python's OpenAI-compatible server, started with Aiuteur's llama.cpp settings.

    python -m aiuteur.engines.llama_server --model FILE.gguf --host 127.0.0.1 --port 8000

Same arguments as `python -m llama_cpp.server`; the difference is that weight repacking follows
`use_repacked_weights()` (off on CPUs with AMX tiles, where llama.cpp crashes batched prompts;
`AIUTEUR_LLAMA_REPACK=1` turns it back on). Point the app at it with
`AIUTEUR_OPENAI_BASE_URL=http://127.0.0.1:8000/v1` and `AIUTEUR_OPENAI_MODEL=<its model alias>`.
"""

from __future__ import annotations


def main() -> None:
    import llama_cpp
    from llama_cpp.server.__main__ import main as serve

    from aiuteur.engines.text_llamacpp import _model_params, use_repacked_weights

    with _model_params(llama_cpp, repack=use_repacked_weights()):
        serve()


if __name__ == "__main__":
    main()
