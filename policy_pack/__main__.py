"""The llm-serving policy pack, for ``pulumi preview --policy-pack policy_pack``.

The rules live in ``infra/policies.py``, which the offline plan runs too; this file only
hands them to Pulumi (``PolicyPack`` starts the analyzer's server and never returns).
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policies import POLICIES

PolicyPack(
    name="llm-serving",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
