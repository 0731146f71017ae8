# Quick start: `make run` opens the app, `make test` runs the whole test suite.
# Both create .venv with venv and pip when it is missing; `make run` also checks the system libraries
# Qt needs (desktop_search/system_deps.py).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# torch is pinned here (the package itself accepts a range); these install from local wheels on the
# development machines. The CPU-only build used for the packaged app is pinned in packaging/build.sh.
TORCH  := torch==2.14.1 torchvision==0.29.1

export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test test-all lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# Qt's window needs a few system libraries (libxcb-cursor0, ...): installed first when run as root
# with apt-get, otherwise the check prints the one command that installs them and stops here.
run: $(STAMP)
	@$(BIN)/python desktop_search/system_deps.py --install
	$(BIN)/desktop-search

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

test-all: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "" 

lint: $(STAMP)
	$(BIN)/ruff check desktop_search tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build dist *.egg-info
