"""Data quality: Great Expectations suites run as asset checks; write-audit-publish of the plan."""
