"""What a request or a job does, one module per concern: ``context`` (wiring), ``options`` (from
settings to digitize and signing options), ``scans`` (accept and enqueue), ``queue`` (Huey and
the workers), ``lease`` (claim, heartbeat, reap, recover), ``run`` (a job's steps), ``dossiers``,
``signatures``, ``search``, ``audit``, ``views`` (the typed answers); beside them ``settings``,
``access``, ``uploads``, ``scratch``, ``logs`` and ``metrics``. ``api.py`` and ``cli.py`` are two
faces over these functions."""
