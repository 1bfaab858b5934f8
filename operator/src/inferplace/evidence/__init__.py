"""Evidence: how right the engine is, measured. Published measurements resolved into scenarios
(`rows`), predicted (`predictions`), compared with what was measured (`compare`); the efficiency
groups fitted to them (`groups`, `fit`) and their held-out errors (`crossval`), which the confidence
of every recommendation rests on. Offline: nothing here is on an evaluation's path."""
