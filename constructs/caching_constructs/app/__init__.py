"""The application tier: the Lambda functions that run the caching library, one construct per service."""
