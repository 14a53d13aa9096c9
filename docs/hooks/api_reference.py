"""Generate the API reference pages at build time: reference/api.md from the names
``mnistbench`` exports (its ``_API`` table of name -> module) and reference/algorithms.md from the
algorithm registry, each rendered by mkdocstrings from the numpydoc docstrings. A name added to
either table gets its section without editing the docs."""

from mkdocs.structure.files import File


def api_page():
    import mnistbench

    sections = [f"::: {mnistbench._API[name]}.{name}\n" for name in mnistbench.__all__]
    return ("# Python API\n\n"
            "Everything below is importable from the package itself (`import mnistbench; "
            "mnistbench.run_benchmark(...)`), imported lazily so that `import mnistbench` "
            "never loads TensorFlow.\n\n" + "\n".join(sections))


def algorithms_page():
    from mnistbench.classifiers import registry

    sections = [f"## `{name}`\n\n::: {target.replace(':', '.')}\n    options:\n"
                f"      heading_level: 3\n      show_root_full_path: true\n"
                for name, target in registry.ALGORITHMS.items()]
    return ("# Algorithms\n\n"
            "Every registered algorithm, by the name `--algos` takes, with its adapter class "
            "(all follow scikit-learn's estimator contract through "
            "`mnistbench.classifiers.base.DigitClassifier`). `python -m mnistbench list` prints "
            "the same names with their parameters, defaults and presets.\n\n"
            "::: mnistbench.classifiers.base.DigitClassifier\n    options:\n      "
            "heading_level: 2\n      show_root_full_path: true\n\n" + "\n".join(sections))


def on_files(files, config):
    files.append(File.generated(config, "reference/api.md", content=api_page()))
    files.append(File.generated(config, "reference/algorithms.md", content=algorithms_page()))
    return files
