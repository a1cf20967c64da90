"""The domain core: the content store, the safety net and the contract names."""
