"""Named settings shared by adapters with presets (the neural networks, svm, boosting)."""


def preset_settings(estimator, overrides):
    """The settings of ``estimator``'s preset (its class's ``PRESETS[estimator.preset]``), with
    each of ``overrides`` (parameter names) that is not None put over them.

    Sets ``chosen_params_`` to the preset's name and the overrides given (``fit`` adds what it
    decides) and ``resolved_params_`` to every parameter and setting.
    """
    settings, given = merged_settings(estimator, overrides)
    estimator.chosen_params_ = {"preset": estimator.preset, **given}
    estimator.resolved_params_ = {**estimator.get_params(), **settings}
    return settings


def merged_settings(estimator, overrides):
    """``(settings, given)``: the preset's settings with the overrides given put over them, and
    those overrides alone; nothing is set on ``estimator``."""
    given = {name: getattr(estimator, name) for name in overrides
             if getattr(estimator, name) is not None}
    preset = {key: value for key, value in type(estimator).PRESETS[estimator.preset].items()
              if key != "description"}
    return {**preset, **given}, given
