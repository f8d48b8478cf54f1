"""Test images for robust recovery (You, Zhu, Qu, Ma, NeurIPS 2020, Sec. 4.2): loading,
salt-and-pepper corruption, PSNR, and fetching the paper's four images.

Images come from a folder (the paper's four: F16, Peppers, Baboon, kodim03, from the
authors' repository ChongYou/robust-image-recovery, ``data/denoising``), or from the
images bundled with scikit-image (``skimage.data``), which need no download.
"""

from __future__ import annotations

import difflib
import hashlib
import urllib.request
from pathlib import Path

import numpy as np

#: The paper's test images, with the SHA-256 of the files in the authors' repository.
PAPER_IMAGES = {
    "Baboon": "3714ba077446c372241027cc672f4c32749f95089ffbc0188398e39246e1a440",
    "F16": "33810cc97ab8222e5bbb5fb32394d314d7d53564b008a4bf5371d0044ca45336",
    "Peppers": "d7b926dff30cdbe2760f0f72d0850aac7d9b4bf2ad83a77370cef1e1ded52f9f",
    "kodim03": "e25ca1ff2f0c0cb5fdfd5f9b0a0bb21ac4c3de3c84a67f35b09a85d3306249db",
}
PAPER_IMAGES_URL = "https://raw.githubusercontent.com/ChongYou/robust-image-recovery/master/data/denoising/{name}.png"


class MissingImageError(FileNotFoundError):
    """An image the configuration names is not in the configured folder."""


# ---------------------------------------------------------------------------------------
# Images, corruption, PSNR
# ---------------------------------------------------------------------------------------


def sha256sum(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksums(folder: Path) -> dict[str, str]:
    """File name to SHA-256 from ``folder/SHA256SUMS`` (``sha256sum`` format), if present."""
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[1].lstrip("*")] = parts[0]
    return out


def _how_to_fill(folder: Path) -> str:
    return (
        f"Put the paper's images (F16.png, Peppers.png, Baboon.png, kodim03.png) in {folder}: "
        f"they are in the authors' repository https://github.com/ChongYou/robust-image-recovery, "
        f"folder data/denoising; `python -m implicit_bias.image_data fetch {folder}` downloads them "
        f"and checks their SHA-256. Or set the config key image_dir to a folder that holds them, "
        f"or use image_source: skimage (the smoke and quick sizes do)."
    )


def image_path(name: str, folder: str | Path) -> Path:
    """The file of image ``name`` in ``folder`` (``name.png``, else any ``name.*``).

    :raises MissingImageError: naming the folder and how to fill it.
    """
    folder = Path(folder)
    path = folder / f"{name}.png"
    if path.exists():
        return path
    others = sorted(folder.glob(f"{name}.*")) if folder.is_dir() else []
    others = [p for p in others if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")]
    if others:
        return others[0]
    where = "does not exist" if not folder.is_dir() else "has no such file"
    raise MissingImageError(f"image {name!r} not found: the image folder {folder} {where}. {_how_to_fill(folder)}")


def crop_to_multiple(image: np.ndarray, multiple: int = 32) -> np.ndarray:
    """Centre-crop height and width down to multiples of ``multiple`` (as DIP does)."""
    h, w = image.shape[:2]
    nh, nw = h - h % multiple, w - w % multiple
    if nh == 0 or nw == 0:
        raise ValueError(f"image of size {h}x{w} is smaller than {multiple} pixels")
    top, left = (h - nh) // 2, (w - nw) // 2
    return image[top : top + nh, left : left + nw]


def _as_rgb_float(image: np.ndarray) -> np.ndarray:
    import skimage.util

    image = skimage.util.img_as_float64(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.shape[-1] == 4:
        image = image[..., :3]
    return np.clip(image, 0.0, 1.0)


#: The images scikit-image ships in its distribution (``skimage.data``), needing no download.
SKIMAGE_BUNDLED = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "job",
    "checkerboard",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "shepp_logan_phantom",
    "text",
)


def check_images(names, source: str, folder: str | Path | None, min_side: int = 64) -> list[str]:
    """What is wrong with the images a sweep names, before any job runs: each message names
    the image and says what to do.

    :param names: the image names.
    :param source: ``folder`` or ``skimage``.
    :param folder: the image folder (for ``folder``).
    :param min_side: the smallest side the network takes.
    """
    msgs = []
    for name in names:
        try:
            if source == "skimage" and name not in SKIMAGE_BUNDLED:
                close = difflib.get_close_matches(name, SKIMAGE_BUNDLED, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                msgs.append(
                    f"{name!r} is not an image bundled with scikit-image{hint}; the bundled images: "
                    f"{', '.join(SKIMAGE_BUNDLED)}"
                )
                continue
            image = load_image(name, source, folder)
        except (MissingImageError, ValueError) as exc:
            msgs.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 (a damaged file: the decoder's own error type)
            msgs.append(f"image {name!r} in {folder} cannot be decoded ({type(exc).__name__}: {exc})")
            continue
        if min(image.shape[:2]) < min_side:
            msgs.append(
                f"{name!r} is {image.shape[0]}x{image.shape[1]} pixels; the network needs {min_side} or more a side"
            )
    return msgs


def load_image(
    name: str,
    source: str = "folder",
    folder: str | Path | None = None,
    size: int | None = None,
    multiple: int = 32,
    verify: bool = True,
) -> np.ndarray:
    """An RGB image as an ``(H, W, 3)`` float64 array in [0, 1].

    :param name: the image's name: a file stem in ``folder`` (``F16``) or, for
        ``source="skimage"``, a function of :mod:`skimage.data` (``astronaut``, ``coffee``).
    :param source: ``folder`` or ``skimage``.
    :param folder: the image folder (for ``source="folder"``). If it holds a
        ``SHA256SUMS`` file, the image's checksum is verified.
    :param size: None keeps the image, centre-cropped to multiples of ``multiple``
        (the paper); an integer centre-crops the largest square and resizes it (with
        anti-aliasing) to ``size x size``, which must itself be a multiple of ``multiple``.
    :param multiple: the network needs sizes divisible by ``2**scales``.
    :param verify: check the checksum when the folder lists one.
    :raises MissingImageError: when the image is not in the folder.
    """
    import skimage.data
    import skimage.io
    import skimage.transform

    if source == "skimage":
        if name not in SKIMAGE_BUNDLED:
            raise ValueError(
                f"{name!r} is not an image bundled with scikit-image; the bundled images: {', '.join(SKIMAGE_BUNDLED)}"
            )
        image = getattr(skimage.data, name)()
    elif source == "folder":
        if folder is None:
            raise ValueError("source='folder' needs a folder")
        path = image_path(name, folder)
        expected = _checksums(Path(folder)).get(path.name)
        if verify and expected is not None and sha256sum(path) != expected:
            raise ValueError(f"{path}: SHA-256 differs from {Path(folder) / 'SHA256SUMS'}; the file is not the paper's")
        image = skimage.io.imread(path)
    else:
        raise ValueError(f"image source must be 'folder' or 'skimage', got {source!r}")
    image = _as_rgb_float(image)
    if size is None:
        return crop_to_multiple(image, multiple)
    if size % multiple:
        raise ValueError(f"image size {size} is not a multiple of {multiple}")
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side]
    resized = skimage.transform.resize(square, (size, size), anti_aliasing=True, order=3)
    return np.clip(resized, 0.0, 1.0)


def salt_and_pepper(image: np.ndarray, p: float, seed: int | np.random.Generator) -> np.ndarray:
    """Salt-and-pepper corruption: a fraction ``p`` of the entries set to 0 or 1, equally likely.

    Each entry (pixel and channel) is its own draw, as in the paper's code
    (``skimage.util.random_noise(mode="s&p", amount=p)``).
    """
    import skimage.util

    if p == 0:
        return image.copy()
    return skimage.util.random_noise(image, mode="s&p", amount=p, rng=seed, salt_vs_pepper=0.5)


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB with data range 1: ``10 log10(1 / MSE)``."""
    import skimage.metrics

    return float(skimage.metrics.peak_signal_noise_ratio(clean, estimate, data_range=1.0))


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Save an ``(H, W, 3)`` image in [0, 1] as an 8-bit PNG, atomically."""
    import skimage.io
    import skimage.util

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    skimage.io.imsave(tmp, skimage.util.img_as_ubyte(np.clip(image, 0.0, 1.0)), check_contrast=False)
    tmp.replace(path)


def fetch_paper_images(folder: str | Path, names=tuple(PAPER_IMAGES)) -> list[Path]:
    """Download the paper's images from the authors' repository into ``folder``, verified.

    Files already present with the right checksum are kept. Writes ``SHA256SUMS``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        path = folder / f"{name}.png"
        if not (path.exists() and sha256sum(path) == PAPER_IMAGES[name]):
            tmp = path.with_name(path.name + ".part")
            with urllib.request.urlopen(PAPER_IMAGES_URL.format(name=name), timeout=60) as resp:
                tmp.write_bytes(resp.read())
            if sha256sum(tmp) != PAPER_IMAGES[name]:
                tmp.unlink()
                raise ValueError(f"download of {name} has the wrong SHA-256; not kept")
            tmp.replace(path)
        out.append(path)
    sums = "".join(f"{PAPER_IMAGES[n]}  {n}.png\n" for n in sorted(PAPER_IMAGES))
    (folder / "SHA256SUMS").write_text(sums)
    return out


# ---------------------------------------------------------------------------------------
# Training: one loop for DIP, DIP-l1 and DOP, with checkpoints
# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """``python -m implicit_bias.image_data fetch FOLDER``: download the paper's images."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m implicit_bias.image_data", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download the paper's four images, checking SHA-256")
    fetch.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    for path in fetch_paper_images(args.folder):
        print(path)


if __name__ == "__main__":
    main()
