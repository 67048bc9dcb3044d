"""mbegu as a copier template: what a new project's copy rewrites, and what `mbegu doctor`
reads back from the project's `.copier-answers.yml`."""
