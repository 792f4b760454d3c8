"""The simulated physical grid under the meters (feeders, transformers, load flow)."""
