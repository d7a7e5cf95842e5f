"""Entry point of ``pulumi up`` / ``pulumi preview`` (Pulumi.yaml: ``main: infra/``).

The offline plan (``llm-serving plan``) runs this very file under Pulumi's mocks.
"""

from infra.program import main

main()
