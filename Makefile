# Tocsin: `make demo` to try it, `make test` to check it. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint types check-migrations openapi messages browser peers fonts poppler clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# Translations are compiled here from the .po sources (pure Python, polib): no gettext needed.
MO := $(patsubst %.po,%.mo,$(wildcard src/tocsin/locale/*/LC_MESSAGES/django.po))
%.mo: %.po $(STAMP)
	$(BIN)/python -m tocsin.runtime.compilemessages >/dev/null

install: $(STAMP) $(MO)

demo: $(STAMP) $(MO)
	$(BIN)/tocsin demo

# Debian's chromium for the browser tests, installed when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests ..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's DejaVu fonts: the alert reports' PDF in every language (fpdf2 embeds the TTF).
fonts:
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || { \
	  echo "Installing Debian's fonts-dejavu-core for the PDF reports ..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq fonts-dejavu-core >/dev/null; }

# Debian's poppler-utils (pdftoppm, pdftotext): the billing tests render the PDF documents and read them back.
poppler:
	@command -v pdftoppm >/dev/null 2>&1 || { \
	  echo "Installing Debian's poppler-utils for the PDF tests ..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq poppler-utils >/dev/null; }

# Debian's Kannel (bearerbox, smsbox, and fakesmsc from kannel-extras): a real peer for the Kannel channel.
# baresip and SIPp (sip-tester) are the phones of the voice tests, espeak-ng and sox render speech.
peers:
	@test -x /usr/lib/kannel/test/fakesmsc && test -x /usr/sbin/bearerbox \
	  && command -v espeak-ng >/dev/null && command -v sox >/dev/null \
	  && command -v sipp >/dev/null && command -v baresip >/dev/null || { \
	  echo "Installing Debian's kannel and kannel-extras (SMS tests), espeak-ng, sox, sip-tester and baresip-core (voice tests) ..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    kannel kannel-extras espeak-ng sox sip-tester baresip-core >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy

check-migrations: $(STAMP)
	$(BIN)/tocsin manage makemigrations --check --dry-run

# The OpenAPI document is generated from code and kept in docs/; CI fails when it is stale.
openapi: $(STAMP)
	$(BIN)/tocsin manage export_openapi --output docs/openapi.json

# The embedded PostgreSQL is stopped at the end when this run started it.
test: $(STAMP) $(MO) browser peers fonts poppler lint types
	@was=$$($(BIN)/tocsin db status 2>/dev/null); \
	stop() { [ -n "$$DATABASE_URL" ] || [ "$$was" = running ] || $(BIN)/tocsin db stop >/dev/null; }; \
	trap stop EXIT; \
	$(BIN)/tocsin manage makemigrations --check --dry-run && \
	$(BIN)/tocsin manage export_openapi --check docs/openapi.json && \
	$(BIN)/pytest

# Translations: extract (needs GNU gettext) and compile (pure Python, polib).
messages: $(STAMP)
	cd src/tocsin && ../../$(BIN)/django-admin makemessages -l nl -l fr -l de -l en --settings=tocsin.settings --no-obsolete
	$(BIN)/python -m tocsin.runtime.compilemessages

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
