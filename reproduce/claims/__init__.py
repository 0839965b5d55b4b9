"""Every claim of the paper checked once, as structured records (:mod:`.verdicts`)."""
