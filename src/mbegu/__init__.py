"""mbegu: an experiment-tracked MLOps template (Hydra, Lightning, MLflow, DVC, Optuna)."""


def __getattr__(name: str) -> str:
    """`mbegu.__version__`, from the installed package's metadata.

    setuptools-scm derives it from git at install time; it is looked up on use, as every command
    imports this package.
    """
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mbegu")
    except PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0+unknown"
