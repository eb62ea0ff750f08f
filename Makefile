# The edition's two commands, `make book` and `make test`, each install what
# they need on a fresh clone: a .venv with the pinned dependencies and the
# ccs_transfer package in editable mode.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Model id from the registry for the whole build: `make book MODEL=efficientnet_lite1`.
# EDITION_MODEL in the environment works too; MODEL= on the command line wins.
MODEL ?= $(or $(EDITION_MODEL),efficientnet_lite0)
export EDITION_MODEL := $(MODEL)
export EDITION_CACHE_DIR ?= $(CURDIR)/.cache
export EDITION_BUILD_DIR ?= $(CURDIR)/_build
# Tests convert the embedded model into the same cache the book uses, so it is done once.
export EDITION_TEST_CACHE_DIR ?= $(EDITION_CACHE_DIR)
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: venv book test test-fast clean clean-cache

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## Build the book into _build/html, executing every page (cached per model and data).
book: venv
	$(BIN)/python -m ccs_transfer.build

## Run the whole test suite, slow model-loading tests included.
test: venv
	$(BIN)/python -m pytest

## Run the suite without the tests marked slow.
test-fast: venv
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf _build

clean-cache:
	rm -rf .cache _build/.jupyter_cache

# --- The published site and the PDF edition -------------------------------
# test-site checks the site that `make book` built; pdf builds the PDF from
# the same execution cache. Each installs its Debian packages when missing
# (this needs root; otherwise it prints the apt-get command to run).

.PHONY: test-site pdf browser-packages tex-packages

BROWSER_PACKAGES := chromium chromium-driver
TEX_PACKAGES := texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended texlive-xetex latexmk xindy fonts-freefont-otf tex-gyre

## Check _build/html: static checks, then headless Chromium on 127.0.0.1 (screenshots in _build/screenshots).
test-site: venv browser-packages
	@status=0; \
	$(BIN)/python tools/site_static.py $(EDITION_BUILD_DIR)/html || status=1; \
	$(BIN)/python tools/check_site.py --site $(EDITION_BUILD_DIR)/html --screenshots $(EDITION_BUILD_DIR)/screenshots || status=1; \
	exit $$status

## Build the PDF edition with XeLaTeX into _build/pdf, reusing the pages `make book` executed.
pdf: venv tex-packages
	$(BIN)/python tools/build_pdf.py

browser-packages:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "error: chromium or chromedriver is missing. Fix: as root, run apt-get update && apt-get install -y --no-install-recommends $(BROWSER_PACKAGES)" >&2; exit 2; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); \
	fi

tex-packages:
	@if ! command -v xelatex >/dev/null || ! command -v latexmk >/dev/null || ! command -v xindy >/dev/null; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "error: xelatex, latexmk or xindy is missing. Fix: as root, run apt-get update && apt-get install -y --no-install-recommends $(TEX_PACKAGES)" >&2; exit 2; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES); \
	fi
