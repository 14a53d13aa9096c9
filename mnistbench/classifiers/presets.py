"""Named settings shared by adapters with presets (the neural networks, svm, boosting)."""


def preset_settings(estimator, overrides):
    """The settings of ``estimator``'s preset (its class's ``PRESETS[estimator.preset]``), with
    each of ``overrides`` (parameter names) that is not None put over them.

    Sets ``chosen_params_`` to the preset's name and the overrides given (``fit`` adds what it
    decides) and ``resolved_params_`` to every parameter and setting.
    """
    given = {name: getattr(estimator, name) for name in overrides
             if getattr(estimator, name) is not None}
    estimator.chosen_params_ = {"preset": estimator.preset, **given}
    preset = {key: value for key, value in type(estimator).PRESETS[estimator.preset].items()
              if key != "description"}
    settings = {**preset, **given}
    estimator.resolved_params_ = {**estimator.get_params(), **settings}
    return settings
