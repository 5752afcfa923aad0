"""Build a tiny random-weight Kokoro voice model (tests): the real Kokoro-82M layout, smaller.

The folder `<models folder>/tiny/kokoro/` holds what a local copy of hexgrad/Kokoro-82M holds:
`config.json` (the real config's keys and phoneme vocabulary; PL-BERT shrunk to 1 layer of 32,
one prosody layer, one resblock kernel, `max_dur` 4 so a phoneme lasts about 2 frames, as real
speech does), `kokoro-v1_0.pth` (a state dict per component, as the real file is, in float16) and
`voices/<name>.pt` (a 510x1x256 style pack per voice, as the real packs are). Kokoro's decoder
widths (1024/512) and its 24 kHz iSTFT head are fixed in the `kokoro` package, so they stay.

The `kokoro` backend loads it through `kokoro.KModel(config=..., model=...)` and `KPipeline`, the
path real local weights take. Its audio is noise shaped by the model: length grows with the
phonemes, each voice sounds different, speed shortens it.

Needs the `kokoro` package (`pip install -r requirements-kokoro.txt`). Building takes a few
seconds and is idempotent (a complete folder, marked by `BUILD_STAMP`, is left alone).
Run it directly (`python models/tiny_kokoro.py [models_dir]`) or call `build(models_dir)`.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

SUBDIR = Path("tiny") / "kokoro"
BUILD_STAMP = "aiuteur-build.json"
VERSION = 1  # bump to rebuild existing folders when the recipe changes
SEED = 0
WEIGHTS = "kokoro-v1_0.pth"
#: Voice names in Kokoro's scheme: language letter (a American, b British), f/m, a name.
VOICES = ("af_tiny", "am_tiny", "bf_tiny", "bm_tiny")

#: Kokoro-82M's phoneme vocabulary (config.json of the Apache-2.0 release): the ids the G2P's
#: phonemes map to, so misaki's and espeak's phonemes reach the model as real weights see them.
VOCAB = {
    ";": 1, ":": 2, ",": 3, ".": 4, "!": 5, "?": 6, "—": 9, "…": 10, '"': 11, "(": 12, ")": 13, "“": 14,
    "”": 15, " ": 16, "\u0303": 17, "ʣ": 18, "ʥ": 19, "ʦ": 20, "ʨ": 21, "ᵝ": 22, "ꭧ": 23, "A": 24, "I": 25,
    "O": 31, "Q": 33, "S": 35, "T": 36, "W": 39, "Y": 41, "ᵊ": 42, "a": 43, "b": 44, "c": 45, "d": 46,
    "e": 47, "f": 48, "h": 50, "i": 51, "j": 52, "k": 53, "l": 54, "m": 55, "n": 56, "o": 57, "p": 58,
    "q": 59, "r": 60, "s": 61, "t": 62, "u": 63, "v": 64, "w": 65, "x": 66, "y": 67, "z": 68, "ɑ": 69,
    "ɐ": 70, "ɒ": 71, "æ": 72, "β": 75, "ɔ": 76, "ɕ": 77, "ç": 78, "ɖ": 80, "ð": 81, "ʤ": 82, "ə": 83,
    "ɚ": 85, "ɛ": 86, "ɜ": 87, "ɟ": 90, "ɡ": 92, "ɥ": 99, "ɨ": 101, "ɪ": 102, "ʝ": 103, "ɯ": 110,
    "ɰ": 111, "ŋ": 112, "ɳ": 113, "ɲ": 114, "ɴ": 115, "ø": 116, "ɸ": 118, "θ": 119, "œ": 120, "ɹ": 123,
    "ɾ": 125, "ɻ": 126, "ʁ": 128, "ɽ": 129, "ʂ": 130, "ʃ": 131, "ʈ": 132, "ʧ": 133, "ʊ": 135, "ʋ": 136,
    "ʌ": 138, "ɣ": 139, "ɤ": 140, "χ": 142, "ʎ": 143, "ʒ": 147, "ʔ": 148, "ˈ": 156, "ˌ": 157, "ː": 158,
    "ʰ": 162, "ʲ": 164, "↓": 169, "→": 171, "↗": 172, "↘": 173, "ᵻ": 177,
}

CONFIG = {
    # Kept from Kokoro-82M: the iSTFT head (24 kHz, 600 samples a frame), the decoder's input width
    # (hidden_dim 512, fixed by the package's decoder), the style width (128 + 128) and the tokens.
    "istftnet": {
        "upsample_kernel_sizes": [20, 12], "upsample_rates": [10, 6], "gen_istft_hop_size": 5,
        "gen_istft_n_fft": 20, "resblock_dilation_sizes": [[1, 3, 5]], "resblock_kernel_sizes": [3],
        "upsample_initial_channel": 512,
    },
    "dim_in": 64, "dropout": 0.2, "hidden_dim": 512, "max_conv_dim": 512, "max_dur": 4, "multispeaker": True,
    "n_layer": 1, "n_mels": 80, "n_token": 178, "style_dim": 128, "text_encoder_kernel_size": 5,
    "plbert": {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64,
               "max_position_embeddings": 512, "num_hidden_layers": 1, "dropout": 0.1},
    "vocab": VOCAB,
}
COMPONENTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")


def is_built(models_dir: Path) -> bool:
    """Whether a complete tiny Kokoro model of this recipe version is in `models_dir`."""
    stamp = Path(models_dir) / SUBDIR / BUILD_STAMP
    try:
        return json.loads(stamp.read_text())["version"] == VERSION
    except (OSError, ValueError, KeyError):
        return False


def build(models_dir: Path, *, force: bool = False) -> Path:
    """Build the tiny Kokoro model into `<models_dir>/tiny/kokoro/` and return that folder."""
    import torch
    from kokoro import KModel

    target = Path(models_dir) / SUBDIR
    if is_built(models_dir) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".kokoro-", dir=target.parent))
    try:
        (tmp / "config.json").write_text(json.dumps(CONFIG, ensure_ascii=False, indent=1), encoding="utf-8")
        empty = tmp / "empty.pth"
        torch.save({}, empty)  # KModel loads nothing from it, so its layers keep their seeded init
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            model = KModel(repo_id=str(target), config=str(tmp / "config.json"), model=str(empty))
            state = {name: {k: (v.half() if v.is_floating_point() else v)
                            for k, v in getattr(model, name).state_dict().items()} for name in COMPONENTS}
            torch.save(state, tmp / WEIGHTS)
            (tmp / "voices").mkdir()
            for name in VOICES:
                # One style per voice, varying a little with the phoneme count, as real packs do.
                base = torch.randn(1, 1, 256) * 0.3
                pack = base + torch.randn(510, 1, 256) * 0.02
                torch.save(pack, tmp / "voices" / f"{name}.pt")
        empty.unlink()
        stamp = {"version": VERSION, "seed": SEED, "voices": list(VOICES), "kind": "random-weight Kokoro"}
        (tmp / BUILD_STAMP).write_text(json.dumps(stamp, indent=1))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".cache/models")
    print(build(where, force=True))
