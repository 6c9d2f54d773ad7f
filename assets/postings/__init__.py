"""Asset family: postings."""
