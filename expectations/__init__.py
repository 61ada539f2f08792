"""Quality checks between normalise and load: the GX suite over flat rows (``suites``), the load
gate (``gate``) and SHACL validation with the official DCAT-AP 3 shapes (``shacl``).

Nothing is imported here: great-expectations and pyshacl are slow to import, and callers such as
the DAG processor should pay only for the part they use.
"""
