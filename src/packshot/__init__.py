"""packshot: marketplace-ready product images, offline, on CPU."""

__version__ = "0.1.0"
