"""The draw-a-digit server (``mnistbench serve``): a page to draw on, and the JSON API behind it
that turns a drawing into the 28x28 image MNIST's models expect and asks every loaded model."""
