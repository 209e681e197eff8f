"""govchain: a consortium blockchain for digital-government services."""

__version__ = "0.1.0"
