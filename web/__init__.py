"""The web pages: server-rendered (Jinja2) in the same app as the API, with their templates,
message catalogues (Vietnamese by default, English) and static files, every asset served from
the repository. Routes call ``service`` functions only, as the API's do."""
