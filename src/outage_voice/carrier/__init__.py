"""The virtual carrier: a Twilio-compatible simulator for tests, demos and load."""
