"""Corpus building: sources turn user input into plan rows, steps do the work, an executor
runs units of work and writes the corpus folder described in manifests/."""
