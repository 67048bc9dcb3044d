from mbegu.cli.main import run

raise SystemExit(run())
