"""Training objectives: what a step's loss is."""
