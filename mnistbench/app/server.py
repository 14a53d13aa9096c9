"""The web app: ``GET /`` serves the drawing page, ``POST /predict`` asks every model.

Every request is checked before it reaches a model: at most ``MAX_BODY`` bytes are read, the body
must be JSON of the documented shape, and anything else gets a 4xx whose ``detail`` is one
sentence. Models are called one request at a time (a lock), so memory stays bounded whatever
clients send; uvicorn's ``limit_concurrency`` bounds the requests waiting.
"""

import base64
import binascii
import json
import threading
import time
from importlib.resources import files
from typing import List, Union

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from mnistbench.app.preprocess import MAX_PIXELS, SIZE, mnist_digit, png_grey_levels

MAX_BODY = 1_000_000  # bytes


class PredictRequest(BaseModel):
    image: Union[List[List[float]], str] = Field(
        description="A 28x28 array of grey levels 0-255, white ink on black, given to the models "
                    "as it is; or a larger array (e.g. a 280x280 canvas) or a PNG as base64 "
                    "(a data: URL too), cropped, scaled and centred as MNIST's digits were. "
                    "Images smaller than 28x28 are refused.")


class ModelAnswer(BaseModel):
    name: str
    digit: int
    probabilities: List[float] = Field(description="the ten class probabilities, digit 0 first")
    latency_ms: float = Field(description="the model's predict_proba time for this image")


class PredictResponse(BaseModel):
    image28: List[List[int]] = Field(description="the 28x28 image the models saw")
    models: List[ModelAnswer]


class BadRequest(HTTPException):
    def __init__(self, message, status=400):
        super().__init__(status_code=status, detail=message)


def create_app(models):
    """The FastAPI app answering with ``models``, a dict of display name -> fitted classifier."""
    app = FastAPI(title="mnistbench: draw a digit",
                  description=f"Draw a digit; every loaded model says what it sees. Request "
                              f"bodies are limited to {MAX_BODY:,} bytes.")
    lock = threading.Lock()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return files("mnistbench.app").joinpath("page.html").read_text(encoding="utf-8")

    @app.post("/predict", response_model=PredictResponse,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PredictRequest.model_json_schema()}}}},
              responses={400: {"description": "not JSON, or a Content-Length that is no number"},
                         413: {"description": f"body over {MAX_BODY:,} bytes"},
                         415: {"description": "content type other than application/json"},
                         422: {"description": "not the documented shape, smaller than "
                                              "28x28, a value out of range, not a PNG"}})
    async def predict(request: Request):
        """The 28x28 image the models see, and each model's digit, probabilities and latency."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise BadRequest("send the request as JSON with Content-Type: application/json", 415)
        image = at_least_28x28(parse_image(await read_body(request)))
        digit = await run_in_threadpool(mnist_digit, image)
        return await run_in_threadpool(answer, models, digit, lock)

    @app.exception_handler(HTTPException)
    async def one_line(request, exc):
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)

    return app


async def read_body(request):
    """The request body, refused with 413 as soon as it is known to exceed ``MAX_BODY``."""
    too_big = BadRequest(f"the request body is larger than the {MAX_BODY:,} bytes accepted", 413)
    try:
        if int(request.headers.get("content-length", 0)) > MAX_BODY:
            raise too_big
    except ValueError:
        raise BadRequest("the Content-Length header is not a number") from None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise too_big
    return bytes(body)


def parse_image(body):
    """The grey levels (2-D float array, 0-255) that the JSON ``body`` holds."""
    def no_constants(name):
        raise BadRequest(f"{name} is not a grey level; values must be numbers from 0 to 255", 422)

    try:
        payload = json.loads(body, parse_constant=no_constants)
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(payload, dict) or set(payload) != {"image"}:
        raise BadRequest('the JSON must be an object with one key, "image"', 422)
    image = payload["image"]
    if isinstance(image, str):
        return png_image(image)
    if not isinstance(image, list):
        raise BadRequest('"image" must be an array of rows of grey levels or a base64 PNG', 422)
    try:
        array = np.array(image)
    except ValueError:
        raise BadRequest('"image" must be a 2-D array: rows of grey levels, all the same length',
                         422) from None
    if array.ndim != 2 or min(array.shape) < 1:
        raise BadRequest(f'"image" must be a 2-D array (rows of grey levels); got shape '
                         f'{array.shape}', 422)
    if array.dtype.kind not in "iuf":
        raise BadRequest('"image" values must be numbers (grey levels from 0 to 255)', 422)
    if array.size > MAX_PIXELS:
        raise BadRequest(f'"image" has {array.size:,} pixels; at most {MAX_PIXELS:,}', 422)
    array = array.astype(np.float64)
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
        raise BadRequest(f'"image" values must be grey levels from 0 to 255; got values from '
                         f'{array.min():g} to {array.max():g}', 422)
    return array


def at_least_28x28(image):
    """``image``, refused with 422 if either side is under MNIST's 28 pixels: a smaller image
    would have to be enlarged, which the documented preprocessing never does."""
    if min(image.shape) < SIZE:
        raise BadRequest(f'"image" is {image.shape[0]}x{image.shape[1]} pixels; the models need '
                         f"at least {SIZE}x{SIZE}", 422)
    return image


def png_image(text):
    """The grey levels of a base64 PNG, optionally a ``data:image/png;base64,`` URL."""
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if header != "data:image/png;base64":
            raise BadRequest("a data URL must be data:image/png;base64,...", 422)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest('"image" as a string must be a PNG file in base64', 422) from None
    try:
        return png_grey_levels(data)
    except ValueError as exc:
        raise BadRequest(f"{exc}", 422) from None


def answer(models, digit, lock):
    """The response for the 28x28 ``digit``: each model's prediction and latency."""
    batch = digit.reshape(1, -1)
    answers = []
    with lock:
        for name, model in models.items():
            started = time.perf_counter()
            probabilities = model.predict_proba(batch)[0]
            latency = (time.perf_counter() - started) * 1000
            answers.append({"name": name, "digit": int(model.classes_[np.argmax(probabilities)]),
                            "probabilities": [float(p) for p in probabilities],
                            "latency_ms": round(latency, 3)})
    return {"image28": digit.tolist(), "models": answers}
