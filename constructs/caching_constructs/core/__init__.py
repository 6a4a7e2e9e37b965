"""What every construct shares: one rule per setting, prop checks, policy-rule exemptions, removal policies,
KMS keys, pinned logical ids."""
