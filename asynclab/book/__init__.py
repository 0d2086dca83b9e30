"""The course website: `make book` (python -m asynclab.book) builds _build/book/ with Sphinx.

pages.py assembles the source pages (preview notebooks, the README's syllabus, docs) into
_build/book-src/; launch.py makes the launch links; conf.py is Sphinx's configuration.
Nothing is executed: the pages show the outputs recorded in solutions/.
"""
