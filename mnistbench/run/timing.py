"""Wall-clock measurements of fit, batch predict and single-image predict."""

import time

import numpy as np

WARMUP_CALLS = 10
MIN_CALLS = 100
MAX_CALLS = 2000
MIN_SECONDS = 0.5


def timed(function, *args):
    """Call ``function(*args)``; return ``(result, seconds)``."""
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def single_image_latencies(predict, images):
    """Seconds per ``predict`` call on one image, after warm-up.

    Calls cycle through ``images`` one at a time (batch of one, shape kept), at least
    ``MIN_CALLS`` times and until ``MIN_SECONDS`` have passed, at most ``MAX_CALLS``. Only the
    call itself is inside the timed region.
    """
    singles = [images[i:i + 1] for i in range(min(len(images), MAX_CALLS))]
    for i in range(WARMUP_CALLS):
        predict(singles[i % len(singles)])
    seconds = []
    clock = time.perf_counter
    deadline = clock() + MIN_SECONDS
    while len(seconds) < MAX_CALLS and (len(seconds) < MIN_CALLS or clock() < deadline):
        image = singles[len(seconds) % len(singles)]
        start = clock()
        predict(image)
        seconds.append(clock() - start)
    return np.array(seconds)
