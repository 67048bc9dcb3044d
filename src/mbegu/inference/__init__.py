"""Inference: loading a trained model by run, by registered name, or from the pipeline."""
