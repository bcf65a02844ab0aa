# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp

.PHONY: setup demo test bench lint clean ffmpeg browser docs

setup: $(STAMP) ffmpeg

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ray,hf]'
	touch $(STAMP)

# ffmpeg/ffprobe do the probing, cutting and encoding; install them when we can.
ffmpeg:
	@if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing ffmpeg with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; \
	else \
		echo "vmae needs ffmpeg and ffprobe on PATH and could not install them (not root, or no apt-get)."; \
		echo "Install them, then rerun: 'sudo apt-get install ffmpeg' (Debian/Ubuntu), 'brew install ffmpeg' (macOS)."; \
		exit 1; \
	fi

# The viewer's tests drive Debian's Chromium headless; install it and its driver when we can
# (root with apt). Elsewhere those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium and chromium-driver with apt-get (for the viewer's browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
			|| echo "could not install chromium: the viewer's browser tests will skip"; \
	else \
		echo "chromium and chromium-driver are not installed: the viewer's browser tests will skip"; \
	fi

demo: setup
	$(VENV)/bin/vmae demo --out demo-output

test: setup browser
	$(VENV)/bin/pytest -q
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir .docs-check

# The guide and reference (docs/, mkdocs.yml) as a site in site/; nothing is fetched.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench: setup
	$(PY) bench/corpus_build.py --quick

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf demo-output .pytest_cache test-artifacts site .docs-check
