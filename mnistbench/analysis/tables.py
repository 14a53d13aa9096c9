"""The tables derived from a run's job tables, written beside them as run artefacts and read
by the report, ``compare`` and ``ensemble``:

- ``configurations``: one row per configuration over its seeds
  (:func:`~mnistbench.analysis.statistics.aggregate`);
- ``pairs`` and ``pairs_by_seed``: McNemar's test between every two configurations on the clean
  test set, over seeds and seed by seed (:func:`~mnistbench.analysis.statistics.
  pairwise_mcnemar`). A grid of more than :data:`MAX_PAIRED` configurations is not compared
  pair by pair (their number grows as its square); both tables are then empty.
"""

import pandas as pd

from mnistbench.analysis.statistics import aggregate, pairwise_mcnemar

MAX_PAIRED = 200


def derived_tables(summary, predictions):
    """``{"configurations": ..., "pairs": ..., "pairs_by_seed": ...}`` of a run's ``summary``
    and ``predictions`` tables."""
    configurations = aggregate(summary) if not summary.empty else pd.DataFrame(
        columns=["configuration", "accuracy"])
    if len(configurations) > MAX_PAIRED:
        pairs, by_seed = pd.DataFrame(), pd.DataFrame()
    else:
        pairs, by_seed = pairwise_mcnemar(summary, predictions)
    return {"configurations": configurations, "pairs": pairs, "pairs_by_seed": by_seed}
