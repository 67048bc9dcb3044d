"""`python -m mbegu`: the `mbegu` command."""

from mbegu.cli.main import run

raise SystemExit(run())
