"""The help the `mbegu` command shows: its examples, conf/'s groups, its version.

Each piece is read only when shown, so that building the parser stays cheap.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import mbegu
from mbegu.errors import MbeguError

EPILOG = """examples:
  mbegu train model=cnn trainer.max_epochs=20     train ad hoc (Hydra overrides)
  mbegu train --cfg job model=cnn                 show the composed config
  dvc repro                                       run the pipeline (prepare -> train -> evaluate)
  dvc exp run -S model=cnn                        the pipeline with an override, as a DVC experiment
  mbegu sweep sweep=default sweep.n_trials=20     an Optuna sweep; rerun to continue it
  mbegu predict examples/digits_rows.csv          predict with the pipeline's model
  mbegu compare                                   the DVC experiments side by side
  mbegu ui                                        browse runs in the MLflow UI
  mbegu doctor                                    template release; conf/, params, dvc.lock agree?
  mbegu server --backend-store-uri postgresql://mlflow@db/mlflow --host 0.0.0.0
                                                  a team's tracking server
"""


GROUPS = "<config groups>"  # an epilog that stands for _groups_help(), read when shown


class HelpParser(argparse.ArgumentParser):
    """Lists conf/'s groups in a help only when the help is shown.

    Reading them would slow every command (argparse wants an epilog's text when the parser is
    built).
    """

    def format_help(self) -> str:
        """The help text, with conf/'s groups read now."""
        if self.epilog == GROUPS:
            self.epilog = _groups_help()
        return super().format_help()


def _groups_help() -> str:
    from mbegu.config.compose import config_groups

    try:
        groups = config_groups()
    except MbeguError:
        return ""
    lines = [f"  {group:<10} {', '.join(options)}" for group, options in groups.items()]
    return "config groups (pick one with group=option):\n" + "\n".join(lines) + "\n"


class PrintVersion(argparse.Action):
    """argparse's version action, with the version read only when asked.

    The package metadata lookup is slow enough that every other command should not pay it.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        """Print the version and exit."""
        print(f"mbegu {mbegu.__version__}")
        parser.exit()
