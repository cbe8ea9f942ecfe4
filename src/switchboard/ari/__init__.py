"""Our own thin ARI client: REST on aiohttp (``ari.client``), typed events
(``ari.events``: pure, the engine reads them), a reconnecting websocket (``ari.stream``).

Nothing is imported here, so ``switchboard.ari.events`` can be read without aiohttp."""
