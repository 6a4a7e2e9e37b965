"""API Gateway: the REST API with stage caching, its routes and request models, and its web ACL."""
