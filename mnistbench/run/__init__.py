"""Running, in the order a run flows: the request (``experiment``, its TOML form
``experiment_file``, its ``algorithms``, job ``spec`` s and their ``values``), what is checked
before the first job (``preflight``), orchestration (``runner``) on an engine (``engines``,
``parallel``, ``timeout``), one job in named stages (``job``: ``conditions``, ``memory``,
``timing``), what it records (``schema``), the run's folder (``store`` writes, ``loading``
reads, ``integrity`` checks, ``folders`` keeps it off the user's files, ``perimage`` is the
per-image format, ``compact`` converts older runs to it), and votes of a finished run's jobs
(``combine``)."""
