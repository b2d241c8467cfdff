"""Demos behind `tinyae demo NAME`; the scripts in demos/ call these."""
