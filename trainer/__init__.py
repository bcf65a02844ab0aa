"""The trainer (stage 1 pretraining, stage 2 post-pretraining, stage 3 fine-tuning): reads corpus
folders through the contract in manifests/ only; never imports corpus/."""
