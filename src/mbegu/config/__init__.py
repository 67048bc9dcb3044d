"""Composing, loading and checking configs."""

from mbegu.config.compose import compose, config_groups
from mbegu.config.params import load_params

__all__ = ["compose", "config_groups", "load_params"]
