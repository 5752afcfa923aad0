"""Benchmark: every issue-17 family at its real size with random weights, through the real engines.

Random weights run at real speed, so no Hub download is needed. For each family the script takes
the tiny model's folder (`models/tiny_image.py`: tokenizer, processor and scheduler), takes every
weight component's real config (`REAL`, below: the published configs whole for the diffusers
components, widths, depths and vocabularies for the text encoders), builds it with random weights
directly on the device in bf16, puts it into the engine (`DiffusersEditImage` / `DiffusersVideo`)
and measures through the engine's own `generate` / `render`:

  image families   load s; s per keyframe at 1024² with 1 and with 3 references; peak GPU GiB
  video families   load s; s per 5-s 720p clip with a start and an end frame; peak GPU GiB

`--params` only builds every family at real size on the meta device (no memory, no GPU) and prints
each component's parameter count: the check that the shapes are the published ones.

`--scale tiny` runs the very same code with the tiny shapes (no overrides) on the CPU: that is how
the tests check this script; its numbers mean nothing. On a GPU:

    python bench/gpu.py --device cuda                      # all families, real size
    python bench/gpu.py --device cuda --families ltx2      # one family

Results print as a Markdown table and go to `--out` as JSON. Targets on one H100/H200-class GPU:
keyframe with 3 references <= 10 s; 5-s 720p start+end clip <= 90 s; a 20-shot scene's video pass
<= 30 GPU-minutes (20 × the clip time).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import inspect
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Real shapes, from the published configs. Diffusers components (transformers, VAEs, the LTX-2
# text connectors and vocoder) are given whole and built from these alone: the conversion scripts
# in the diffusers repository (scripts/convert_ltx2_to_diffusers.py version "2.0",
# scripts/convert_flux2_to_diffusers.py "klein-4b" with the default `AutoencoderKLFlux2()` it
# converts the FLUX.2 VAE into) and the model repositories' config.json files (Qwen-Image-Edit-2511
# uses `zero_cond_t`; Wan2.2 I2V-A14B's VAE is the Wan2.1 one). Text encoders (transformers) are
# merged into the tiny folder's config: they keep the tiny tokenizer, so only widths, depths and
# vocabulary sizes matter.
_QWEN_IMAGE_VAE = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
                   "temperal_downsample": [False, True, True], "dropout": 0.0}
_WAN_EXPERT = {"patch_size": [1, 2, 2], "num_attention_heads": 40, "attention_head_dim": 128, "in_channels": 36,
               "out_channels": 16, "text_dim": 4096, "freq_dim": 256, "ffn_dim": 13824, "num_layers": 40,
               "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "image_dim": None,
               "added_kv_proj_dim": None, "rope_max_seq_len": 1024, "pos_embed_seq_len": None}
REAL: dict[str, dict[str, dict[str, Any]]] = {
    "qwen-image-edit": {  # Qwen/Qwen-Image-Edit-2511: 20B MMDiT + Qwen2.5-VL-7B
        "transformer": {"patch_size": 2, "in_channels": 64, "out_channels": 16, "num_layers": 60,
                        "attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 3584,
                        "guidance_embeds": False, "axes_dims_rope": [16, 56, 56], "zero_cond_t": True},
        "vae": _QWEN_IMAGE_VAE,
        "text_encoder": {"hidden_size": 3584, "vocab_size": 152064,
                         "text_config": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                                         "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
                                         "rope_parameters": {"mrope_section": [16, 24, 24], "rope_type": "default",
                                                             "rope_theta": 1000000.0}},
                         "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420,
                                           "num_heads": 16, "out_hidden_size": 3584}},
    },
    "flux2-klein": {  # black-forest-labs/FLUX.2-klein-4B: 4B transformer + Qwen3-4B, the FLUX.2 VAE
        "transformer": {"patch_size": 1, "in_channels": 128, "num_layers": 5, "num_single_layers": 20,
                        "attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 7680,
                        "timestep_guidance_channels": 256, "mlp_ratio": 3.0, "axes_dims_rope": [32, 32, 32, 32],
                        "rope_theta": 2000, "eps": 1e-6, "guidance_embeds": False},
        "vae": {"in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 4,
                "up_block_types": ["UpDecoderBlock2D"] * 4, "block_out_channels": [128, 256, 512, 512],
                "layers_per_block": 2, "act_fn": "silu", "latent_channels": 32, "norm_num_groups": 32,
                "sample_size": 1024, "use_quant_conv": True, "use_post_quant_conv": True,
                "mid_block_add_attention": True, "batch_norm_eps": 1e-4, "batch_norm_momentum": 0.1,
                "patch_size": [2, 2]},
        "text_encoder": {"hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36,
                         "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
                         "tie_word_embeddings": True},
    },
    "ltx2": {  # Lightricks/LTX-2: 19B audio-video transformer + Gemma 3 12B, video VAE, audio VAE, vocoder
        "transformer": {"in_channels": 128, "out_channels": 128, "patch_size": 1, "patch_size_t": 1,
                        "num_attention_heads": 32, "attention_head_dim": 128, "cross_attention_dim": 4096,
                        "vae_scale_factors": [8, 32, 32], "pos_embed_max_pos": 20, "base_height": 2048,
                        "base_width": 2048, "audio_in_channels": 128, "audio_out_channels": 128,
                        "audio_patch_size": 1, "audio_patch_size_t": 1, "audio_num_attention_heads": 32,
                        "audio_attention_head_dim": 64, "audio_cross_attention_dim": 2048, "audio_scale_factor": 4,
                        "audio_pos_embed_max_pos": 20, "audio_sampling_rate": 16000, "audio_hop_length": 160,
                        "num_layers": 48, "activation_fn": "gelu-approximate", "qk_norm": "rms_norm_across_heads",
                        "norm_elementwise_affine": False, "norm_eps": 1e-6, "caption_channels": 3840,
                        "attention_bias": True, "attention_out_bias": True, "rope_theta": 10000.0,
                        "rope_double_precision": True, "causal_offset": 1, "timestep_scale_multiplier": 1000,
                        "cross_attn_timestep_scale_multiplier": 1000, "rope_type": "split"},
        "connectors": {"caption_channels": 3840, "text_proj_in_factor": 49, "video_connector_num_attention_heads": 30,
                       "video_connector_attention_head_dim": 128, "video_connector_num_layers": 2,
                       "video_connector_num_learnable_registers": 128, "audio_connector_num_attention_heads": 30,
                       "audio_connector_attention_head_dim": 128, "audio_connector_num_layers": 2,
                       "audio_connector_num_learnable_registers": 128, "connector_rope_base_seq_len": 4096,
                       "rope_theta": 10000.0, "rope_double_precision": True, "causal_temporal_positioning": False,
                       "rope_type": "split"},
        "vae": {"in_channels": 3, "out_channels": 3, "latent_channels": 128, "block_out_channels": [256, 512, 1024, 2048],
                "down_block_types": ["LTX2VideoDownBlock3D"] * 4, "decoder_block_out_channels": [256, 512, 1024],
                "layers_per_block": [4, 6, 6, 2, 2], "decoder_layers_per_block": [5, 5, 5, 5],
                "spatio_temporal_scaling": [True, True, True, True], "decoder_spatio_temporal_scaling": [True, True, True],
                "decoder_inject_noise": [False, False, False, False],
                "downsample_type": ["spatial", "temporal", "spatiotemporal", "spatiotemporal"],
                "upsample_residual": [True, True, True], "upsample_factor": [2, 2, 2], "timestep_conditioning": False,
                "patch_size": 4, "patch_size_t": 1, "resnet_norm_eps": 1e-6, "encoder_causal": True,
                "decoder_causal": False, "encoder_spatial_padding_mode": "zeros",
                "decoder_spatial_padding_mode": "reflect", "spatial_compression_ratio": 32,
                "temporal_compression_ratio": 8},
        "audio_vae": {"base_channels": 128, "output_channels": 2, "ch_mult": [1, 2, 4], "num_res_blocks": 2,
                      "attn_resolutions": None, "in_channels": 2, "resolution": 256, "latent_channels": 8,
                      "norm_type": "pixel", "causality_axis": "height", "dropout": 0.0, "mid_block_add_attention": False,
                      "sample_rate": 16000, "mel_hop_length": 160, "is_causal": True, "mel_bins": 64, "double_z": True},
        "vocoder": {"in_channels": 128, "hidden_channels": 1024, "out_channels": 2,
                    "upsample_kernel_sizes": [16, 15, 8, 4, 4], "upsample_factors": [6, 5, 2, 2, 2],
                    "resnet_kernel_sizes": [3, 7, 11], "resnet_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
                    "leaky_relu_negative_slope": 0.1, "output_sampling_rate": 24000},
        "text_encoder": {"text_config": {"hidden_size": 3840, "intermediate_size": 15360, "num_hidden_layers": 48,
                                         "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256,
                                         "vocab_size": 262208, "sliding_window": 1024,
                                         "max_position_embeddings": 131072}},
    },
    "wan22-i2v": {  # Wan-AI/Wan2.2-I2V-A14B-Diffusers: two 14B experts + umT5-XXL, the Wan2.1 VAE
        "transformer": _WAN_EXPERT,
        "transformer_2": _WAN_EXPERT,
        "vae": {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
                "temperal_downsample": [False, True, True], "dropout": 0.0},
        "text_encoder": {"d_model": 4096, "d_ff": 10240, "d_kv": 64, "num_heads": 64, "num_layers": 24,
                         "vocab_size": 256384, "relative_attention_num_buckets": 32},
    },
}
#: Qwen2.5-VL-7B-Instruct's preprocessor_config.json: min_pixels 3136, max_pixels 12845056.
QWEN_VL_PIXELS = {"shortest_edge": 3136, "longest_edge": 12845056}
#: Published sizes of the denoisers, in billions of parameters (model cards), which the real shapes
#: above must reproduce: `parameter_counts` builds them on the meta device, without memory.
PUBLISHED_B = {"qwen-image-edit": 20.0, "flux2-klein": 4.0, "ltx2": 19.0, "wan22-i2v": 14.0}
#: Engine settings per family (what the profiles use), and what one measurement asks for.
ENGINE: dict[str, dict[str, Any]] = {
    "qwen-image-edit": {"backend": "diffusers-edit", "family": "qwen-image-edit", "steps": 40, "guidance": 4.0},
    "flux2-klein": {"backend": "diffusers-edit", "family": "flux2-klein", "steps": 4, "guidance": 1.0},
    "ltx2": {"backend": "diffusers-ltx2", "steps": 8, "guidance": 1.0, "max_side": 1280},
    "wan22-i2v": {"backend": "diffusers-wan", "steps": 4, "guidance": 1.0, "max_side": 1280},
}
VIDEO_FPS = {"ltx2": 24, "wan22-i2v": 16}


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location("aiuteur_models_tiny_image", ROOT / "models" / "tiny_image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _merge(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    if "num_hidden_layers" in overrides:
        out.pop("layer_types", None)  # one entry per tiny layer: recomputed for the real depth
    for key, value in overrides.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) and key.endswith("_config") else value
    return out


def component_class(library: str, cls_name: str) -> Any:
    """The class a model_index.json entry names (`["diffusers", "AutoencoderKLFlux2"]`, `["ltx2", "LTX2Vocoder"]`)."""
    import diffusers
    import diffusers.pipelines.ltx2

    return getattr(diffusers.pipelines.ltx2 if library == "ltx2" else diffusers, cls_name)


def build_pipeline(family: str, folder: Path, scale: str, device: str, dtype: Any) -> Any:
    """The family's pipeline: non-weight parts from the tiny folder, weight parts at `scale` with random weights."""
    import diffusers
    import torch
    import transformers

    index = json.loads((folder / "model_index.json").read_text())
    components: dict[str, Any] = {}
    overrides = REAL[family] if scale == "real" else {}
    torch.manual_seed(0)
    for name, entry in index.items():
        if name.startswith("_") or not isinstance(entry, list) or entry[0] is None:
            if name in ("boundary_ratio", "expand_timesteps", "is_distilled"):
                components[name] = entry
            continue
        library, cls_name = entry
        sub = folder / name
        if library == "transformers" and cls_name.endswith(("Tokenizer", "TokenizerFast", "Processor")):
            if cls_name == "Qwen2VLProcessor":
                from aiuteur.engines.image_edit import still_image_processor_class

                components[name] = still_image_processor_class().from_pretrained(str(sub))
                if scale == "real":  # Qwen2.5-VL's own pixel budget, so the vision tower sees real-size inputs
                    components[name].image_processor.size = dict(QWEN_VL_PIXELS)
            else:
                components[name] = getattr(transformers, cls_name).from_pretrained(str(sub))
        elif library == "transformers":
            cls = getattr(transformers, cls_name)
            config = cls.config_class.from_pretrained(str(sub)).to_dict()
            config = _merge(config, overrides.get(name, {}))
            with torch.device(device):
                components[name] = cls(cls.config_class.from_dict(config)).to(dtype).eval()
        elif cls_name.endswith("Scheduler") or "scheduler" in name:
            components[name] = getattr(diffusers, cls_name).from_pretrained(str(sub))
        else:
            cls = component_class(library, cls_name)
            # Real scale: the published config alone (nothing of the tiny one leaks in).
            config = dict(overrides[name]) if name in overrides else dict(cls.load_config(str(sub)))
            with torch.device(device):
                components[name] = cls.from_config(config).to(dtype).eval()
    pipe_cls = getattr(diffusers, index["_class_name"])
    accepted = inspect.signature(pipe_cls.__init__).parameters
    return pipe_cls(**{k: v for k, v in components.items() if k in accepted})


def parameter_counts(family: str, models_dir: Path) -> dict[str, int]:
    """Parameters of every weight component of `family` at real size, built on the meta device (no memory)."""
    import torch

    folder = _builder().build_family(models_dir, family)
    pipe = build_pipeline(family, folder, "real", "meta", torch.bfloat16)
    return {name: sum(p.numel() for p in module.parameters())
            for name, module in pipe.components.items() if isinstance(module, torch.nn.Module)}


def _peak_gib(device: str) -> float | None:
    import torch

    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2**30, 1)
    return None


def measure(family: str, scale: str, device: str, models_dir: Path, repeats: int = 1) -> dict[str, Any]:
    """Load time, per-call seconds and peak memory of one family, through its engine."""
    import torch
    from PIL import Image

    from aiuteur.engines.base import ImageRequest, Reference
    from aiuteur.engines.image_edit import DiffusersEditImage
    from aiuteur.engines.video import DiffusersVideo

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    folder = _builder().build_family(models_dir, family)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    pipe = build_pipeline(family, folder, scale, device, dtype)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    row: dict[str, Any] = {"family": family, "scale": scale, "device": device,
                           "load_s": round(time.perf_counter() - t0, 2)}
    spec = {**ENGINE[family], "model": f"tiny/{family}", "device": device}
    side = 1024 if scale == "real" else 64
    colours = [(200, 30, 30), (30, 190, 60), (20, 40, 210)]
    if spec["backend"] == "diffusers-edit":
        engine: Any = DiffusersEditImage.from_spec(spec, models_dir)
        engine.pipe = pipe
        steps = spec["steps"] if scale == "real" else 2
        for n in (1, 3):
            refs = [Reference(Image.new("RGB", (side, side), c), name=f"person {i + 1}", kind="character")
                    for i, c in enumerate(colours[:n])]
            request = ImageRequest(prompt="Two people talk at a kitchen table.", width=side, height=side,
                                   steps=steps, references=refs)
            engine.generate(request)  # warm-up
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                engine.generate(request)
                times.append(time.perf_counter() - t)
            row[f"keyframe_{n}ref_s"] = round(min(times), 2)
        row["size"] = f"{side}x{side}"
    else:
        engine = DiffusersVideo.from_spec({**spec, "max_side": 1280 if scale == "real" else 32}, models_dir)
        engine.pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        if scale != "real":
            engine.options.steps = 2
        fps = VIDEO_FPS[family]
        frames = 5 * fps if scale == "real" else 9
        w, h = (1280, 720) if scale == "real" else (32, 32)
        start, end = Image.new("RGB", (w, h), colours[0]), Image.new("RGB", (w, h), colours[2])
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            engine.render(start, end, "A woman walks to the door.", Path(tmp) / "clip.mp4", num_frames=frames,
                          fps=fps, seed=0)
            row["clip_s"] = round(time.perf_counter() - t, 2)
        row["clip"] = f"{frames} frames {engine.clip_size(start)[0]}x{engine.clip_size(start)[1]}"
        row["scene_20_shots_min"] = round(20 * row["clip_s"] / 60, 1)
    row["peak_gib"] = _peak_gib(device)
    del engine, pipe
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    cols = ["family", "scale", "device", "load_s", "keyframe_1ref_s", "keyframe_3ref_s", "clip", "clip_s",
            "scene_20_shots_min", "peak_gib"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "–")) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--scale", choices=["real", "tiny"], default="real")
    parser.add_argument("--families", default=",".join(REAL))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", type=Path, default=None, help="where the tiny folders are built")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    parser.add_argument("--params", action="store_true",
                        help="only count each component's parameters at real size (meta device: no GPU, no memory)")
    args = parser.parse_args(argv)
    models = args.models or Path(tempfile.mkdtemp(prefix="aiuteur-bench-gpu-"))
    if args.params:
        print("| family | component | parameters (B) | bf16 weights (GiB) |\n|---|---|---|---|")
        counts = {}
        for family in [f for f in args.families.split(",") if f]:
            counts[family] = parameter_counts(family, models)
            for name, n in sorted(counts[family].items(), key=lambda kv: -kv[1]):
                print(f"| {family} | {name} | {n / 1e9:.3f} | {n * 2 / 2**30:.2f} |")
        if args.out:
            args.out.write_text(json.dumps(counts, indent=2))
        return [{"family": f, **c} for f, c in counts.items()]
    rows = []
    for family in [f for f in args.families.split(",") if f]:
        if family not in REAL:
            parser.error(f"unknown family {family!r}; known: {', '.join(REAL)}")
        rows.append(measure(family, args.scale, args.device, models, args.repeats))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
