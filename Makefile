# Two commands for a fresh Debian 12 machine: `make run` and `make test`.
# Both install only what is missing: Debian packages, then a .venv with the project.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Apache PDFBox Preflight, the tests' second PDF/A-1b validator (tests/preflight.py): its jar
# is in libpdfbox2-java; javax.activation and javax.xml.bind are no longer part of Java.
PREFLIGHT_PACKAGES := default-jre-headless libpdfbox2-java libfontbox2-java libcommons-logging-java \
	libactivation-java libjaxb-api-java
# The web pages' tests drive Debian's chromium through Playwright (nothing downloaded).
BROWSER_PACKAGES := chromium
APT_PACKAGES := tesseract-ocr tesseract-ocr-vie tesseract-ocr-osd tesseract-ocr-eng \
	poppler-utils qpdf jbig2dec libopenjp2-7 libtiff-tools fonts-liberation2 openssl softhsm2 python3-venv \
	$(PREFLIGHT_PACKAGES) $(BROWSER_PACKAGES)

.PHONY: run test test-fast lint system-deps clean

run: system-deps $(VENV)/.installed
	$(BIN)/sohoa serve

test: system-deps $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# For quick edits: no OCR and no servers, under two minutes on 2 cores (tests/conftest.py says
# which tests are slow). `make test` stays the whole suite.
test-fast: $(VENV)/.installed
	$(BIN)/pytest -q -m "not slow"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Cài gói Debian còn thiếu / installing missing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[server,station,test]'
	# The E-ARK validator the package tests run: it pins lxml==5.1.0, where pyHanko needs 5.4 or
	# newer, so it comes without its pins (it runs on the newer lxml; its other needs are in [test]).
	$(BIN)/pip install -q --no-deps 'eark-validator==1.1.3'
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
