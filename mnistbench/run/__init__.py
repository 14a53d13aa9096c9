"""Running: job specs and grids (``spec``), the runner (``runner``), the run's folder
(``store``), timing and the environment record."""
