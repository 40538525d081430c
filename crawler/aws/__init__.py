"""Everything that speaks to AWS: sessions and credentials, clients per account-region,
error translation and the retry policy."""
