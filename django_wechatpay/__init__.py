"""WeChat Pay API v3 for Django."""

__version__ = "0.1.0.dev0"
