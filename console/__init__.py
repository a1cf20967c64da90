"""The content team's console: edit answers, clinical sign-off, audit log, review dates.

`python -m console` serves it (Sanic, Jinja2 templates, htmx served from
node_modules); `python -m console.migrate` creates or upgrades its tables in the
tracker store's database; `python -m console.staff_user` creates an account.
See docs/content-guide.md, "The console".
"""
