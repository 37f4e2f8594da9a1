"""The web console: the ledger as server-rendered pages, read-only, for people without a terminal.

`api.web.pages.install_pages` adds the pages (under ``/web/``) and their static assets to the
FastAPI app that `api.http.app.create_app` builds; they read the same services and projections
as the JSON API. Sessions (`api.web.sessions`) turn a bearer token, given once in a form, into
an HttpOnly cookie; `api.web.render` holds the Jinja2 environment (autoescaping on) and the
filters that format moments, dates and figures.
"""
