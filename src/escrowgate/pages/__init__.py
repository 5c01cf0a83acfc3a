"""Server-rendered pages: the hosted payment page (/pay), the merchant dashboard
(/dashboard) and the offline API docs (/docs). Jinja2 templates and static assets
ship in this package; no build step, no CDN."""
