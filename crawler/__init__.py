"""The Scrapy project: settings, items, middlewares, pipelines and the crawl runner.

It adapts Scrapy to the domain in ``monitor``; ``monitor`` never imports it.
"""
