"""``rulelab playground``: a local web app that trains every chosen rule side by side, live.

The server (:mod:`rulelab.playground.server`, Starlette on uvicorn) keeps each browser
tab's runs (:mod:`rulelab.playground.lab`, :mod:`rulelab.playground.hopfield`) and streams
frames to the page with server-sent events; the page (``static/``) is plain HTML, CSS and
JavaScript, served from the package, with nothing fetched from elsewhere.  The page's state
is a scenario (:mod:`rulelab.playground.state`), so what it shows exports as a YAML file
that ``rulelab run`` reproduces with the same numbers.
"""
