"""Spiders. ``watchlist`` crawls one site of the watchlist."""
