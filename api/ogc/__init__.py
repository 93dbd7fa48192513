"""OGC API plumbing shared by the feature routes: the route class that answers every error
with an OGC exception body, and the parsing of OGC query parameters."""
