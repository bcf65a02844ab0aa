"""image: decode a fetched image, check it, store it resized as JPEG with its signature; each
pending row of the task (one per caption list of that image) becomes a one-frame sample."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corpus.media.images import ImageEncoding, store_image
from corpus.options import CLIP, MediaOptions
from corpus.steps.base import Step, Task
from manifests.options import option
from manifests.sample import clip_key


@dataclass(frozen=True)
class ImageOptions:
    """How images (the images source) are kept; their short side and pixel cap are the media section's."""


    min_side: int = option(64, "images: smaller images (short side, px) fail as too_small.", output=True, panel=CLIP)
    quality: int = option(90, "images: JPEG quality of stored images.", output=True, flag="--jpeg-quality",
                          panel=CLIP)


class StoreImage(Step):
    name = "image"
    Options = ImageOptions
    reads = ("media",)

    def __init__(self, options: ImageOptions, media: MediaOptions) -> None:
        super().__init__(options, media=media)
        self.encoding = ImageEncoding(media.short_side, options.min_side, media.max_pixels, options.quality)

    def process(self, task: Task) -> None:
        task.make_workdir()
        first = task.pending[0]
        key = clip_key(first["source"], first["video_id"], 0.0, 0.0)
        got = store_image(task.file, Path(task.workdir) / f"{key}.jpg", self.encoding)
        for row in task.pending:
            row.update(status="ok", clips=1, width=got.source_width, height=got.source_height,
                       codec=got.format.lower(), duration_s=None, fps=None)
            task.clips.append(task.clip_of(
                row, file=str(got.path), clip_key=clip_key(row["source"], row["video_id"], 0.0, 0.0), start_s=0.0,
                end_s=0.0, duration_s=0.0, fps=None, frames=1, width=got.width, height=got.height, bytes=got.bytes,
                sha256=got.sha256, signature=got.signature, signature_views=got.signature_views,
                signature_masked=got.signature_masked, media="image",
                motion=None,
            ))
