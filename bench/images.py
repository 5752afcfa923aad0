"""Benchmark: the image engine with two IP-Adapter references against plain diffusers.

It builds a random-weight SDXL pipeline (tiny dims by default, or the real SDXL-base shapes with
`--dims full`) plus a standard IP-Adapter of matching shape (ViT-H image encoder), saves them to
a models folder and then times, with the same seed, size and steps:

  plain       StableDiffusionXLPipeline from that folder, no adapter (plain diffusers)
  diffusers2  the same pipeline with the adapter loaded twice by diffusers itself and two images
  engine2     DiffusersImage.generate with two references (embeddings cached after warm-up)

and reports medians and the ratios engine2/plain (target <= 1.1) and engine2/diffusers2.

    python bench/images.py                                   # CPU: tiny dims, 128², 4 steps
    python bench/images.py --device cuda      # the SDXL-size case: full dims, 1024², 30 steps

Results are appended to docs/benchmarks.md under an "Engines: image" heading (--no-write to skip).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DIMS: dict[str, dict[str, Any]] = {
    "tiny": {
        "unet": dict(
            block_out_channels=(8, 16), layers_per_block=1, sample_size=32,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
            transformer_layers_per_block=(1, 2), addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=80, cross_attention_dim=64, norm_num_groups=4,
        ),
        "text": dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=32),
        "text2": dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=32),
        "vae": dict(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, sample_size=64),
        "vision": dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                       image_size=32, patch_size=8, projection_dim=32),
    },
    "full": {  # the shapes of stabilityai/stable-diffusion-xl-base-1.0 and h94's ViT-H encoder
        "unet": dict(
            block_out_channels=(320, 640, 1280), layers_per_block=2, sample_size=128,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10),
            addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
            cross_attention_dim=2048, norm_num_groups=32,
        ),
        "text": dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                     projection_dim=768),
        "text2": dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
                      projection_dim=1280),
        "vae": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32,
                    sample_size=1024, scaling_factor=0.13025, force_upcast=True),
        "vision": dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
                       image_size=224, patch_size=14, projection_dim=1024),
    },
}  # fmt: skip


def load_tiny_builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "aiuteur_models_tiny_image", REPO / "models" / "tiny_image.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(models_dir: Path, dims: str, device: str, dtype: Any) -> None:
    """Write bench/sdxl-<dims> (pipeline) and bench/ip-adapter-<dims>/sdxl_models (adapter)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from safetensors.torch import save_file
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    pipe_dir, ipa_dir = models_dir / f"bench/sdxl-{dims}", models_dir / f"bench/ip-adapter-{dims}"
    if (pipe_dir / "model_index.json").is_file() and (
        ipa_dir / "sdxl_models/ip-adapter.safetensors"
    ).is_file():
        return
    tiny = load_tiny_builder()
    d = DIMS[dims]
    torch.manual_seed(0)
    with torch.device(device):  # random init directly on the GPU for the full-size case
        unet = UNet2DConditionModel(
            in_channels=4,
            out_channels=4,
            use_linear_projection=True,
            addition_embed_type="text_time",
            **d["unet"],
        )
        common = dict(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, vocab_size=1000, max_position_embeddings=77
        )
        text = CLIPTextModel(CLIPTextConfig(**common, **d["text"]))
        text2 = CLIPTextModelWithProjection(CLIPTextConfig(**common, **d["text2"]))
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4,
            down_block_types=["DownEncoderBlock2D"] * len(d["vae"]["block_out_channels"]),
            up_block_types=["UpDecoderBlock2D"] * len(d["vae"]["block_out_channels"]), **d["vae"],
        )  # fmt: skip
        vision = CLIPVisionModelWithProjection(CLIPVisionConfig(**d["vision"]))
    ip_state = tiny._standard_ip_state_dict(unet, d["vision"]["projection_dim"])  # reads shapes only
    tok = tiny._clip_tokenizer(models_dir / "bench/_tok")
    sched = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text,
        text_encoder_2=text2,
        tokenizer=tok,
        tokenizer_2=tok,
        unet=unet,
        scheduler=sched,
    )
    pipe.to(dtype=dtype)
    pipe.save_pretrained(str(pipe_dir))
    (ipa_dir / "sdxl_models").mkdir(parents=True, exist_ok=True)
    vision.to(dtype=dtype).save_pretrained(str(ipa_dir / "sdxl_models/image_encoder"))
    save_file(
        {k: v.to(dtype).contiguous() for k, v in ip_state.items()},
        str(ipa_dir / "sdxl_models/ip-adapter.safetensors"),
    )


def timed(fn: Callable[[], Any], repeats: int, device: str) -> list[float]:
    import torch

    out = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        out.append(time.perf_counter() - start)
    return out


def free(device: str) -> None:
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from diffusers import StableDiffusionXLPipeline
    from PIL import Image

    from aiuteur.engines.base import ImageRequest, Reference
    from aiuteur.engines.image_diffusers import DiffusersImage

    torch.set_num_threads(torch.get_num_threads())
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    models_dir = Path(args.models_dir or tempfile.mkdtemp(prefix="aiuteur-bench-"))
    t0 = time.perf_counter()
    build(models_dir, args.dims, args.device, dtype)
    build_s = time.perf_counter() - t0
    pipe_dir = str(models_dir / f"bench/sdxl-{args.dims}")
    ipa_dir = str(models_dir / f"bench/ip-adapter-{args.dims}")
    refs = [Image.new("RGB", (224, 224), (200, 30, 30)), Image.new("RGB", (224, 224), (20, 40, 210))]
    scales = [0.7, 0.5]
    call = dict(prompt="a knight in a red cloak, plain background", height=args.size, width=args.size,
                num_inference_steps=args.steps, guidance_scale=5.0)  # fmt: skip
    results: dict[str, list[float]] = {"plain": [], "diffusers2": [], "engine2": []}

    def load_pipe() -> Any:
        p = StableDiffusionXLPipeline.from_pretrained(pipe_dir, dtype=dtype, local_files_only=True).to(
            args.device
        )
        p.set_progress_bar_config(disable=True)
        return p

    # 1. Plain diffusers, no adapter.
    plain_pipe = load_pipe()
    # 2. Diffusers itself with the adapter loaded twice and two images.
    ipa_pipe = load_pipe()
    ipa_pipe.load_ip_adapter(
        ipa_dir, subfolder=["sdxl_models", "sdxl_models"], weight_name=["ip-adapter.safetensors"] * 2,
        local_files_only=True,
    )  # fmt: skip
    ipa_pipe.image_encoder.to(args.device, dtype)
    ipa_pipe.set_ip_adapter_scale(scales)
    # 3. The engine with two references.
    engine = DiffusersImage.from_spec(
        {
            "backend": "diffusers", "family": "sdxl", "model": pipe_dir, "device": args.device,
            "ip_adapter": {"path": ipa_dir, "subfolder": "sdxl_models", "weight_name": "ip-adapter.safetensors"},
        },
        models_dir,
    )  # fmt: skip
    request = ImageRequest(
        prompt=call["prompt"], width=args.size, height=args.size, steps=args.steps, seed=0, guidance=5.0,
        references=[Reference(r, s, f"bench-{i}") for i, (r, s) in enumerate(zip(refs, scales, strict=True))],
    )  # fmt: skip
    t0 = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - t0

    runs: dict[str, Callable[[], Any]] = {
        "plain": lambda: plain_pipe(**call, generator=torch.Generator("cpu").manual_seed(0)),
        "diffusers2": lambda: ipa_pipe(
            **call, ip_adapter_image=refs, generator=torch.Generator("cpu").manual_seed(0)
        ),
        "engine2": lambda: engine.generate(request),
    }
    results["engine2_first"] = timed(runs["engine2"], 1, args.device)  # embeddings not cached yet
    runs["plain"]()  # warm-up
    runs["diffusers2"]()
    # Interleaved rounds, so a change in machine load hits every variant alike.
    for _ in range(args.repeats):
        for name, fn in runs.items():
            results[name] += timed(fn, 1, args.device)
    free(args.device)

    med = {k: statistics.median(v) for k, v in results.items()}
    device_name = (
        torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "cpu"
    )
    return {
        "dims": args.dims, "device": args.device, "device_name": device_name, "dtype": str(dtype).split(".")[-1],
        "size": args.size, "steps": args.steps, "repeats": args.repeats, "threads": torch.get_num_threads(),
        "build_s": round(build_s, 2), "engine_load_s": round(load_s, 2),
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "engine2_over_plain": round(med["engine2"] / med["plain"], 3),
        "engine2_over_diffusers2": round(med["engine2"] / med["diffusers2"], 3),
    }  # fmt: skip


def markdown(r: dict[str, Any]) -> str:
    m = r["median_s"]
    return "\n".join(
        [
            f"### {time.strftime('%Y-%m-%d')} · {r['dims']} SDXL dims · {r['size']}² · {r['steps']} steps · "
            f"{r['device']} ({r['device_name']}, {r['dtype']}, {r['threads']} threads)",
            "",
            "| run | median s |",
            "|---|---|",
            f"| plain diffusers, no adapter | {m['plain']:.4f} |",
            f"| diffusers, 2 adapters × 1 image | {m['diffusers2']:.4f} |",
            f"| engine, 2 references (cached embeddings) | {m['engine2']:.4f} |",
            f"| engine, 2 references, first call (embeds computed) | {m['engine2_first']:.4f} |",
            "",
            f"engine2 / plain = **{r['engine2_over_plain']}×** (target ≤ 1.1×); "
            f"engine2 / diffusers2 = {r['engine2_over_diffusers2']}×. "
            f"Build {r['build_s']} s, engine load {r['engine_load_s']} s, {r['repeats']} interleaved rounds after a warm-up.",
            "",
        ]
    )


def append_to_docs(text: str, path: Path) -> None:
    heading = "## Engines: image"
    body = path.read_text() if path.exists() else "# Benchmarks\n"
    if heading not in body:
        body = body.rstrip() + f"\n\n{heading}\n\nMeasured by `bench/images.py` (see its docstring).\n"
    # Insert at the end of the "Engines: image" section.
    start = body.index(heading)
    nxt = body.find("\n## ", start + len(heading))
    cut = len(body) if nxt == -1 else nxt + 1
    body = body[:cut].rstrip() + "\n\n" + text + ("\n" + body[cut:] if nxt != -1 else "")
    path.write_text(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--dims", choices=sorted(DIMS), default=None, help="default: full on cuda, tiny on cpu"
    )
    parser.add_argument("--size", type=int, default=None, help="default: 1024 on cuda, 128 on cpu")
    parser.add_argument("--steps", type=int, default=None, help="default: 30 on cuda, 4 on cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--models-dir", default=None, help="reuse built weights here (default: a temp folder)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not append to docs/benchmarks.md")
    parser.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    gpu = args.device.startswith("cuda")
    args.dims = args.dims or ("full" if gpu else "tiny")
    args.size = args.size or (1024 if gpu else 128)
    args.steps = args.steps or (30 if gpu else 4)
    result = run(args)
    print(json.dumps(result, indent=2))
    text = markdown(result)
    print(text)
    if not args.no_write:
        append_to_docs(text, Path(args.docs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
