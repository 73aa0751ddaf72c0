"""Constraints: regex / options / JSON schema / grammar → token masks, and token healing."""
