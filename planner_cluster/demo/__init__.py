"""``autopilot demo``: a whole autonomous campaign on one machine, and its results.

:mod:`.run` starts and stops the processes and follows the campaign (:mod:`.watch`,
:mod:`.display`); :mod:`.results` turns what it collected into the HDF5 archive
(:mod:`.archive`), the report (:mod:`.report`) and the discovery numbers
(:mod:`planner_cluster.discovery`);
:mod:`.recompute` and :mod:`.provenance` replay the decisions (``autopilot replay``).
"""
