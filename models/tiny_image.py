"""Tiny random-weight image and video models, built locally in seconds for tests and CI.

Each builder writes a folder under `<models_dir>/tiny/` in the same layout as the real weights
(a diffusers pipeline folder; an IP-Adapter folder shaped like h94/IP-Adapter), so the engines
load them through the very same `from_pretrained(local_dir)` / `load_ip_adapter(...)` calls as a
studio profile. Everything is seeded, so the same call gives the same weights; a finished folder
holds a `.built` stamp and is not rebuilt. Builds write to a temporary sibling and rename it into
place, so two processes building at once cannot leave a half-written folder.

This file is not a package module: load it by path (`importlib.util.spec_from_file_location`) and
call `build_all(models_dir)` or one of the `build_*` functions.

Layout written by `build_all`:

    tiny/sd15/                    StableDiffusionPipeline
    tiny/sdxl/                    StableDiffusionXLPipeline
    tiny/ip-adapter/models/       ip-adapter_tiny.safetensors, ip-adapter-plus_tiny.safetensors, image_encoder/
    tiny/ip-adapter/sdxl_models/  ip-adapter_tiny_sdxl.safetensors, image_encoder/
    tiny/controlnet/              ControlNetModel for tiny/sd15
    tiny/controlnet-sdxl/         ControlNetModel for tiny/sdxl
    tiny/ltx/                     LTXConditionPipeline (start + end frame conditions)
    tiny/wan/                     WanImageToVideoPipeline, first/last-frame (FLF2V) shaped
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAMP = ".built"
VERSION = "3"  # bump when a builder changes, so stale tiny folders are rebuilt
SEED = 0


# ---------------------------------------------------------------------------------------------
# Helpers


def _build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(tmp_dir)` and move the result to `target`, unless `target` is already built."""
    stamp = target / STAMP
    if stamp.is_file() and stamp.read_text().strip() == VERSION:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        (tmp / STAMP).write_text(VERSION)
        if target.exists():
            if (target / STAMP).is_file() and (target / STAMP).read_text().strip() == VERSION:
                return target  # another process finished first
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / STAMP).is_file():  # lost a race and the winner is not done: fail loudly
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _seed() -> None:
    import torch

    torch.manual_seed(SEED)


def _bytes_to_unicode() -> list[str]:
    # Copied from the GPT-2 / CLIP byte table.
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def _clip_tokenizer(path: Path) -> Any:
    """A char-level CLIP BPE tokenizer (514 ids) written in the classic vocab/merges format."""
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer.from_pretrained(str(path), model_max_length=77)


def _t5_tokenizer(path: Path) -> Any:
    """A Unigram T5 tokenizer over ▁ + ASCII characters (transformers v5 constructor)."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    for c in string.ascii_letters + string.digits + string.punctuation:
        pieces += [("\u2581" + c, -4.0), (c, -5.0)]
    T5Tokenizer(vocab=pieces, extra_ids=0).save_pretrained(str(path))
    return T5Tokenizer.from_pretrained(str(path))


def _clip_text_encoder(with_projection: bool = False) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=1000, projection_dim=32,
        max_position_embeddings=77,
    )  # fmt: skip
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(cfg)


def _vae() -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[8, 16], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2, sample_size=64,
    )  # fmt: skip


def _scheduler() -> Any:
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )


def _image_encoder(image_size: int = 32, hidden_size: int = 32) -> Any:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(
        hidden_size=hidden_size, projection_dim=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, image_size=image_size, patch_size=8,
    )  # fmt: skip
    return CLIPVisionModelWithProjection(cfg)


# ---------------------------------------------------------------------------------------------
# Text-to-image pipelines


def build_sd15(models_dir: Path) -> Path:
    """tiny/sd15: an SD1.5-shaped pipeline (two UNet blocks, 32-wide CLIP text encoder)."""

    def build(out: Path) -> None:
        from diffusers import StableDiffusionPipeline, UNet2DConditionModel

        _seed()
        tok = _clip_tokenizer(out / "_tok")
        unet = UNet2DConditionModel(
            block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
            norm_num_groups=4, attention_head_dim=4,
        )  # fmt: skip
        pipe = StableDiffusionPipeline(
            vae=_vae(), text_encoder=_clip_text_encoder(), tokenizer=tok, unet=unet,
            scheduler=_scheduler(), safety_checker=None, feature_extractor=None, image_encoder=None,
            requires_safety_checker=False,
        )  # fmt: skip
        pipe.save_pretrained(str(out))
        shutil.rmtree(out / "_tok")

    return _build_once(models_dir / "tiny" / "sd15", build)


def build_sdxl(models_dir: Path) -> Path:
    """tiny/sdxl: an SDXL-shaped pipeline (two text encoders, text_time added conditioning)."""

    def build(out: Path) -> None:
        from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

        _seed()
        tok = _clip_tokenizer(out / "_tok")
        unet = UNet2DConditionModel(
            block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
            transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
            cross_attention_dim=64, norm_num_groups=4,
        )  # fmt: skip
        pipe = StableDiffusionXLPipeline(
            vae=_vae(), text_encoder=_clip_text_encoder(), text_encoder_2=_clip_text_encoder(True),
            tokenizer=tok, tokenizer_2=tok, unet=unet, scheduler=_scheduler(),
        )  # fmt: skip
        pipe.save_pretrained(str(out))
        shutil.rmtree(out / "_tok")

    return _build_once(models_dir / "tiny" / "sdxl", build)


# ---------------------------------------------------------------------------------------------
# IP-Adapter (h94/IP-Adapter layout) and ControlNet


def _hidden_size_of(name: str, block_out_channels: list[int]) -> int:
    if name.startswith("mid_block"):
        return block_out_channels[-1]
    if name.startswith("up_blocks"):
        return list(reversed(block_out_channels))[int(name[len("up_blocks.")])]
    return block_out_channels[int(name[len("down_blocks.")])]


def _ip_layers(unet: Any, gen: Any, scale: float = 0.02) -> dict[str, Any]:
    """to_k_ip / to_v_ip for every cross-attention processor, numbered 1, 3, 5… as in h94 files."""
    import torch

    cad = unet.config.cross_attention_dim
    boc = list(unet.config.block_out_channels)
    sd: dict[str, Any] = {}
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        hidden = _hidden_size_of(name, boc)
        sd[f"ip_adapter.{key_id}.to_k_ip.weight"] = torch.randn(hidden, cad, generator=gen) * scale
        sd[f"ip_adapter.{key_id}.to_v_ip.weight"] = torch.randn(hidden, cad, generator=gen) * scale
        key_id += 2
    return sd


def _standard_ip_state_dict(unet: Any, clip_embed_dim: int, num_tokens: int = 4) -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(SEED)
    cad = unet.config.cross_attention_dim
    sd = {
        "image_proj.proj.weight": torch.randn(cad * num_tokens, clip_embed_dim, generator=gen) * 0.02,
        "image_proj.proj.bias": torch.zeros(cad * num_tokens),
        "image_proj.norm.weight": torch.ones(cad),
        "image_proj.norm.bias": torch.zeros(cad),
    }
    sd.update(_ip_layers(unet, gen))
    return sd


def _plus_ip_state_dict(unet: Any, encoder_hidden: int, num_queries: int = 4) -> dict[str, Any]:
    """IP-Adapter Plus: a Resampler image projection, saved under the original h94 key names."""
    import torch
    from diffusers.models.embeddings import IPAdapterPlusImageProjection

    torch.manual_seed(SEED)
    proj = IPAdapterPlusImageProjection(
        embed_dims=encoder_hidden, output_dims=unet.config.cross_attention_dim, hidden_dims=32,
        depth=4, dim_head=64, heads=1, num_queries=num_queries,  # the loader assumes depth 4, head width 64
    )  # fmt: skip
    renames = [
        ("ln0", "0.norm1"), ("ln1", "0.norm2"), ("attn.to_out.0", "0.to_out"), ("attn.", "0."),
        ("ff.0", "1.0"), ("ff.1.net.0.proj", "1.1"), ("ff.1.net.2", "1.3"),
    ]  # fmt: skip
    sd: dict[str, Any] = {}
    kv: dict[str, dict[str, Any]] = {}
    for key, value in proj.state_dict().items():
        new = key
        if key.startswith("layers."):
            for old, rep in renames:
                if old in new:
                    new = new.replace(old, rep, 1)
                    break
        if new.endswith(("0.to_k.weight", "0.to_v.weight")):
            kv.setdefault(new.rsplit(".", 2)[0], {})[new.rsplit(".", 2)[1]] = value
            continue
        sd[f"image_proj.{new}"] = value.clone()
    for prefix, parts in kv.items():
        sd[f"image_proj.{prefix}.to_kv.weight"] = torch.cat([parts["to_k"], parts["to_v"]], dim=0)
    gen = torch.Generator().manual_seed(SEED + 1)
    sd.update(_ip_layers(unet, gen))
    return sd


def build_ip_adapter(models_dir: Path) -> Path:
    """tiny/ip-adapter: standard and Plus adapters for tiny/sd15 and a standard one for tiny/sdxl."""
    sd15 = build_sd15(models_dir)
    sdxl = build_sdxl(models_dir)

    def build(out: Path) -> None:
        from diffusers import UNet2DConditionModel
        from safetensors.torch import save_file

        _seed()
        enc = _image_encoder()
        unet = UNet2DConditionModel.from_pretrained(str(sd15), subfolder="unet")
        (out / "models").mkdir(parents=True)
        enc.save_pretrained(str(out / "models" / "image_encoder"))
        save_file(_standard_ip_state_dict(unet, 32), str(out / "models" / "ip-adapter_tiny.safetensors"))
        save_file(
            _plus_ip_state_dict(unet, enc.config.hidden_size),
            str(out / "models" / "ip-adapter-plus_tiny.safetensors"),
        )
        unet_xl = UNet2DConditionModel.from_pretrained(str(sdxl), subfolder="unet")
        (out / "sdxl_models").mkdir()
        enc.save_pretrained(str(out / "sdxl_models" / "image_encoder"))
        save_file(
            _standard_ip_state_dict(unet_xl, 32),
            str(out / "sdxl_models" / "ip-adapter_tiny_sdxl.safetensors"),
        )

    return _build_once(models_dir / "tiny" / "ip-adapter", build)


def build_controlnet(models_dir: Path, family: str = "sd15") -> Path:
    """tiny/controlnet (or tiny/controlnet-sdxl): a ControlNet cut from the tiny UNet.

    Built from a UNet that has no IP-Adapter loaded: `ControlNetModel.from_unet` refuses a UNet
    whose encoder_hid_dim_type is already ip_image_proj.
    """
    base = build_sd15(models_dir) if family == "sd15" else build_sdxl(models_dir)
    name = "controlnet" if family == "sd15" else "controlnet-sdxl"

    def build(out: Path) -> None:
        import torch
        from diffusers import ControlNetModel, UNet2DConditionModel

        _seed()
        unet = UNet2DConditionModel.from_pretrained(str(base), subfolder="unet")
        cn = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16))
        # A fresh ControlNet's output convolutions are zero, so it would change nothing; give
        # them small random weights so tests can see the control image act.
        gen = torch.Generator().manual_seed(SEED)
        with torch.no_grad():
            for block in [*cn.controlnet_down_blocks, cn.controlnet_mid_block]:
                block.weight.copy_(torch.randn(block.weight.shape, generator=gen) * 0.3)
        cn.save_pretrained(str(out))

    return _build_once(models_dir / "tiny" / name, build)


# ---------------------------------------------------------------------------------------------
# Video pipelines


def build_ltx(models_dir: Path) -> Path:
    """tiny/ltx: LTXConditionPipeline (keyframe conditions at any frame index, plus text)."""

    def build(out: Path) -> None:
        from diffusers import (
            AutoencoderKLLTXVideo,
            FlowMatchEulerDiscreteScheduler,
            LTXConditionPipeline,
            LTXVideoTransformer3DModel,
        )
        from transformers import T5Config, T5EncoderModel

        _seed()
        tok = _t5_tokenizer(out / "_tok")
        transformer = LTXVideoTransformer3DModel(
            in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
            attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=32,
        )  # fmt: skip
        vae = AutoencoderKLLTXVideo(
            latent_channels=8, block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
            layers_per_block=(1,) * 5, decoder_layers_per_block=(1,) * 5,
            spatio_temporal_scaling=(True, True, False, False),
            decoder_spatio_temporal_scaling=(True, True, False, False),
            decoder_inject_noise=(False,) * 5, upsample_residual=(False,) * 4, upsample_factor=(1,) * 4,
            timestep_conditioning=False, patch_size=1, patch_size_t=1, encoder_causal=True,
            decoder_causal=False,
        )  # fmt: skip
        text_encoder = T5EncoderModel(
            T5Config(
                vocab_size=1000, d_model=32, d_ff=37, d_kv=8, num_heads=4, num_layers=2,
                relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
            )
        )  # fmt: skip
        pipe = LTXConditionPipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
            tokenizer=tok, transformer=transformer,
        )  # fmt: skip
        pipe.save_pretrained(str(out))
        shutil.rmtree(out / "_tok")

    return _build_once(models_dir / "tiny" / "ltx", build)


def build_wan(models_dir: Path) -> Path:
    """tiny/wan: WanImageToVideoPipeline shaped like Wan2.1 FLF2V (`image=` first, `last_image=` last)."""

    def build(out: Path) -> None:
        from diffusers import (
            AutoencoderKLWan,
            FlowMatchEulerDiscreteScheduler,
            WanImageToVideoPipeline,
            WanTransformer3DModel,
        )
        from transformers import (
            CLIPImageProcessor,
            CLIPVisionConfig,
            CLIPVisionModel,
            UMT5Config,
            UMT5EncoderModel,
        )

        _seed()
        tok = _t5_tokenizer(out / "_tok")
        vae = AutoencoderKLWan(
            base_dim=3,
            z_dim=16,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=1000, d_model=32, d_ff=37, d_kv=8, num_heads=4, num_layers=2,
                relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
            )
        )  # fmt: skip
        image_encoder = CLIPVisionModel(
            CLIPVisionConfig(
                hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=16, image_size=16, patch_size=4,
            )
        )  # fmt: skip
        # FLF2V: pos_embed_seq_len = 2 * (num_patches + 1) for the two encoded frames.
        num_patches = (16 // 4) ** 2
        transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36,
            out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=32, image_dim=4,
            pos_embed_seq_len=2 * (num_patches + 1),
        )  # fmt: skip
        processor = CLIPImageProcessor(
            crop_size=16, size={"shortest_edge": 16}, do_center_crop=True, do_normalize=True, do_resize=True
        )
        pipe = WanImageToVideoPipeline(
            tokenizer=tok, text_encoder=text_encoder, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
            image_processor=processor, image_encoder=image_encoder, transformer=transformer,
        )  # fmt: skip
        pipe.save_pretrained(str(out))
        shutil.rmtree(out / "_tok")

    return _build_once(models_dir / "tiny" / "wan", build)


# ---------------------------------------------------------------------------------------------


def build_images(models_dir: Path) -> None:
    """Everything the image engine's tiny profiles need (no video)."""
    build_sd15(models_dir)
    build_sdxl(models_dir)
    build_ip_adapter(models_dir)
    build_controlnet(models_dir, "sd15")
    build_controlnet(models_dir, "sdxl")


def build_video(models_dir: Path) -> None:
    """Both tiny video pipelines."""
    build_ltx(models_dir)
    build_wan(models_dir)


def build_all(models_dir: Path) -> None:
    """Build every tiny image and video model under `<models_dir>/tiny/` (idempotent, seconds)."""
    models_dir = Path(models_dir)
    build_images(models_dir)
    build_video(models_dir)


if __name__ == "__main__":
    import sys

    build_all(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
