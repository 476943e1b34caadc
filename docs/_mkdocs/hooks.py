"""MkDocs hooks of the documentation site (``hooks:`` in mkdocs.yml; not part of the package).

The notebooks live in ``notebooks/`` beside ``docs/``, where the test suite runs them. :func:`on_files` adds each
committed ``notebooks/NN_*.ipynb`` to the site as ``notebooks/NN_*.ipynb`` *before* mkdocs-jupyter turns ``.ipynb``
files into pages, so they render from their committed form without a copy, a symlink or a second execution (the
plugin runs with ``execute: false``). Only notebooks named in ``nav`` become pages in the navigation; others still
render (mkdocs only reports them at INFO level).
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

NOTEBOOKS = "notebooks"


@event_priority(100)  # before mkdocs-jupyter (priority 0) wraps the .ipynb files as pages
def on_files(files, config):
    """Add the committed notebooks of ``notebooks/`` (beside ``docs_dir``) as ``notebooks/*.ipynb``."""
    source = Path(config["config_file_path"]).resolve().parent / NOTEBOOKS
    for path in sorted(source.glob("[0-9][0-9]_*.ipynb")):
        uri = f"{NOTEBOOKS}/{path.name}"
        if files.get_file_from_path(uri) is None:
            # a File of src_dir = the repository root (not File.generated: mkdocs-jupyter's wrapper recomputes
            # abs_src_path from src_dir and src_uri)
            files.append(
                File(
                    uri,
                    src_dir=str(source.parent),
                    dest_dir=config["site_dir"],
                    use_directory_urls=config["use_directory_urls"],
                )
            )
    return files
