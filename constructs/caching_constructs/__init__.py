"""Reusable CDK constructs for the caching architecture."""
