"""Every way into Reliquary: the `reliquary` CLI, the HTTP API and the web console.

Each door only parses its input, calls one method of the services that `api.bootstrap` builds
once (`Ledger.execute` for a command, `Queries` or `LogService` for a question), and presents
the answer; every rule and every choice lives below them (docs/architecture.md).
"""
