"""Training: train(cfg) behind the DVC stage, the CLI and every sweep trial."""
