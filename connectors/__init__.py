"""Messaging-platform channels for the leg-cramp assistant.

Each platform module (`telegram`, `slack`, `facebook`, `whatsapp`) subclasses
Rasa's input channel, authenticates every webhook before anything else, and
sends replies through its own output channel to a configurable API base. The
shared pieces live in small modules: `output` (the output channel base),
`rendering` (markup, splitting, numbered lists), `choices` (typing a number
picks a button), `signatures` (webhook signature checks), `webhooks`
(delivery to Rasa), `recent` (duplicate deliveries), `outbound` (calls to the
platforms' APIs) and `credentials` (which channels are on).
"""
