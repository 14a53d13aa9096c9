"""Named image transforms: the shift suite a fitted model is evaluated on, and the augmentations a
model can be trained with (the same functions, so "trained on rot180" means the images
``--shifts rot180`` tests on).

Every transform takes images of shape (N, H, W) holding grey levels 0-255 (uint8, or floats on
that scale) and returns new images of the same shape and dtype; uint8 results are rounded and
clipped. Distances are in pixels and angles in degrees, so on the 8x8 ``digits`` a shift of 4
pixels moves a digit half its width. The random transforms (noise) draw from
``numpy.random.default_rng(seed)``: the same seed gives the same images, whatever the machine.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mnistbench.errors import ParameterError


@dataclass(frozen=True)
class Transform:
    """A named transform: ``function(images, rng)`` on float32 images, and what it does."""

    name: str
    description: str
    function: object
    random: bool = False


def _rotate(degrees):
    def rotate(images, rng):
        if degrees == 180:  # exact: no interpolation
            return images[:, ::-1, ::-1]
        # counter-clockwise about the centre, bilinear, ink leaving the frame is lost
        return ndimage.rotate(images, degrees, axes=(2, 1), reshape=False, order=1,
                              mode="constant", cval=0.0)
    return rotate


def _shift(pixels):
    def shift(images, rng):
        return ndimage.shift(images, (0, pixels, pixels), order=0, mode="constant", cval=0.0)
    return shift


def _gaussian_noise(sigma):
    def noise(images, rng):
        return images + rng.normal(0.0, sigma * 255.0, images.shape).astype(np.float32)
    return noise


def _impulse(images, rng, amount=0.1):
    draw = rng.random(images.shape)
    noisy = images.copy()
    noisy[draw < amount / 2] = 0.0
    noisy[(draw >= amount / 2) & (draw < amount)] = 255.0
    return noisy


CROSS = ndimage.generate_binary_structure(2, 1)[None]  # 3x3 plus-shaped footprint, per image


def _dilate(images, rng):
    return ndimage.grey_dilation(images, footprint=CROSS)


def _erode(images, rng):
    return ndimage.grey_erosion(images, footprint=CROSS)


def _blur(images, rng):
    return ndimage.gaussian_filter(images, sigma=(0, 1.0, 1.0))


def _affine(matrix):
    """An affine map of each image about its centre; ``matrix`` maps output (row, col) offsets
    from the centre to input offsets."""
    matrix = np.asarray(matrix, dtype=float)

    def transform(images, rng):
        height, width = images.shape[1:]
        centre = np.array([(height - 1) / 2, (width - 1) / 2])
        full = np.eye(3)
        full[1:, 1:] = matrix
        offset = np.concatenate([[0.0], centre - matrix @ centre])
        return ndimage.affine_transform(images, full, offset=offset, order=1, mode="constant",
                                        cval=0.0)
    return transform


SHEAR = 0.3  # horizontal shear: a row moves 0.3 px left per row below the centre (italics)
SCALE = 0.75  # the digit shrinks to three quarters of its size about the centre

TRANSFORMS = {transform.name: transform for transform in (
    Transform("rot180", "rotated by 180 degrees (exact)", _rotate(180)),
    Transform("rot15", "rotated 15 degrees counter-clockwise (bilinear)", _rotate(15)),
    Transform("rot-15", "rotated 15 degrees clockwise (bilinear)", _rotate(-15)),
    Transform("rot30", "rotated 30 degrees counter-clockwise (bilinear)", _rotate(30)),
    Transform("rot-30", "rotated 30 degrees clockwise (bilinear)", _rotate(-30)),
    Transform("shift2", "moved 2 pixels right and 2 down (ink leaving the frame is lost)",
              _shift(2)),
    Transform("shift4", "moved 4 pixels right and 4 down (ink leaving the frame is lost)",
              _shift(4)),
    Transform("noise0.1", "Gaussian noise, sigma 0.1 of the pixel range, clipped",
              _gaussian_noise(0.1), random=True),
    Transform("noise0.3", "Gaussian noise, sigma 0.3 of the pixel range, clipped",
              _gaussian_noise(0.3), random=True),
    Transform("impulse", "salt-and-pepper noise: 5% of pixels set to 0, 5% to 255", _impulse,
              random=True),
    Transform("invert", "grey levels inverted (255 - x): white digit on black becomes black "
              "on white", lambda images, rng: 255.0 - images),
    Transform("thick", "strokes thickened: grey-scale dilation, 3x3 cross", _dilate),
    Transform("thin", "strokes thinned: grey-scale erosion, 3x3 cross", _erode),
    Transform("blur", "Gaussian blur, sigma 1 pixel", _blur),
    Transform("shear", f"sheared horizontally by {SHEAR} about the centre, leaning right like "
              "italics (bilinear)",
              _affine([[1.0, 0.0], [SHEAR, 1.0]])),
    Transform("scale", f"shrunk to {SCALE:g} of its size about the centre (bilinear)",
              _affine(np.eye(2) / SCALE)),
)}


def transform_names():
    """Every transform's name, in suite order."""
    return list(TRANSFORMS)


def parse_transforms(text, what="transform"):
    """``"rot180,blur"`` (or a list) -> ``["rot180", "blur"]``; ``"all"`` is every transform,
    ``"none"`` or empty is none.

    Raises
    ------
    ParameterError
        For an unknown name, naming the valid ones.
    """
    if text is None:
        return []
    names = [name.strip() for name in (text.split(",") if isinstance(text, str) else text)]
    names = [name for name in names if name and name != "none"]
    if names == ["all"]:
        return transform_names()
    unknown = [name for name in names if name not in TRANSFORMS]
    if unknown or not all(isinstance(name, str) for name in names):
        raise ParameterError(f"unknown {what} {', '.join(map(repr, unknown))}; choose from: "
                             f"{', '.join(TRANSFORMS)} (or 'all', or 'none')")
    return list(dict.fromkeys(names))


def apply_transform(name, images, seed=0):
    """``images`` (N, H, W), grey levels 0-255, transformed by the transform ``name``.

    Parameters
    ----------
    name : str
        A name from :data:`TRANSFORMS`.
    images : numpy.ndarray, shape (N, H, W)
        uint8, or floats on the 0-255 scale.
    seed : int
        Seeds the random transforms; the others ignore it.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``images``, values clipped to [0, 255] (and rounded for uint8).
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"transforms take images of shape (N, H, W), got shape {images.shape}")
    transform = TRANSFORMS[parse_transforms([name])[0]]
    rng = np.random.default_rng(seed)
    out = np.clip(transform.function(images.astype(np.float32), rng), 0.0, 255.0)
    if images.dtype == np.uint8:
        return np.rint(out).astype(np.uint8)
    return out.astype(images.dtype if images.dtype.kind == "f" else np.float32)


def augmented(X, y, names, seed=0):
    """The training set ``X, y`` followed by one transformed copy per name in ``names``.

    ``X`` holds images (N, H, W) or square images as rows (N, H*W); the copies come back in
    the same layout. The copy made by the ``i``-th name is seeded with ``seed + i``.
    """
    names = parse_transforms(names, "augmentation")
    if not names:
        return X, y
    images = as_square_images(X)
    copies = [X] + [apply_transform(name, images, seed + i).reshape(X.shape)
                    for i, name in enumerate(names)]
    return np.concatenate(copies), np.concatenate([y] * len(copies))


def as_square_images(X):
    """``X`` as (N, side, side) images: rows of side*side pixels are folded."""
    X = np.asarray(X)
    if X.ndim == 3:
        return X
    side = int(round(np.sqrt(X.shape[1])))
    if X.ndim != 2 or side * side != X.shape[1]:
        raise ValueError(f"transforms need square images; got rows of {X.shape[1:]} pixels")
    return X.reshape(len(X), side, side)
