"""The chaos test's parts: the plan, the processes, the operator and the killer, the invariants."""
