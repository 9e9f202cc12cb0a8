"""Steering evaluation: labelled data, scoring of understanding, and page effects."""
