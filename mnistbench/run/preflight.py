"""What is checked before the first job runs, beyond ``Experiment.check``: the size of the
request, and what only the data in hand can tell. A value that every job would reject is refused
here, once, in one sentence, rather than by each job after its data is loaded.
"""

from mnistbench.datasets.sources import holdout_size
from mnistbench.errors import ParameterError
from mnistbench.run.conditions import HOLDOUT_FRACTION
from mnistbench.run.experiment import LARGE
from mnistbench.run.folders import writable_folder

# parameters that count training images (our KNN's k, scikit-learn's n_neighbors): a value
# above the images a job fits on is refused before the run, not by every job after loading
NEIGHBOUR_COUNTS = ("k", "n_neighbors")


def check_size(experiment, yes, progress):
    """Say how many jobs a large experiment holds; refuse one above :data:`LARGE` without
    ``yes``."""
    count = experiment.job_count()
    if count > LARGE and not yes:
        raise ParameterError(f"this experiment holds {count:,} jobs; run it with --yes "
                             "(yes=True) if that is what you mean")
    if count > LARGE and progress:
        progress(f"{count:,} jobs, expanded as they run")


def check_against_data(experiment, data):
    """What can be checked only with the data in hand, before any job runs: no neighbour count
    above the images a job fits on, and a models folder that can hold models."""
    n_fit = len(data.X_train) - (holdout_size(len(data.X_train), HOLDOUT_FRACTION)
                                 if experiment.target_accuracy is not None else 0)
    for algorithm in experiment.algorithms:
        for param in NEIGHBOUR_COUNTS:
            values = [algorithm.params[param]] if param in algorithm.params else []
            for value in values + list(algorithm.grid.get(param, [])):
                largest = max(value) if isinstance(value, (list, tuple)) and value else value
                if isinstance(largest, int) and largest > n_fit:
                    raise ParameterError(f"{algorithm.name}.{param}={largest} is more than the "
                                         f"{n_fit:,} {experiment.dataset} images each job fits "
                                         "on")
    if experiment.save_models:
        writable_folder(experiment.save_models, "--save-models")
