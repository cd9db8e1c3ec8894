from __future__ import annotations

from outage_voice.cli import main

raise SystemExit(main())
