"""Build the tiny random-weight text model used by the `tiny` profile (tests, CI).

A Qwen2 causal LM (hidden 64, 2 layers, about 0.5 M parameters) with a byte-level BPE tokenizer
of 2,048 tokens trained here on deterministic text, both written with `save_pretrained()` into
`<models folder>/tiny/text/`. It is loaded later through the same `from_pretrained(local_dir)`
path as real weights, so the tiny profile runs the production code path. Its output is noise
that constrained decoding shapes into valid JSON.

Run it directly (`python models/tiny_text.py [models_dir]`) or call `build(models_dir)`.
Building is idempotent: a complete folder (marked by `BUILD_STAMP`) is left alone.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

SUBDIR = Path("tiny") / "text"
BUILD_STAMP = "aiuteur-build.json"
VERSION = 1  # bump to rebuild existing folders when the recipe changes
SEED = 0
VOCAB_SIZE = 2048

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_WORD_TEXT = (
    "the a an and of to in on at with from by for into over under night day morning evening "
    "int ext scene shot wide medium close insert camera pans tilts dolly track zoom cut fade "
    "she he they we it her his their old young keeper harbor officer lighthouse lamp letter key "
    "door window storm rain sea ship road city forest house kitchen street car train station "
    "looks walks runs opens closes holds takes gives says whispers shouts smiles cries waits "
    "red blue green gold grey dark bright soft cold warm wet dry quiet loud slow fast "
    "story beat treatment variant title logline prose character location prop style mood "
    "name description summary action dialogue speaker heading duration angle size move "
    "true false null yes no one two three four five first last next "
)
_WORDS = _WORD_TEXT.split()


def _corpus(seed: int = SEED, lines: int = 4000) -> list[str]:
    """Deterministic training text: prose-like lines and compact JSON, same on every machine."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(lines):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 14))]
        if i % 3 == 0:
            keys = rng.sample(["name", "title", "description", "summary", "action", "heading"], 2)
            obj = {keys[0]: " ".join(words[:3]).capitalize(), keys[1]: [w.upper() for w in words[3:6]]}
            out.append(json.dumps(obj, separators=(",", ":")))
        else:
            line = " ".join(words).capitalize() + rng.choice([".", "!", "?", ",", ":"])
            out.append(line + f" {rng.randint(0, 999)}")
    return out


def is_built(models_dir: Path) -> bool:
    """Whether a complete tiny text model of this recipe version is in `models_dir`."""
    stamp = Path(models_dir) / SUBDIR / BUILD_STAMP
    try:
        return json.loads(stamp.read_text())["version"] == VERSION
    except (OSError, ValueError, KeyError):
        return False


def build(models_dir: Path, *, force: bool = False) -> Path:
    """Build the tiny text model into `<models_dir>/tiny/text/` and return that folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    target = Path(models_dir) / SUBDIR
    if is_built(models_dir) and not force:
        return target

    # 1. Tokenizer: byte-level BPE, so every byte (hence every JSON string) is expressible.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
    )

    # 2. Model: random weights under a fixed seed.
    torch.manual_seed(SEED)
    cfg = Qwen2Config(
        vocab_size=len(hf_tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(cfg)
    model.generation_config.eos_token_id = hf_tok.eos_token_id
    model.generation_config.pad_token_id = hf_tok.pad_token_id

    # 3. Save into a temporary sibling folder, then swap it in: a half-built folder never shows.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".text-", dir=target.parent))
    try:
        hf_tok.save_pretrained(tmp)
        model.save_pretrained(tmp)
        stamp = {"version": VERSION, "seed": SEED, "vocab_size": len(hf_tok), "kind": "random-weight Qwen2"}
        (tmp / BUILD_STAMP).write_text(json.dumps(stamp, indent=1))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


if __name__ == "__main__":
    if len(sys.argv) > 1:
        where = Path(sys.argv[1])
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from aiuteur.settings import data_home

        where = data_home().models
    print(build(where))
