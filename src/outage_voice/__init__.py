"""outage-voice: IVR and voice notifications for electric utilities."""

from __future__ import annotations

__version__ = "0.1.0"
