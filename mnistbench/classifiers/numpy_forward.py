"""The inference pass of a small Keras ``Sequential`` convnet, in NumPy, for a few images.

Calling a TensorFlow graph costs about 0.75 ms on this CPU however small the input; the
networks of :mod:`mnistbench.classifiers.cnn` need a tenth of that arithmetic for one image.
:func:`numpy_forward` turns a fitted model into a plain function of NumPy arrays.

It computes what Keras computes: in float32, and for layers whose dtype policy computes in
bfloat16 (``mixed_bfloat16``) it rounds inputs, weights and results to bfloat16 where Keras
does, so an image gets the answer it would get from the TensorFlow graph (up to the order of
float32 additions). Layers or dtypes it does not know make it return ``None``, and the caller
keeps TensorFlow.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def numpy_forward(model):
    """A function from images (N, H, W, C) float32 to the output of ``model``, or ``None`` when
    ``model`` holds a layer or setting this module does not implement."""
    steps = []
    for layer in model.layers:
        if layer.compute_dtype not in ROUNDING:
            return None
        step = STEP_BUILDERS.get(type(layer).__name__, unsupported)(layer)
        if step is None:
            return None
        steps.append(step)

    def forward(images):
        x = np.asarray(images, dtype=np.float32)
        for step in steps:
            x = step(x)
        return x

    return forward


def unsupported(layer):
    return None


def to_bfloat16(x):
    """float32 values rounded to the nearest bfloat16 (kept as float32)."""
    import ml_dtypes  # installed with TensorFlow and Keras, whose models this module runs

    return x.astype(ml_dtypes.bfloat16).astype(np.float32)


ROUNDING = {"float32": lambda x: x, "bfloat16": to_bfloat16}


def rounding(layer):
    """The function that rounds float32 values to ``layer``'s compute dtype."""
    return ROUNDING[layer.compute_dtype]


def activation(layer):
    """The NumPy version of ``layer.activation`` (``None`` for one not implemented)."""
    import keras

    name = keras.activations.serialize(layer.activation)
    name = name if isinstance(name, str) else name.get("config", name.get("class_name"))
    return {"linear": lambda x: x, "relu": relu, "softmax": softmax}.get(name)


def relu(x):
    return np.maximum(x, 0, out=x)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def weights(layer):
    return [np.asarray(w, dtype=np.float32) for w in layer.get_weights()]


def conv2d(layer):
    act = activation(layer)
    if (act is None or layer.data_format != "channels_last" or layer.groups != 1
            or tuple(layer.dilation_rate) != (1, 1) or layer.padding not in ("valid", "same")):
        return None
    rnd = rounding(layer)
    kernel, *bias = [rnd(w) for w in weights(layer)]
    kh, kw, c_in, c_out = kernel.shape
    # patches come out of sliding_window_view as (..., channel, row, column)
    matrix = np.ascontiguousarray(kernel.transpose(2, 0, 1, 3).reshape(c_in * kh * kw, c_out))
    bias = bias[0] if bias else np.zeros(c_out, np.float32)
    sh, sw = layer.strides
    same = layer.padding == "same"

    def step(x):
        x = rnd(x)
        if same:
            x = np.pad(x, ((0, 0), same_padding(x.shape[1], kh, sh),
                           same_padding(x.shape[2], kw, sw), (0, 0)))
        patches = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
        n, rows, columns = patches.shape[:3]
        out = rnd(patches.reshape(n * rows * columns, -1) @ matrix)
        out += bias
        return act(rnd(out).reshape(n, rows, columns, c_out))

    return step


def same_padding(size, kernel, stride):
    """TensorFlow's ``same`` padding (before, after) of one axis."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def max_pooling2d(layer):
    if (layer.padding != "valid" or layer.data_format != "channels_last"
            or tuple(layer.pool_size) != tuple(layer.strides)):
        return None
    ph, pw = layer.pool_size

    def step(x):
        n, h, w, c = x.shape
        h, w = h // ph, w // pw
        blocks = x[:, :h * ph, :w * pw].reshape(n, h, ph, w, pw, c)
        return blocks.max(axis=(2, 4))

    return step


def batch_normalization(layer):
    if layer.axis not in (-1, 3) or getattr(layer, "renorm", False):
        return None

    def value(variable):
        return None if variable is None else np.asarray(variable, dtype=np.float32)

    gamma, beta = value(layer.gamma), value(layer.beta)
    mean, variance = value(layer.moving_mean), value(layer.moving_variance)
    scale = 1 / np.sqrt(variance + np.float32(layer.epsilon))
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale
    if beta is not None:
        shift = shift + beta
    scale, shift = scale.astype(np.float32), shift.astype(np.float32)
    rnd = rounding(layer)  # Keras normalises in float32, then casts to the compute dtype

    def step(x):
        x = x * scale
        x += shift
        return rnd(x)

    return step


def dense(layer):
    act = activation(layer)
    if act is None or (act is softmax and layer.compute_dtype != "float32"):
        return None
    rnd = rounding(layer)
    kernel, *bias = [rnd(w) for w in weights(layer)]
    bias = bias[0] if bias else np.zeros(kernel.shape[1], np.float32)

    def step(x):
        out = rnd(rnd(x) @ kernel)
        out += bias
        return act(rnd(out))

    return step


def resizing(layer):
    """Bilinear upscaling with half-pixel centres (TensorFlow's ``resize``), as two matrix
    products."""
    if (layer.interpolation != "bilinear" or layer.crop_to_aspect_ratio
            or getattr(layer, "pad_to_aspect_ratio", False) or layer.antialias
            or layer.data_format != "channels_last"):
        return None
    height, width = layer.height, layer.width
    rnd = rounding(layer)

    def step(x):
        x = rnd(x)
        if x.shape[1] > height or x.shape[2] > width:
            raise ValueError("the NumPy forward pass only upscales")
        rows, columns = bilinear_matrix(x.shape[1], height), bilinear_matrix(x.shape[2], width)
        return rnd(np.einsum("ih,nhwc,jw->nijc", rows, x, columns, optimize=True))

    return step


def bilinear_matrix(size, new_size):
    """The (new_size, size) matrix of bilinear interpolation with half-pixel centres."""
    source = np.maximum((np.arange(new_size) + 0.5) * (size / new_size) - 0.5, 0)
    low = np.minimum(np.floor(source).astype(int), size - 1)
    high = np.minimum(low + 1, size - 1)
    weight = (source - low).astype(np.float32)
    matrix = np.zeros((new_size, size), dtype=np.float32)
    np.add.at(matrix, (np.arange(new_size), low), 1 - weight)
    np.add.at(matrix, (np.arange(new_size), high), weight)
    return matrix


def flatten(layer):
    return lambda x: x.reshape(len(x), -1)


def identity(layer):
    return lambda x: x


def relu_layer(layer):
    """Keras' ``ReLU`` layer with its default settings (no cap, slope or threshold)."""
    if layer.max_value is not None or layer.negative_slope or layer.threshold:
        return None
    return relu


STEP_BUILDERS = {"Conv2D": conv2d, "MaxPooling2D": max_pooling2d,
                 "BatchNormalization": batch_normalization, "Dense": dense,
                 "Flatten": flatten, "Dropout": identity, "InputLayer": identity,
                 "ReLU": relu_layer, "Resizing": resizing}
