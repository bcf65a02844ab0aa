"""Using a trained model: multi-view evaluation, prediction on files, embeddings."""
