"""p2plend: an online lending information intermediary (网络借贷信息中介平台)."""

__version__ = "0.1.0"
