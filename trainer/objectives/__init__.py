"""Training objectives, as files: stage 1's losses (mae, umt; a weighted sum such as mae+umt
shares one encoder pass, pretraining.py), the supervised objective of stages 2 and 3, and each
one's options class (options/, torch-free). A new stage-1 loss is a file with a PretrainPart, a
file with its options class, and one line in options/__init__.py. This package imports nothing,
so that the CLI reads the options without loading torch."""
