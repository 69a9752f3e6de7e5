"""The run record: run folders, the store shared by every sweep, sweeps, and their locks."""
