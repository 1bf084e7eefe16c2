"""Files a user can keep: the latent walk as an animated GIF, Compare's samples as a zip of PNGs.

Both take uint8 images (as `sampling.to_uint8` returns them) and return the file's bytes, so
the app, a script or a test decide where the bytes go.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

GIF_FRAME_MS = 120  # how long each walk frame shows
GIF_SCALE = 8  # nearest-neighbour upscaling: 28 px digits become 224 px (a 480 x 224 frame; 4 once made it 240 x 112)
GAP = 4  # black pixels between the teacher and the student in a GIF frame


def _frames(images: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) or (N, H, W) uint8 -> (N, H, W), checked."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or images.dtype != np.uint8 or not len(images):
        raise ValueError(f"expected uint8 images of shape (N, 1, H, W) or (N, H, W), got {images.dtype} {images.shape}")
    return images


def walk_gif(teacher_frames: np.ndarray, student_frames: np.ndarray, *, scale: int = GIF_SCALE, frame_ms: int = GIF_FRAME_MS) -> bytes:
    """An animated GIF, one frame per step of the walk: the teacher on the left, the student on the right.

    The GIF loops forever. Pillow merges a frame identical to the one before into it (their
    times add up), so a walk between two equal seeds is one frame shown for the whole loop.
    """
    from PIL import Image

    teacher, student = _frames(teacher_frames), _frames(student_frames)
    if teacher.shape != student.shape:
        raise ValueError(f"teacher and student frames differ in shape: {teacher.shape} vs {student.shape}")
    count, height, width = teacher.shape
    gap = np.zeros((count, height, GAP), np.uint8)
    side_by_side = np.concatenate([teacher, gap, student], axis=2)  # (F, H, 2W + GAP)
    side_by_side = side_by_side.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(np.ascontiguousarray(frame)) for frame in side_by_side]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()


def png_zip(images: dict[str, np.ndarray]) -> bytes:
    """A zip with one PNG per image: {"teacher": (N, 1, H, W) uint8, ...} -> teacher/000.png, ...

    Stored uncompressed: PNGs are compressed already.
    """
    from PIL import Image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for folder, batch in images.items():
            batch = _frames(batch)
            digits = max(3, len(str(len(batch) - 1)))
            for index, image in enumerate(batch):
                png = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(image)).save(png, format="PNG")
                archive.writestr(f"{folder}/{index:0{digits}d}.png", png.getvalue())
    return buffer.getvalue()
