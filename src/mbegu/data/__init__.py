"""Data: the raw example set, its validation, the seeded split and the LightningDataModule."""
