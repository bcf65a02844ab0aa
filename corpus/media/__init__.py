"""ffmpeg/ffprobe work on video files: probing, encoding clips, signature frames."""
