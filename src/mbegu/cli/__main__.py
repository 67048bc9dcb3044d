"""`python -m mbegu.cli`: the `mbegu` command."""

from mbegu.cli.main import run

raise SystemExit(run())
