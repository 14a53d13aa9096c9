"""A drawing turned into a 28x28 digit the way MNIST's were made (LeCun et al.): crop to the
bounding box of the ink, scale the longer side to 20 pixels keeping the aspect ratio (anti-aliased
grey levels), and place it in a 28x28 field so that its centre of mass is at the centre.

Images are grey levels 0-255 in MNIST's polarity, white ink (255) on black (0); the page draws
white on black, so its canvas needs no conversion. A PNG that is dark ink on a light background
(its border brighter than mid-grey on average) is inverted first; in a PNG with transparency the
opacity is the ink, whatever its colour.
"""

import io

import numpy as np

SIZE = 28  # the field
BOX = 20  # the longer side of the scaled digit
CENTRE = 14  # MNIST's mean centre of mass, in pixel indices (measured: 14.0, 14.0)
INK = 30  # grey levels above this count as ink when cropping (not faint anti-aliased edges)
MAX_PIXELS = 2048 * 2048  # the largest image accepted, so a small PNG cannot expand to gigabytes


def mnist_digit(image):
    """The 28x28 uint8 digit for ``image``, a 2-D array of grey levels 0-255 (white on black).

    A 28x28 image is taken as already centred (an MNIST digit comes back unchanged); an image
    with no ink comes back as a black 28x28 field.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.shape == (SIZE, SIZE):
        return np.rint(image).astype(np.uint8)
    rows, cols = np.nonzero(image > INK)
    digit = np.zeros((SIZE, SIZE), dtype=np.uint8)
    if not len(rows):
        return digit
    scaled = scale_longer_side(image[rows.min():rows.max() + 1, cols.min():cols.max() + 1])
    weights = scaled.sum()
    y, x = np.indices(scaled.shape)
    top = int(round(CENTRE - (y * scaled).sum() / weights))
    left = int(round(CENTRE - (x * scaled).sum() / weights))
    paste(digit, np.rint(scaled).astype(np.uint8), top, left)
    return digit


def scale_longer_side(crop):
    """``crop`` resized so that its longer side is 20 pixels, with Lanczos anti-aliasing."""
    from PIL import Image

    height, width = crop.shape
    factor = BOX / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    scaled = Image.fromarray(crop, mode="F").resize(size, Image.LANCZOS)
    return np.clip(np.asarray(scaled), 0, 255)


def paste(field, image, top, left):
    """Copy ``image`` into ``field`` with its corner at (top, left), cutting what falls off."""
    y0, x0 = max(top, 0), max(left, 0)
    y1 = min(top + image.shape[0], field.shape[0])
    x1 = min(left + image.shape[1], field.shape[1])
    if y1 > y0 and x1 > x0:
        field[y0:y1, x0:x1] = image[y0 - top:y1 - top, x0 - left:x1 - left]


def png_grey_levels(data):
    """The grey levels of the PNG file ``data`` (bytes), white ink on black.

    Raises
    ------
    ValueError
        If ``data`` is not a PNG image or has more than ``MAX_PIXELS`` pixels.
    """
    from PIL import Image

    # whatever the bytes, a file Pillow cannot open or decode is not an image we can use
    try:
        png = Image.open(io.BytesIO(data), formats=["PNG"])
    except Exception as exc:
        raise ValueError("the image is not a readable PNG file") from exc
    if png.width * png.height > MAX_PIXELS:
        raise ValueError(f"the PNG is {png.width}x{png.height}; at most {MAX_PIXELS:,} pixels "
                         "are accepted")
    try:
        rgba = np.asarray(png.convert("RGBA"), dtype=np.float32)
    except Exception as exc:
        raise ValueError("the PNG file is damaged and cannot be decoded") from exc
    if rgba[..., 3].min() < 255:
        return rgba[..., 3]
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return np.clip(255 - grey if border.mean() > 127.5 else grey, 0, 255)
