"""Where tables go: the lake (files or S3), the PostgreSQL warehouse, the IO managers, BI views."""
