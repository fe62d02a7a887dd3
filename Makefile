# Two commands do everything on a fresh machine:
#   make run    install, build the background data if missing, migrate, serve on SQLite
#   make test   install, build the data if missing, ruff, mypy and the full test suite
.PHONY: run test install data bench

run:
	scripts/run.sh

test:
	scripts/test.sh

install:
	scripts/bootstrap.sh

data: install
	.venv/bin/pcf data build

bench: install data
	.venv/bin/python bench/engine.py
