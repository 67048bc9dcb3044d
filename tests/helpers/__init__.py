"""What the tests share besides fixtures: the project's committed files, the real `mbegu`
command, the MLflow store's runs, and small data of the kinds users bring."""
