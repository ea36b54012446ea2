"""The EHR-facing adapter: a CDS Hooks 2.0 service over FHIR R4, and the FHIR <-> PatientProfile mapping.

- :mod:`~precisionpain.cdshooks.mapping`: serving/fhir_mapping.yaml, the one mapping catalog (code system, code,
  profile field, unit conversion), read strictly, with its sha256.
- :mod:`~precisionpain.cdshooks.to_profile`: FHIR resources (parsed with ``fhir.resources``) -> PatientProfile and
  the data warnings of what could not be used; :mod:`~precisionpain.cdshooks.from_profile` the reverse (a
  bundle per example patient).
- :mod:`~precisionpain.cdshooks.hooks` and :mod:`~precisionpain.cdshooks.cards`: a hook request -> the engine ->
  CDS Hooks cards (the adapter converts and delegates, like the gRPC servicer).
- :mod:`~precisionpain.cdshooks.app` and :mod:`~precisionpain.cdshooks.server`: the HTTP transport (FastAPI and
  uvicorn: tokens, TLS, body limits, request ids, JSON access lines, the status table's HTTP column).

Importing this package reads no file and imports no web framework.
"""
