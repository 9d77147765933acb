"""Certified exactness: the cells and maps checked in exact rational arithmetic."""
