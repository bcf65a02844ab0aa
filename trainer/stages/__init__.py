"""The training stages: one loop, and what each stage decides for itself."""
