"""The contract between corpus/ and trainer/: table schemas, the corpus folder layout and the
sample format. Nothing here imports torch or runs ffmpeg."""
