"""Reliquary's domain: the model lifecycle aggregate, its events, rules, commands and ledger.

Import from the modules themselves (``domain.ledger``, ``domain.commands``...): this package
stays light so that a CLI command imports only what it uses.
"""
