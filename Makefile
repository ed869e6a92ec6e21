# The two commands a new user needs: `make demo` and `make test`. Both build their own
# virtual environment from the pinned requirements; nothing depends on what was installed by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install chromium demo test lint format emulators bench clean

help:
	@echo "make demo       start the emulators, the admin and the sample mirror (http://127.0.0.1:8000/admin/)"
	@echo "make test       install what is needed and run lint + the whole test suite"
	@echo "make emulators  run the Pinecone and Gemini emulators alone"
	@echo "make bench      measure emulator throughput"
	@echo "make lint / make format / make clean"

# Rebuilt whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser
# download cannot work here). Installed with apt when missing and we are root; otherwise the
# browser tests skip, saying why (and fail under CI=true).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is not installed (sudo apt-get install chromium): browser tests will skip"; \
	  fi; }

demo: $(STAMP)
	$(BIN)/python -m mirrorsite.demo

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

emulators: $(STAMP)
	$(BIN)/python -m emulators all --port 5080 \
		--index gflops-serverless:1536 --index askdona:3072 \
		--api-key local-pinecone-key --read-only-api-key local-pinecone-readonly-key \
		--gemini-port 5090 --gemini-api-key local-gemini-key

bench: $(STAMP)
	$(BIN)/python -m emulators.bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
