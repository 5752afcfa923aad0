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

The multi-reference image families and the newer video families (issue 17) are built one by one,
on demand, by `build_family(models_dir, name)` (`FAMILY_BUILDERS`); `build_all` builds them too:

    tiny/qwen-image-edit/         QwenImageEditPlusPipeline (Qwen2.5-VL text encoder, several input images)
    tiny/flux2-klein/             Flux2KleinPipeline (Qwen3 text encoder, several reference images)
    tiny/ltx2/                    LTX2ConditionPipeline (Gemma 3 text encoder, start + end conditions, audio)
    tiny/wan22-i2v/               WanImageToVideoPipeline shaped like Wan2.2 I2V-A14B (two experts, boundary)
    tiny/wan22-ti2v/              WanImageToVideoPipeline shaped like Wan2.2 TI2V-5B (ignores last_image)

Each is the real architecture with its widths, depths and vocabularies scaled down (the real
configs' values are listed beside each builder); the code path that loads and runs them is the
one real weights take.
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
# Multi-reference image families and keyframe video families (issue 17)

_QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip
_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_level_tokenizer(cls: Any, specials: list[str], **kwargs: Any) -> Any:
    """A byte-level BPE tokenizer (256 byte symbols, no merges, the given special tokens) as `cls`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    return cls(tokenizer_object=tok, **kwargs)


def build_qwen_image_edit(models_dir: Path) -> Path:
    """tiny/qwen-image-edit: QwenImageEditPlusPipeline (Qwen-Image-Edit-2509/2511 shape).

    Real: transformer 60 layers × 24 heads × 128, joint_attention_dim 3584; VAE z_dim 16, 8× down;
    text encoder Qwen2.5-VL-7B (3584 wide, 28 layers, 32-layer vision tower). Tiny: 2 layers × 3
    heads × 16, a 4-channel VAE that goes 16× down (the pipeline VAE-encodes every reference at
    about 1024², which a tiny 8× VAE would attend over 16k positions), a 16-wide Qwen2.5-VL with
    a byte-level tokenizer.
    """

    def build(out: Path) -> None:
        from diffusers import (
            AutoencoderKLQwenImage,
            FlowMatchEulerDiscreteScheduler,
            QwenImageEditPlusPipeline,
            QwenImageTransformer2DModel,
        )
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2Tokenizer
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        _seed()
        tok = _byte_level_tokenizer(Qwen2Tokenizer, _QWEN_SPECIALS, eos_token="<|im_end|>",
                                    pad_token="<|endoftext|>")
        ids = {t: tok.convert_tokens_to_ids(t) for t in _QWEN_SPECIALS}
        from aiuteur.engines.image_edit import still_image_processor_class

        processor = still_image_processor_class()(
            image_processor=Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=112 * 112), tokenizer=tok
        )
        config = Qwen2_5_VLConfig(
            text_config={
                "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                "num_key_value_heads": 2, "vocab_size": len(tok), "rope_theta": 1000000.0,
                "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
                "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            },
            vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
            hidden_size=16, vocab_size=len(tok), bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"], vision_start_token_id=ids["<|vision_start|>"],
            vision_end_token_id=ids["<|vision_end|>"], vision_token_id=ids["<|vision_pad|>"],
            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        )  # fmt: skip
        text_encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
        transformer = QwenImageTransformer2DModel(
            patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16,
            num_attention_heads=3, joint_attention_dim=16, guidance_embeds=False, axes_dims_rope=(8, 4, 4),
        )  # fmt: skip
        z = 4
        vae = AutoencoderKLQwenImage(
            base_dim=2, z_dim=z, dim_mult=[1, 1, 1, 1, 1], num_res_blocks=1,
            temperal_downsample=[False, True, True, True], latents_mean=[0.0] * z, latents_std=[1.0] * z,
        )  # fmt: skip
        pipe = QwenImageEditPlusPipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=tok,
            processor=processor, transformer=transformer,
        )  # fmt: skip
        pipe.save_pretrained(str(out))
        # Record the processor as the real weights do; the engine loads it for still images.
        index = json.loads((out / "model_index.json").read_text())
        index["processor"] = ["transformers", "Qwen2VLProcessor"]
        (out / "model_index.json").write_text(json.dumps(index, indent=2))

    return _build_once(models_dir / "tiny" / "qwen-image-edit", build)


def build_flux2_klein(models_dir: Path) -> Path:
    """tiny/flux2-klein: Flux2KleinPipeline (FLUX.2 klein 4B shape).

    Real: transformer 5 double + 20 single blocks, 24 heads × 128, joint_attention_dim 7680 (three
    hidden layers of Qwen3-4B, 2560 wide, 36 layers); VAE with 32 latent channels. Tiny: 1 + 1
    blocks, 2 heads × 16; a Qwen3 8 wide but 28 layers deep, so the pipeline's default hidden
    layers (9, 18, 27) exist as in the real model; a 4-channel VAE 4× down.
    """

    def build(out: Path) -> None:
        from diffusers import (
            AutoencoderKLFlux2,
            FlowMatchEulerDiscreteScheduler,
            Flux2KleinPipeline,
            Flux2Transformer2DModel,
        )
        from transformers import Qwen2TokenizerFast, Qwen3Config, Qwen3ForCausalLM

        _seed()
        tok = _byte_level_tokenizer(Qwen2TokenizerFast, _QWEN_SPECIALS, eos_token="<|im_end|>",
                                    pad_token="<|endoftext|>")
        tok.chat_template = _CHAT_TEMPLATE
        text_encoder = Qwen3ForCausalLM(Qwen3Config(
            hidden_size=8, intermediate_size=16, num_hidden_layers=28, num_attention_heads=2,
            num_key_value_heads=2, head_dim=4, vocab_size=len(tok), max_position_embeddings=1024,
        )).eval()  # fmt: skip
        transformer = Flux2Transformer2DModel(
            patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=24, timestep_guidance_channels=256,
            axes_dims_rope=[4, 4, 4, 4], guidance_embeds=False,
        )  # fmt: skip
        vae = AutoencoderKLFlux2(
            sample_size=32, in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
            up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(4, 4, 4), layers_per_block=1,
            latent_channels=1, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
        )  # fmt: skip
        pipe = Flux2KleinPipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=tok,
            transformer=transformer, is_distilled=True,
        )  # fmt: skip
        pipe.save_pretrained(str(out))

    return _build_once(models_dir / "tiny" / "flux2-klein", build)


def _gemma_tokenizer() -> Any:
    """A Gemma tokenizer over the special tokens and printable ASCII (transformers 5 constructor)."""
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_image>", "<end_of_image>",
                "<image_soft_token>", "<start_of_turn>", "<end_of_turn>"]  # fmt: skip
    vocab = {t: i for i, t in enumerate(specials)}
    for c in ["\u2581", *(string.ascii_letters + string.digits + string.punctuation)]:
        vocab.setdefault(c, len(vocab))
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    return GemmaTokenizer(vocab=vocab, merges=[])


def build_ltx2(models_dir: Path) -> Path:
    """tiny/ltx2: LTX2ConditionPipeline (LTX-2: video + audio, keyframe conditions at any index).

    Real: transformer 48 layers, 32 heads × 128 video and 32 × 64 audio, captions from Gemma 3
    12B (3840 wide, 48 layers, all hidden states into the text connectors); video VAE 32× down in
    space, 8× in time. Tiny: 2 layers × 2 heads × 8; a Gemma 3 32 wide and 2 layers deep with a
    1-layer SigLIP tower (the text connectors are 4 heads × 8 = its width); a 1-level video VAE; a small audio VAE and vocoder.
    """

    def build(out: Path) -> None:
        from diffusers import (
            AutoencoderKLLTX2Audio,
            AutoencoderKLLTX2Video,
            FlowMatchEulerDiscreteScheduler,
            LTX2ConditionPipeline,
            LTX2VideoTransformer3DModel,
        )
        from diffusers.pipelines.ltx2 import LTX2TextConnectors
        from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
        from transformers import Gemma3Config, Gemma3ForConditionalGeneration

        _seed()
        tok = _gemma_tokenizer()
        ids = {t: tok.convert_tokens_to_ids(t) for t in ("<start_of_image>", "<end_of_image>", "<image_soft_token>")}
        text_encoder = Gemma3ForConditionalGeneration(Gemma3Config(
            text_config={
                "hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 1, "head_dim": 8, "vocab_size": len(tok), "sliding_window": 64,
                "max_position_embeddings": 2048,
            },
            vision_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
            mm_tokens_per_image=4, boi_token_index=ids["<start_of_image>"], eoi_token_index=ids["<end_of_image>"],
            image_token_index=ids["<image_soft_token>"],
        )).eval()  # fmt: skip
        hidden = text_encoder.config.text_config.hidden_size
        layers = text_encoder.config.text_config.num_hidden_layers
        transformer = LTX2VideoTransformer3DModel(
            in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2,
            attention_head_dim=8, cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4,
            audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2,
            qk_norm="rms_norm_across_heads", caption_channels=hidden, rope_double_precision=False,
            rope_type="split",
        )  # fmt: skip
        connectors = LTX2TextConnectors(
            caption_channels=hidden, text_proj_in_factor=layers + 1, video_connector_num_attention_heads=4,
            video_connector_attention_head_dim=8, video_connector_num_layers=1,
            video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
            audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
            audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
            rope_double_precision=False, causal_temporal_positioning=False, rope_type="split",
        )  # fmt: skip
        vae = AutoencoderKLLTX2Video(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,),
            decoder_block_out_channels=(8,), layers_per_block=(1,), decoder_layers_per_block=(1, 1),
            spatio_temporal_scaling=(True,), decoder_spatio_temporal_scaling=(True,),
            decoder_inject_noise=(False, False), downsample_type=("spatial",), upsample_residual=(False,),
            upsample_factor=(1,), timestep_conditioning=False, patch_size=1, patch_size_t=1,
            encoder_causal=True, decoder_causal=False,
        )  # fmt: skip
        audio_vae = AutoencoderKLLTX2Audio(
            base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None,
            in_channels=2, resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height",
            dropout=0.0, mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True,
            mel_bins=8,
        )  # fmt: skip
        vocoder = LTX2Vocoder(
            in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins, hidden_channels=32,
            out_channels=2, upsample_kernel_sizes=[4, 4], upsample_factors=[2, 2], resnet_kernel_sizes=[3],
            resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1, output_sampling_rate=16000,
        )  # fmt: skip
        pipe = LTX2ConditionPipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae, text_encoder=text_encoder,
            tokenizer=tok, connectors=connectors, transformer=transformer, vocoder=vocoder,
        )  # fmt: skip
        pipe.save_pretrained(str(out))

    return _build_once(models_dir / "tiny" / "ltx2", build)


def _wan_transformer(in_channels: int, out_channels: int) -> Any:
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=in_channels,
        out_channels=out_channels, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )  # fmt: skip


def _umt5() -> Any:
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(
        vocab_size=1000, d_model=32, d_ff=37, d_kv=8, num_heads=4, num_layers=2,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
    )).eval()  # fmt: skip


def build_wan22_i2v(models_dir: Path) -> Path:
    """tiny/wan22-i2v: WanImageToVideoPipeline shaped like Wan2.2 I2V-A14B (first and last frame).

    Real: two 14B experts (40 layers, 40 heads × 128, in_channels 36), high-noise `transformer`
    above `boundary_ratio` 0.9 and low-noise `transformer_2` below; umT5-XXL text encoder; no CLIP
    image encoder; Wan2.1 VAE (z 16). Tiny: two 2-layer experts 2 heads × 12, a 2-layer umT5.
    """

    def build(out: Path) -> None:
        from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline

        _seed()
        tok = _t5_tokenizer(out / "_tok")
        vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                               temperal_downsample=[False, True, True])  # fmt: skip
        pipe = WanImageToVideoPipeline(
            tokenizer=tok, text_encoder=_umt5(), vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
            image_processor=None, image_encoder=None, transformer=_wan_transformer(36, 16),
            transformer_2=_wan_transformer(36, 16), boundary_ratio=0.9,
        )  # fmt: skip
        pipe.save_pretrained(str(out))
        shutil.rmtree(out / "_tok")

    return _build_once(models_dir / "tiny" / "wan22-i2v", build)


def build_wan22_ti2v(models_dir: Path) -> Path:
    """tiny/wan22-ti2v: WanImageToVideoPipeline shaped like Wan2.2 TI2V-5B (`expand_timesteps`).

    That pipeline form takes the first frame only and silently ignores `last_image`; the video
    engine refuses it for start+end shots. Real: 30 layers, 24 heads × 128, Wan2.2 VAE (z 48,
    16× down). Tiny: 2 layers, 2 heads × 12, a z-48 VAE 16× down.
    """

    def build(out: Path) -> None:
        from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline

        _seed()
        tok = _t5_tokenizer(out / "_tok")
        vae = AutoencoderKLWan(
            base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
            latents_mean=[0.0] * 48, latents_std=[1.0] * 48, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
            scale_factor_spatial=16, scale_factor_temporal=4, temperal_downsample=[False, True, True],
        )  # fmt: skip
        pipe = WanImageToVideoPipeline(
            tokenizer=tok, text_encoder=_umt5(), vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
            image_processor=None, image_encoder=None, transformer=_wan_transformer(48, 48), transformer_2=None,
            boundary_ratio=None, expand_timesteps=True,
        )  # fmt: skip
        pipe.save_pretrained(str(out))
        shutil.rmtree(out / "_tok")

    return _build_once(models_dir / "tiny" / "wan22-ti2v", build)


#: Tiny model folder name -> its builder (built on demand, one at a time).
FAMILY_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "qwen-image-edit": build_qwen_image_edit,
    "flux2-klein": build_flux2_klein,
    "ltx2": build_ltx2,
    "wan22-i2v": build_wan22_i2v,
    "wan22-ti2v": build_wan22_ti2v,
}


def build_family(models_dir: Path, name: str) -> Path:
    """Build `tiny/<name>` of one of FAMILY_BUILDERS (idempotent)."""
    if name not in FAMILY_BUILDERS:
        raise KeyError(f"no tiny builder for {name!r}; known: {', '.join(FAMILY_BUILDERS)}")
    return FAMILY_BUILDERS[name](Path(models_dir))


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
    for name in FAMILY_BUILDERS:
        build_family(models_dir, name)


if __name__ == "__main__":
    import sys

    build_all(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
