"""Video ViT models: layers apart, one trunk, sizes registered by name (sizes.py, torch-free), model
families as registered specs (families.py), image teachers. Import from the module that holds a
name: this package imports nothing, so that the CLI reads the sizes without loading torch."""
