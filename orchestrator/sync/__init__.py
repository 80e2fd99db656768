"""Nothing lost: lane moves wait in a durable sqlite queue per mission on a host (``queue``, opened by
``outbox``), leave it as ``WPStatusChanged`` envelopes (``envelopes``) only once the host acknowledged
them (``run``), and ``status`` reports what is still waiting, parked or stalled.
"""
