"""`vmae corpus mix` (corpus/mix/run.py): sample source corpora to a recipe's quotas into one new corpus.

Every candidate clip of every input corpus is a row of the mix's videos/ (selected, dropped by
dedup, or over quota), so nothing is unaccounted for. Selected clips are interleaved in
proportion to their sources' quotas, so every shard holds a mix, and their tar members are
streamed into the new shards as they are (no re-encoding, no staging copy). The output is written
in units (one shard each) with completion markers, in parallel (processes or Ray); a mix stopped
at any moment resumes with the same command, and a finished one is left as it is.
"""
