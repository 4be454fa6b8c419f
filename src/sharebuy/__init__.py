"""sharebuy — the 共享购 (shared purchase) rewards platform."""

__version__ = "0.1.0"
