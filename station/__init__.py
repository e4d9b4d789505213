"""The scanner station's agent (``sohoa station watch``): it runs on the desk PC beside the
scanner's software, and takes every file that software writes into a folder to its dossier on
the server, through outages: ``watch`` (files that are complete), ``codes`` (the dossier code of
a file), ``outbox`` (the durable queue on disk), ``client`` (the resumable upload), ``agent``
(the loop, its progress and daily log). It imports nothing of the server's: ``sohoa[station]``
installs it alone."""
