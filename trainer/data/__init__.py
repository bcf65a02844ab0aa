"""Shards → decoded clips → training views and masks, and the multi-view test views."""
