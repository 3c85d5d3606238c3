"""Reading and writing the files of the HRM and TRM reference implementations (datasets, checkpoints)."""
