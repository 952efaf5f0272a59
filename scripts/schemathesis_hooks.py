"""Schemathesis hooks for scripts/schemathesis.sh.

The run signs in once, as a business owner, and sends that bearer JWT with every request.
A few generated requests would legitimately end that session half-way through the run
(changing one's own password or role signs one out everywhere), after which every request
would answer 401 and the rest of the run would test nothing. Those cases are skipped here;
they are covered by the auth tests in crates/server/tests/auth.rs.
"""

import os

import schemathesis

SELF_ID = int(os.environ.get("MOKDAN_FUZZ_USER_ID", "0"))


@schemathesis.hook
def filter_case(ctx, case):
    op = ctx.operation
    if op.method.upper() == "PATCH" and op.path == "/api/users/{id}":
        params = case.path_parameters or {}
        try:
            return int(params.get("id")) != SELF_ID
        except (TypeError, ValueError):
            return True
    return True
