"""Every way into Reliquary: the `reliquary` CLI (and, later, the HTTP service)."""
