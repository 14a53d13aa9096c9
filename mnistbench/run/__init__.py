"""Running: job specs and grids (``spec``), the runner (``runner``), the run's folder
(``store``), ensembles of a finished run's jobs (``combine``), timing and the environment
record."""
