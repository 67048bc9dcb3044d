"""The `mbegu` command line."""
