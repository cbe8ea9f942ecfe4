"""Web callbacks: a company's web site asks us to call a customer back.

``request`` checks what the visitor sent (the number above all), rate limits
(``switchboard.ratelimit``) keep floods out, ``model`` says when a request is due,
``store`` makes it durable, ``service`` dispatches it to an agent and the customer,
``routes`` serves it (``POST /callbacks``, ``GET /callbacks/{id}``,
``GET /callbacks/form``: the route group ``callback_routes(api)``).
"""

from .routes import CallbackApi, callback_routes
from .service import WebCallbacks
from .store import WebCallbackStore

__all__ = ["CallbackApi", "WebCallbackStore", "WebCallbacks", "callback_routes"]
