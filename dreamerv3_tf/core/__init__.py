"""The numpy-only runtime: contracts, spaces, clocks, driver, replay, logger."""
