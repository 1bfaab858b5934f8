"""inferplace: where LLM inference should run on AWS, and what it costs."""

__version__ = "0.1.0"
