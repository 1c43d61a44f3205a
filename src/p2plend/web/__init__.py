"""The web pages: server-rendered Jinja2 + HTMX, Chinese by default with an English switch.

A thin caller of the domain services, like the API: each page reads or acts through
``<domain>.service`` and renders; it never touches a table. ``install(app)`` adds the
routes, the static files and the HTML error pages to the composition root's app.
"""

from p2plend.web.app import install

__all__ = ["install"]
