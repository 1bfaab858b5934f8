"""Test doubles that are real servers: a vLLM-like metrics exporter whose figures are known."""
