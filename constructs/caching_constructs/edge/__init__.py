"""CloudFront and what keeps it fresh after a write."""
