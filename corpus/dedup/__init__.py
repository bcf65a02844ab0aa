"""Deduplication across corpora: exact (sha256), near (perceptual signatures, found through
sampled bits, or exactly by multi-index hashing), and leakage against evaluation corpora (by video
id and signature)."""

DEFAULT_THRESHOLD = 40  # bits of 512; chosen from measurements, see docs/dedup.md
DEFAULT_SIMILARITY = 0.95  # cosine of embeddings (--embeddings); from the distribution's picture, docs/dedup.md
