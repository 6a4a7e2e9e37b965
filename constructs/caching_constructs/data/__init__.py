"""The stores behind the caches: RDS MySQL with read replicas, DAX in front of DynamoDB, and their network
defaults."""
