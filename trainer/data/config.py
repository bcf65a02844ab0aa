"""What the data pipeline reads: the geometry of a clip (shared with the model and the masks) and
the loader's own settings. DataConfig *is* a Geometry plus those settings, so the `data:` section
of a run's config is where frames, size, patch, tubelet and sampling are set, once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainer.data.decode import FrameLimits, Video, check_decoder
from trainer.errors import ConfigError

SAMPLINGS = ("dense", "segments")
RESIZE_ON = ("auto", "loader", "device")


@dataclass(frozen=True)
class Geometry:
    frames: int = 16
    stride: int = 4  # dense sampling: frames apart
    sampling: str = "dense"  # dense: `frames` frames `stride` apart; segments: one frame in each of `frames` parts
    img_size: int = 224
    patch: int = 16
    tubelet: int = 2

    def __post_init__(self):
        if self.sampling not in SAMPLINGS:
            raise ConfigError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {self.sampling!r}")
        if self.frames % self.tubelet:
            raise ConfigError(f"frames ({self.frames}) must be a multiple of tubelet ({self.tubelet})")
        if self.img_size % self.patch:
            raise ConfigError(f"img_size ({self.img_size}) must be a multiple of patch ({self.patch})")

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid (T, H, W), time-major: T = frames / tubelet, H = W = img_size / patch."""
        side = self.img_size // self.patch
        return self.frames // self.tubelet, side, side

    @property
    def tokens(self) -> int:
        t, h, w = self.grid
        return t * h * w

    def model_args(self) -> dict:
        """What a model of this geometry is built with (create_model(name, **geometry.model_args()))."""
        return {"frames": self.frames, "img_size": self.img_size, "patch": self.patch, "tubelet": self.tubelet}


GEOMETRY_FIELDS = tuple(Geometry.__dataclass_fields__)


@dataclass(frozen=True)
class DataConfig(Geometry):
    num_views: int = 1  # repeated sampling: views (crop + mask, or augmentation) per decoded clip
    shuffle_buffer: int = 500
    workers: int = 2
    decode_threads: int = 1
    decoder: str = "torchcodec"  # torchcodec | decord
    decode_device: str = "cpu"  # cpu | cuda (torchcodec; the CPU where no GPU is visible, counted)
    # where pretraining views are resized: loader workers, or the training device (the workers then
    # only decode and crop); auto: the device when a GPU is visible, else the workers
    resize_on: str = "auto"
    seed: int = 0
    # what a decoded frame may cost: larger frames are skipped, larger short sides scaled in the decoder
    max_pixels: int = FrameLimits.max_pixels
    max_short_side: int = FrameLimits.max_short_side
    # a shard member larger than this is not read; None: the largest clip its corpus lists (trainer/data/tars.py)
    max_member_bytes: int | None = None

    def __post_init__(self):
        super().__post_init__()
        check_decoder(self.decoder, self.decode_device)
        if self.resize_on not in RESIZE_ON:
            raise ConfigError(f"resize_on must be one of {', '.join(RESIZE_ON)}, got {self.resize_on!r}")
        for name in ("max_pixels", "max_short_side", "max_member_bytes"):
            value = getattr(self, name)
            if not (value is None and name == "max_member_bytes") and (not isinstance(value, int) or value < 2):
                raise ConfigError(f"data.{name} must be a whole number of at least 2, got {value!r}")

    def open_video(self, source: bytes | Path) -> Video:
        """A clip (a shard member's bytes, or a file) opened with this config's decoder and limits."""
        return Video(source, self.decoder, self.decode_device, self.decode_threads,
                     FrameLimits(self.max_pixels, self.max_short_side))

    @property
    def resizes_on_device(self) -> bool:
        """Whether loader workers leave the resizing of views to the training process."""
        if self.resize_on == "auto":
            import torch

            return torch.cuda.is_available()
        return self.resize_on == "device"

    def geometry(self) -> Geometry:
        return Geometry(**{k: getattr(self, k) for k in GEOMETRY_FIELDS})
