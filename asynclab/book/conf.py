"""Sphinx configuration of the course website (used with `sphinx-build -c asynclab/book`).

Everything here works offline: the furo theme ships its assets, notebooks are never executed
(myst-nb renders the outputs saved in solutions/), and no widget or MathJax script is fetched.
"""

project = "Production async Python, hands-on"
html_title = project
extensions = ["myst_nb"]
html_theme = "furo"
nb_execution_mode = "off"
nb_ipywidgets_js: dict[str, dict[str, str]] = {}  # the pages carry no live widgets (the preview notebooks drop their views)
myst_heading_anchors = 3
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_show_sourcelink = False
html_copy_source = False
# Notebook front matter jumps from the title (#) to a bold line, and some docs skip a level.
suppress_warnings = ["myst.header"]
html_favicon = "favicon.svg"  # without one, every browser's request for /favicon.ico is a 404 in the console
