"""mbegu as a copier template: what a new project's copy rewrites, and its release.

`mbegu doctor` reads the release back from the project's `.copier-answers.yml`.
"""
