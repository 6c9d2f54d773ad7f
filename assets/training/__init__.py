"""Asset family: training modules, their tag suggestions, the customer's review and approval."""
