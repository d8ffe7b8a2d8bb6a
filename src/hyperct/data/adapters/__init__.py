"""Adapters turning public chest-CT datasets into a standard hyperct manifest."""
