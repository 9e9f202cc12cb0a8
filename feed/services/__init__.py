"""Services: the stages of the data flow, over the stores and the pure core.

Clips and ingest, feed pages, steering, consent, gaps. HTTP and the CLI call these.
"""
