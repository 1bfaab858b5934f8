"""Feedback: what a recommendation promised, checked against what the placement then serves
(`verify`), and the checks of a whole fleet turned into corrections of the engine per chip and serving
stack (`corrections`). Pure: the operator reads Prometheus and keeps the checks; this decides."""
