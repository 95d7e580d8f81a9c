"""ncii-monitor's domain: cases, hash lists, hashing, matching, runs, hits, the CLI.

This package never imports Scrapy; the crawler adapts Scrapy to it.
"""

__version__ = "0.1.0"
