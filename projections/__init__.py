"""Everything derived from the events: public records of events, views, reports, the log."""
