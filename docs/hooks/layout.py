"""The pages live in docs/, beside mkdocs.yml, so the repository's top level stays as the design
lists it. MkDocs refuses a ``docs_dir`` that holds the configuration file (it guards against
building the site into the folder it reads), so mkdocs.yml names a valid sub-folder and this hook
points ``docs_dir`` at docs/ once the configuration has been validated; ``exclude_docs`` keeps
mkdocs.yml and the hooks out of the site, and ``site_dir`` must be given outside docs/.
"""

import os

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File


@event_priority(100)  # before every other hook and plugin reads docs_dir
def on_config(config):
    config.docs_dir = os.path.dirname(os.path.abspath(config.config_file_path))
    if os.path.commonpath([os.path.abspath(config.site_dir), config.docs_dir]) == config.docs_dir:
        raise SystemExit("mkdocs: give the site a folder outside docs/ (-d SITE_DIR)")
    return config


# pictures the pages show that live with the results, not in docs/
PICTURES = {"assets/draw-a-digit.png": "results/app/draw-a-digit.png"}


def on_files(files, config):
    root = os.path.dirname(config.docs_dir)
    for uri, path in PICTURES.items():
        files.append(File.generated(config, uri, abs_src_path=os.path.join(root, path)))
    return files
