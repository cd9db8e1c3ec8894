"""Call flows as pure state machines: `step(state, event) -> (actions, state)`.

A flow never touches the network, the database or a clock it was not given: its actions say
what the caller hears and what the line must do (record a report, look someone up), and the
service runs those intents and feeds their results back as events. So a menu option is one
change in a flow, its prompt lines and one transcript row, and the same flow can answer any
channel that can say words and take keys.
"""
